"""The ledger's resources in the synthesized template, and its states in the definitions."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tasks.common.errors import BUSINESS_ERROR_NAMES
from tests.infra.queries import as_list, of_type, only, output_ref, statements_of_role
from workflow.definition import (
    BACKFILL_PATH,
    BUCKET_PLACEHOLDER,
    FAILURE_RECORDER_PATH,
    PIPELINE_PLACEHOLDER,
    definition_text,
)
from workflow.deployment import (
    OUTPUT_BACKFILL_STATE_MACHINE,
    OUTPUT_BUCKET,
    OUTPUT_LEDGER_OPERATOR_ROLE,
    OUTPUT_LEDGER_TABLE,
    OUTPUT_STATE_MACHINE,
)
from workflow.executions import ABORTED, FAILED, STATUS_CHANGE, TIMED_OUT
from workflow.ledger import (
    BY_RUN,
    BY_SUCCEEDED,
    CODE_VERSION_PLACEHOLDER,
    GLOBAL_INDEXES,
    KEY_REFUSED,
    KEYS_ONLY_INDEXES,
    LOCAL_INDEXES,
    OWNED_ELSEWHERE,
    PARTITION_KEY,
    SORT_KEY,
    TABLE_PLACEHOLDER,
    TRANSIENT_ERRORS,
    TRANSIENT_SDK_ERRORS,
)

REQUEST_RECORD = "RecordRequestRejected"
REQUEST_BY_DIGEST = "RecordRequestRejectedByDigest"
REQUEST_AGAIN = "RecordRequestRejectedAgain"
KEY_TOO_LONG = "KeyTooLongForLedger"
DYNAMODB_TASKS = ("arn:aws:states:::dynamodb:", "arn:aws:states:::aws-sdk:dynamodb:")


def ledger_table(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    logical_id = output_ref(template, OUTPUT_LEDGER_TABLE)
    return logical_id, template["Resources"][logical_id]


def table_arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def test_the_ledger_table_is_on_demand_recoverable_protected_encrypted_and_kept(template: dict[str, Any]) -> None:
    _, table = ledger_table(template)
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["DeletionProtectionEnabled"] is True
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    # Encrypted at rest with the key DynamoDB owns (SSEEnabled false means that key, not no encryption)
    assert props["SSESpecification"] == {"SSEEnabled": False}


def test_the_ledger_table_has_the_keys_and_indexes_the_contract_names(template: dict[str, Any]) -> None:
    _, table = ledger_table(template)
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
    ]
    global_indexes = {index["IndexName"]: index for index in props["GlobalSecondaryIndexes"]}
    assert set(global_indexes) == set(GLOBAL_INDEXES)
    for name, (partition, sort) in GLOBAL_INDEXES.items():
        keys = [key["AttributeName"] for key in global_indexes[name]["KeySchema"]]
        assert keys == [partition, *([sort] if sort else [])], name
        projection = "KEYS_ONLY" if name in KEYS_ONLY_INDEXES else "ALL"
        assert global_indexes[name]["Projection"] == {"ProjectionType": projection}, name
    local_indexes = {index["IndexName"]: index for index in props["LocalSecondaryIndexes"]}
    assert {name: [key["AttributeName"] for key in index["KeySchema"]] for name, index in local_indexes.items()} == {
        name: [PARTITION_KEY, sort] for name, sort in LOCAL_INDEXES.items()
    }


def ledger_states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: state
        for name, state in definition["States"].items()
        if state.get("Resource", "").startswith(DYNAMODB_TASKS)
    }


@pytest.mark.parametrize("path", ["pipeline", "failure recorder", "backfill"])
def test_every_ledger_write_retries_dynamodb_s_transient_errors_and_catches_only_ownership(path: str) -> None:
    # Given the ledger tasks of the definition (the backfill's are in its Map's children)
    text = {"pipeline": definition_text(), "failure recorder": definition_text(FAILURE_RECORDER_PATH)}.get(path)
    definition = (
        json.loads(text) if text else json.loads(definition_text(BACKFILL_PATH))["States"]["Objects"]["ItemProcessor"]
    )
    states = ledger_states(definition)
    assert states, "the definition writes the ledger"
    for name, state in states.items():
        # Then each retries throttling and server errors with backoff and jitter
        # (as Step Functions names them: the aws-sdk integration by the Java SDK 2.x's classes)
        (retry,) = state["Retry"]
        expected = TRANSIENT_SDK_ERRORS if ":aws-sdk:" in state["Resource"] else TRANSIENT_ERRORS
        assert tuple(retry["ErrorEquals"]) == expected, name
        assert retry["BackoffRate"] > 1, name
        assert retry["JitterStrategy"] == "FULL", name
        # And catches, if anything, a failed condition (another run owns the source version):
        # neither a business error (the input is fine) nor a system error (nothing to redrive).
        # A refused request's record also catches DynamoDB refusing its key, to write it again
        # under the key's digest (the next test)
        for catcher in state.get("Catch", []):
            if catcher["Next"] == KEY_TOO_LONG:
                assert (name, catcher["ErrorEquals"]) == (REQUEST_RECORD, [KEY_REFUSED])
                continue
            assert catcher["ErrorEquals"] == [OWNED_ELSEWHERE], name
            assert not set(catcher["ErrorEquals"]) & set(BUSINESS_ERROR_NAMES)
        assert state["Parameters"]["TableName"] == "${" + TABLE_PLACEHOLDER + "}", name


def test_a_refused_request_s_record_is_written_again_under_its_digest_or_else_once_more_uncaught() -> None:
    # Given the refused request's record, and the two writes that follow when DynamoDB refuses it
    states = json.loads(definition_text())["States"]
    plain, by_digest, again = states[REQUEST_RECORD], states[REQUEST_BY_DIGEST], states[REQUEST_AGAIN]

    # Then the one by digest writes what the first does, under '<bucket>/sha256:<digest of the key>'
    # (workflow/ledger.py request_source_id), the other under the same key
    assert by_digest["Parameters"]["Key"] == {
        PARTITION_KEY: {"S.$": "States.Format('{}/sha256:{}', $.bucket, States.Hash($.key, 'SHA-256'))"},
        SORT_KEY: plain["Parameters"]["Key"][SORT_KEY],
    }
    assert plain["Parameters"]["Key"][PARTITION_KEY] == {"S.$": "States.Format('{}/{}', $.bucket, $.key)"}
    assert again["Parameters"] == plain["Parameters"]
    unkeyed = {name: value for name, value in plain["Parameters"].items() if name != "Key"}
    assert {name: value for name, value in by_digest["Parameters"].items() if name != "Key"} == unkeyed
    # And both go on as the first does, and catch what it catches but DynamoDB's refusal: a
    # refusal that persists fails the run at a Task, which a redrive runs again
    for follower in (by_digest, again):
        assert (follower["Resource"], follower["Retry"], follower["Next"], follower["ResultPath"]) == (
            plain["Resource"],
            plain["Retry"],
            plain["Next"],
            plain["ResultPath"],
        )
        assert follower["Catch"] == [catcher for catcher in plain["Catch"] if catcher["Next"] != KEY_TOO_LONG]
    # And the first's refusal goes by digest only when DynamoDB's cause is the partition key's size
    # (DynamoDB.AmazonDynamoDBException names every error its API does not model)
    (refused,) = [catcher for catcher in plain["Catch"] if catcher["Next"] == KEY_TOO_LONG]
    assert refused["ResultPath"] == "$.ledger"
    choice = states[KEY_TOO_LONG]
    assert choice["Choices"] == [
        {"Variable": "$.ledger.Cause", "StringMatches": "*Size of hashkey has exceeded*", "Next": REQUEST_BY_DIGEST}
    ]
    assert choice["Default"] == REQUEST_AGAIN


def test_an_owned_elsewhere_outcome_ends_the_run_without_effect_or_at_the_rejection() -> None:
    # Given where each ledger task's caught condition failure leads
    definition = json.loads(definition_text())
    states = definition["States"]
    destinations = {
        name: catcher["Next"]
        for name, state in ledger_states(definition).items()
        for catcher in state.get("Catch", [])
        if catcher["ErrorEquals"] == [OWNED_ELSEWHERE]
    }

    # Then a lost start or end leads, after recording it, to a Succeed state (the run changes
    # nothing), and a lost rejection to the Rejected state without announcing it
    for name, destination in destinations.items():
        if name in {"RecordRejected", REQUEST_RECORD, REQUEST_BY_DIGEST, REQUEST_AGAIN}:
            assert destination == "Rejected", name
        else:
            assert states[states[destination]["Next"]]["Type"] == "Succeed", name


def test_the_pipeline_records_to_the_ledger_table_and_names_its_code_version(template: dict[str, Any]) -> None:
    machine = template["Resources"][output_ref(template, OUTPUT_STATE_MACHINE)]["Properties"]
    table_id, _ = ledger_table(template)
    substitutions = machine["DefinitionSubstitutions"]
    assert substitutions[TABLE_PLACEHOLDER] == {"Ref": table_id}
    # A version fixed at synth from the functions' code assets
    assert re.fullmatch(r"[0-9a-f]{16}", substitutions[CODE_VERSION_PLACEHOLDER])
    # And its role may update the table's items and query the index of succeeded versions, no other
    # DynamoDB action, on no other resource
    role = machine["RoleArn"]["Fn::GetAtt"][0]
    dynamodb = [
        statement
        for statement in statements_of_role(template, role)
        if any(action.startswith("dynamodb:") for action in as_list(statement["Action"]))
    ]
    assert [(statement["Action"], statement["Resource"]) for statement in dynamodb] == [
        ("dynamodb:UpdateItem", table_arn(table_id)),
        ("dynamodb:Query", {"Fn::Join": ["", [table_arn(table_id), f"/index/{BY_SUCCEEDED}"]]}),
    ]


def test_failed_runs_are_recorded_by_an_express_workflow_the_status_change_rule_starts(
    template: dict[str, Any],
) -> None:
    # Given the failure recorder (the one Express state machine) and the pipeline
    table_id, _ = ledger_table(template)
    pipeline = output_ref(template, OUTPUT_STATE_MACHINE)
    (recorder_id,) = [
        name
        for name, body in of_type(template, "AWS::StepFunctions::StateMachine").items()
        if body["Properties"].get("StateMachineType") == "EXPRESS"
    ]
    recorder = template["Resources"][recorder_id]["Properties"]
    assert recorder["DefinitionString"] == definition_text(FAILURE_RECORDER_PATH)
    assert recorder["LoggingConfiguration"]["Level"] == "ALL"
    # Then a rule on the pipeline's FAILED, TIMED_OUT and ABORTED ends starts it, with a DLQ
    (rule,) = [
        body["Properties"]
        for body in of_type(template, "AWS::Events::Rule").values()
        if any(target["Arn"] == {"Ref": recorder_id} for target in body["Properties"]["Targets"])
    ]
    assert rule["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": [STATUS_CHANGE],
        "detail": {"status": [FAILED, TIMED_OUT, ABORTED], "stateMachineArn": [{"Ref": pipeline}]},
    }
    (target,) = rule["Targets"]
    assert "DeadLetterConfig" in target
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    # And the recorder may query the byRun index and update items, nothing else of DynamoDB
    role = recorder["RoleArn"]["Fn::GetAtt"][0]
    dynamodb = sorted(
        (statement["Action"], json.dumps(statement["Resource"], sort_keys=True))
        for statement in statements_of_role(template, role)
        if any(action.startswith("dynamodb:") for action in as_list(statement["Action"]))
    )
    index = {"Fn::Join": ["", [table_arn(table_id), f"/index/{BY_RUN}"]]}
    assert dynamodb == sorted(
        [
            ("dynamodb:Query", json.dumps(index, sort_keys=True)),
            ("dynamodb:UpdateItem", json.dumps(table_arn(table_id), sort_keys=True)),
        ]
    )


def test_the_vpc_has_no_route_to_dynamodb_since_no_function_calls_it(template: dict[str, Any]) -> None:
    # Given the functions' roles (the only principals inside the VPC)
    function_roles = {
        body["Properties"]["Role"]["Fn::GetAtt"][0] for body in of_type(template, "AWS::Lambda::Function").values()
    }

    # Then none may call DynamoDB (the ledger is written by the state machines, outside the VPC)
    for role in function_roles:
        for statement in statements_of_role(template, role):
            assert not any(action.startswith("dynamodb:") for action in as_list(statement["Action"])), role
    # And the VPC has no endpoint to it: an endpoint nothing uses is only more surface
    assert not [
        body
        for body in of_type(template, "AWS::EC2::VPCEndpoint").values()
        if "dynamodb" in json.dumps(body["Properties"]["ServiceName"])
    ]
    only(template, "AWS::DynamoDB::Table")


def backfill(template: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"][output_ref(template, OUTPUT_BACKFILL_STATE_MACHINE)]["Properties"]
    return props


def test_the_backfill_is_a_standard_distributed_map_over_the_bucket_s_listing(template: dict[str, Any]) -> None:
    props = backfill(template)
    assert props["StateMachineType"] == "STANDARD"
    assert props["DefinitionString"] == definition_text(BACKFILL_PATH)
    assert props["DefinitionSubstitutions"] == {
        BUCKET_PLACEHOLDER: {"Ref": output_ref(template, OUTPUT_BUCKET)},
        TABLE_PLACEHOLDER: {"Ref": ledger_table(template)[0]},
        PIPELINE_PLACEHOLDER: {"Ref": output_ref(template, OUTPUT_STATE_MACHINE)},
    }
    objects = json.loads(definition_text(BACKFILL_PATH))["States"]["Objects"]
    assert objects["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert objects["ItemReader"]["Resource"] == "arn:aws:states:::s3:listObjectsV2"
    # Bounded: how many runs in flight, and what share of failed children fails the backfill
    assert (objects["MaxConcurrencyPath"], objects["ToleratedFailurePercentagePath"]) == (
        "$.concurrency",
        "$.toleratedFailurePercentage",
    )
    # The results go to S3, so the Map's output never meets the 256 KiB payload limit
    assert objects["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"


def test_a_backfill_child_tells_a_rejected_run_from_a_failed_one_by_the_business_errors() -> None:
    # Given the backfill child's choice after a pipeline run that did not succeed
    child = json.loads(definition_text(BACKFILL_PATH))["States"]["Objects"]["ItemProcessor"]["States"]
    (rule,) = child["WhyEnded"]["Choices"]
    _, names = rule["And"]

    # Then a rejection is exactly one of the business errors of tasks/common/errors.py, and anything
    # else fails the child (and counts against the tolerance)
    assert {condition["StringEquals"] for condition in names["Or"]} == set(BUSINESS_ERROR_NAMES)
    assert rule["Next"] == "CountRejected"
    assert child[child["WhyEnded"]["Default"]]["Next"] == "RunFailed"
    assert child["RunFailed"]["Type"] == "Fail"
    # And a run is named after the version it is for, so no backfill starts it twice
    name = child["RunPipeline"]["Parameters"]["Name.$"]
    assert "States.Hash" in name
    assert "$.object.versionId" in name


def test_the_backfill_role_lists_and_reads_sources_and_starts_pipeline_runs_only(template: dict[str, Any]) -> None:
    role = backfill(template)["RoleArn"]["Fn::GetAtt"][0]
    statements = {statement["Sid"]: statement for statement in statements_of_role(template, role)}
    assert statements["ListSources"]["Condition"] == {"StringLike": {"s3:prefix": ["incoming/*"]}}
    assert statements["StartPipelineRuns"]["Resource"] == {"Ref": output_ref(template, OUTPUT_STATE_MACHINE)}
    writes = {
        action
        for statement in statements.values()
        for action in as_list(statement["Action"])
        if action.startswith(("s3:Put", "dynamodb:"))
    }
    assert writes == {"s3:PutObject", "dynamodb:GetItem", "dynamodb:UpdateItem"}
    # Its Map Run's children are its own: it follows and redrives them (a redriven backfill redrives them)
    assert statements["RedriveChildren"]["Action"] == "states:RedriveExecution"
    assert statements["RedriveChildren"]["Resource"] == statements["FollowChildren"]["Resource"]


def test_only_the_ledger_operator_role_may_start_runs_besides_the_triggers(template: dict[str, Any]) -> None:
    role = template["Outputs"][OUTPUT_LEDGER_OPERATOR_ROLE]["Value"]["Fn::GetAtt"][0]
    starts = [
        statement["Resource"]
        for statement in statements_of_role(template, role)
        if "states:StartExecution" in as_list(statement["Action"])
    ]
    assert starts == [
        [
            {"Ref": output_ref(template, OUTPUT_STATE_MACHINE)},
            {"Ref": output_ref(template, OUTPUT_BACKFILL_STATE_MACHINE)},
        ]
    ]
