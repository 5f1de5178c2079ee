"""Permissions are evaluated, not assumed: remove one statement from the template and the local run
fails the way it would on AWS (which error, at which state, system or business failure)."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tasks.common.layout import INCOMING_PREFIX, PROCESSED_PREFIX
from tests.infra.queries import output_ref
from tests.scenarios import SOURCES, backfill_machine, failed_attempts, notification_statuses, run_upload
from workflow.deployment import LOCAL_ACCOUNT, OUTPUT_STATE_MACHINE, STACK_NAME
from workflow.executions import FAILED
from workflow.local.environment import Execution, LocalPipeline
from workflow.local.iam.template_policies import load_policies
from workflow.local.ledger_resources import BACKFILL_NAME_SUFFIX
from workflow.local.template import load_stack
from workflow.ops.backfill import BackfillRequest, progress, start_backfill

Template = dict[str, Any]
Statement = dict[str, Any]


def function_id(template: Template, handler_module: str) -> str:
    (logical_id,) = [
        logical_id
        for logical_id, body in template["Resources"].items()
        if body["Type"] == "AWS::Lambda::Function" and body["Properties"]["Handler"].startswith(handler_module)
    ]
    return logical_id


def role_of(template: Template, logical_id: str, attribute: str) -> str:
    """The logical id of the role ``attribute`` of resource ``logical_id`` names (``Fn::GetAtt``)."""
    role: str = template["Resources"][logical_id]["Properties"][attribute]["Fn::GetAtt"][0]
    return role


def pipeline_role(template: Template) -> str:
    """The logical id of the pipeline state machine's role."""
    return role_of(template, output_ref(template, OUTPUT_STATE_MACHINE), "RoleArn")


def statements_of_role(template: Template, role: str) -> Iterator[tuple[str, Statement]]:
    """(policy logical id, statement) of every policy attached to ``role``."""
    for logical_id, body in template["Resources"].items():
        if body["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and {"Ref": role} in body["Properties"].get(
            "Roles", []
        ):
            for statement in body["Properties"]["PolicyDocument"]["Statement"]:
                yield logical_id, statement


def actions(statement: Statement) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


@contextmanager
def running_without(
    template: Template, tmp_path: Path, role: str, removed: Callable[[Statement], bool]
) -> Iterator[LocalPipeline]:
    """The local environment of ``template`` with exactly one statement of ``role`` removed."""
    edited = copy.deepcopy(template)
    matches = [statement for _, statement in statements_of_role(edited, role) if removed(statement)]
    assert len(matches) == 1, f"expected one statement to remove, found {matches}"
    for _, body in edited["Resources"].items():
        document = body.get("Properties", {}).get("PolicyDocument", {})
        if matches[0] in document.get("Statement", []):
            document["Statement"].remove(matches[0])
    path = tmp_path / "template.json"
    path.write_text(json.dumps(edited))
    with LocalPipeline(load_stack(path, STACK_NAME), log_stream=io.StringIO()) as pipeline:
        yield pipeline


def test_without_write_output_s_put_object_on_processed_the_run_fails_at_write_output(
    template: Template, tmp_path: Path
) -> None:
    # Given WriteOutput's role without its s3:PutObject on processed/
    role = role_of(template, function_id(template, "tasks.write_output."), "Role")

    def put_processed(statement: Statement) -> bool:
        return "s3:PutObject" in actions(statement) and "/processed/*" in json.dumps(statement["Resource"])

    with running_without(template, tmp_path, role, put_processed) as pipeline:
        # When a file runs
        execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])

        # Then S3 refused WriteOutput's copy, as AWS refuses it, and nothing was committed
        assert (execution.status, execution.error) == ("FAILED", "AccessDenied")
        assert "is not authorized to perform: s3:PutObject on resource" in str(execution.cause)
        assert pipeline.object_keys(PROCESSED_PREFIX) == []
        # And it is a system failure at WriteOutput: not retried, not caught as a rejection,
        # announced by the status-change rule, redrivable once the permission is back
        last = pipeline.visits(execution.arn)[-1]
        assert (last.name, last.status, last.attempts) == ("WriteOutput", FAILED, 1)
        assert notification_statuses(pipeline) == ["FAILED"]
        (denial, *_) = pipeline.access.denials
        assert (denial.action, denial.code) == ("s3:PutObject", "AccessDenied")
        assert denial.principal.startswith(f"arn:aws:sts::{LOCAL_ACCOUNT}:assumed-role/{role}/")
        assert denial.resource.startswith(f"arn:aws:s3:::{pipeline.stack.bucket_name}/{PROCESSED_PREFIX}")
        pipeline.access.policies = load_policies(template)
        pipeline.redrive(execution.arn)
        assert pipeline.wait(execution.arn, timeout=30).status == "SUCCEEDED"


def listing(prefix: str) -> Callable[[Statement], bool]:
    """The s3:ListBucket statement of a role that lists under ``prefix``."""

    def matches(statement: Statement) -> bool:
        allowed = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
        return actions(statement) == ["s3:ListBucket"] and allowed in (f"{prefix}*", [f"{prefix}*"])

    return matches


def test_without_write_output_s_listing_of_processed_its_read_of_the_absent_manifest_is_refused(
    template: Template, tmp_path: Path
) -> None:
    # Given WriteOutput's role without its s3:ListBucket under processed/ (it keeps s3:GetObject there)
    role = role_of(template, function_id(template, "tasks.write_output."), "Role")

    with running_without(template, tmp_path, role, listing(PROCESSED_PREFIX)) as pipeline:
        # When a file runs: WriteOutput first reads the output's manifest, which does not exist yet
        execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])

        # Then S3 answered 403, not 404: without listing, a caller may not learn a key is absent;
        # and WriteOutput's listing under the manifest's key, to tell, was refused too
        assert (execution.status, execution.error) == ("FAILED", "AccessDenied")
        last = pipeline.visits(execution.arn)[-1]
        assert (last.name, last.status) == ("WriteOutput", FAILED)
        assert pipeline.object_keys(PROCESSED_PREFIX) == []
        assert [(denial.operation, denial.action, denial.code) for denial in pipeline.access.denials] == [
            ("GetObject", "s3:ListBucket", "AccessDenied"),
            ("ListObjectsV2", "s3:ListBucket", "AccessDenied"),
        ]
        assert {denial.resource for denial in pipeline.access.denials} == {f"arn:aws:s3:::{pipeline.stack.bucket_name}"}


def start_for_absent_key(pipeline: LocalPipeline) -> Execution:
    """A run started for a key under incoming/ that does not exist, to its end."""
    request = {"bucket": pipeline.stack.bucket_name, "key": INCOMING_PREFIX + "gone.csv", "trigger": "api"}
    sfn = pipeline.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=pipeline.stack.state_machine_arn, input=json.dumps(request))
    return pipeline.wait(arn["executionArn"], timeout=30)


def test_with_its_listing_validate_learns_that_a_source_is_absent(pipeline: LocalPipeline) -> None:
    # When a run names a key that does not exist, Validate's HEAD gets S3's 404: a rejection
    execution = start_for_absent_key(pipeline)
    assert execution.error == "ObjectNotFound"
    assert pipeline.access.denials == []


def test_without_its_listing_validate_cannot_tell_an_absent_source_from_a_forbidden_one(
    template: Template, tmp_path: Path
) -> None:
    # Given Validate's role without its s3:ListBucket under incoming/ (it keeps s3:GetObject there)
    role = role_of(template, function_id(template, "tasks.validate."), "Role")

    with running_without(template, tmp_path, role, listing(INCOMING_PREFIX)) as pipeline:
        # When a run names a key that does not exist
        execution = start_for_absent_key(pipeline)

        # Then Validate's HEAD got 403 and its listing under the key, to tell, was refused too: a
        # system failure at Validate, not a rejection
        assert (execution.status, execution.error) == ("FAILED", "AccessDenied")
        assert "ListObjectsV2" in str(execution.cause)
        assert pipeline.visits(execution.arn)[-1].name == "Validate"
        assert [(denial.operation, denial.action) for denial in pipeline.access.denials] == [
            ("HeadObject", "s3:ListBucket"),
            ("ListObjectsV2", "s3:ListBucket"),
        ]


def test_if_s3_judged_a_prefix_limited_listing_not_to_reveal_absences_a_first_run_still_commits(
    pipeline: LocalPipeline,
) -> None:
    # Given S3 judging whether a read may learn of an absence with no s3:prefix, so that the
    # roles' listings, each limited to a prefix, never count (AWS does not document which)
    pipeline.access.key_is_listing_prefix = False

    # When a file runs: WriteOutput's read of the absent manifest is refused
    execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])

    # Then WriteOutput told the absence by listing under the manifest's key, and committed
    assert execution.status == "SUCCEEDED"
    assert [(denial.operation, denial.action) for denial in pipeline.access.denials] == [("GetObject", "s3:ListBucket")]
    assert any(key.endswith("/manifest.json") for key in pipeline.object_keys(PROCESSED_PREFIX))


def test_if_s3_judged_a_prefix_limited_listing_not_to_reveal_absences_an_absent_source_is_still_rejected(
    pipeline: LocalPipeline,
) -> None:
    # Given S3 judging as above
    pipeline.access.key_is_listing_prefix = False

    # When a run names a key that does not exist: Validate's HEAD is refused
    execution = start_for_absent_key(pipeline)

    # Then Validate told the absence by listing under the key: a rejection, as with a 404
    assert execution.error == "ObjectNotFound"
    assert [(denial.operation, denial.action) for denial in pipeline.access.denials] == [
        ("HeadObject", "s3:ListBucket")
    ]


def test_a_denied_call_stays_denied_when_a_fault_is_also_injected(template: Template, tmp_path: Path) -> None:
    # Given WriteOutput without s3:PutObject on processed/, and a throttling injected on that call
    role = role_of(template, function_id(template, "tasks.write_output."), "Role")

    def put_processed(statement: Statement) -> bool:
        return "s3:PutObject" in actions(statement) and "/processed/*" in json.dumps(statement["Resource"])

    with running_without(template, tmp_path, role, put_processed) as pipeline:
        function = pipeline.function_for_state("WriteOutput")
        pipeline.sdk_faults.service_error(function, "s3", "CopyObject", code="SlowDown", times=5)

        # When a file runs
        execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])

    # Then authorization answered first, as on AWS: AccessDenied, and the fault was never reached
    assert (execution.status, execution.error) == ("FAILED", "AccessDenied")
    assert pipeline.sdk_faults.injected == []


def test_without_the_state_machine_s_invoke_of_one_alias_that_task_fails_after_its_retries(
    template: Template, tmp_path: Path
) -> None:
    # Given the state machine's role without lambda:InvokeFunction on TransformCsv's alias
    role = pipeline_role(template)
    edited = copy.deepcopy(template)
    csv_alias = next(
        logical_id
        for logical_id, body in template["Resources"].items()
        if body["Type"] == "AWS::Lambda::Alias"
        and body["Properties"]["FunctionName"]["Ref"] == function_id(template, "tasks.transform.handler.csv")
    )
    for _, statement in statements_of_role(edited, role):
        if "lambda:InvokeFunction" in actions(statement):
            statement["Resource"].remove({"Ref": csv_alias})
    path = tmp_path / "template.json"
    path.write_text(json.dumps(edited))

    with LocalPipeline(load_stack(path, STACK_NAME), log_stream=io.StringIO()) as pipeline:
        # When a CSV runs
        execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])

        # Then the states before it ran, and TransformCsv's invoke was refused as Step Functions
        # reports it (the Java SDK's generic Lambda error), retried by its retrier, then failed there
        names = [visit.name for visit in pipeline.visits(execution.arn)]
        assert names == ["Validate", "RecordStart", "HasDataset", "Fetch", "RouteByFormat", "TransformCsv"]
        assert (execution.status, execution.error) == ("FAILED", "Lambda.AWSLambdaException")
        assert failed_attempts(pipeline, execution.arn) == ["Lambda.AWSLambdaException"] * 5
        cause = str(execution.cause)
        assert f"assumed-role/{role}/" in cause
        assert "is not authorized to perform: lambda:InvokeFunction on resource:" in cause
        assert "(Service: AWSLambda; Status Code: 403; Error Code: AccessDeniedException;" in cause
        # And the function itself never ran
        invoked = {invocation.function for invocation in pipeline.lambdas.invocations}
        assert pipeline.function_for_state("TransformCsv") not in invoked


def test_without_the_state_machine_s_publish_a_rejection_fails_at_notify_rejected(
    template: Template, tmp_path: Path
) -> None:
    # Given the state machine's role without its sns:Publish of rejections
    role = pipeline_role(template)

    with running_without(template, tmp_path, role, lambda statement: actions(statement) == ["sns:Publish"]) as pipeline:
        # When a file the pipeline rejects runs
        execution = run_upload(pipeline, "notes.txt", b"just text\n")

        # Then the rejection could not be published: SNS's authorization error, as Step Functions names it
        assert (execution.status, execution.error) == ("FAILED", "SNS.AuthorizationErrorException")
        assert pipeline.visits(execution.arn)[-1].name == "NotifyRejected"


def test_without_notify_s_use_of_the_topic_key_its_publish_fails_with_kms_s_error(
    template: Template, tmp_path: Path
) -> None:
    # Given Notify's role without kms:GenerateDataKey on the topic's key
    role = role_of(template, function_id(template, "tasks.notify."), "Role")

    def data_key(statement: Statement) -> bool:
        return any(action.startswith("kms:GenerateDataKey") for action in actions(statement))

    with running_without(template, tmp_path, role, data_key) as pipeline:
        # When a file runs
        execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])

        # Then SNS could not get a data key for Notify: the error is KMS's, through SNS, at Notify
        assert (execution.status, execution.error) == ("FAILED", "KMSAccessDeniedException")
        assert pipeline.visits(execution.arn)[-1].name == "Notify"
        assert any(denial.action.startswith("kms:GenerateDataKey") for denial in pipeline.access.denials)


def test_without_the_trigger_role_s_start_execution_an_upload_is_dead_lettered(
    template: Template, tmp_path: Path
) -> None:
    # Given the S3 trigger rule's role without states:StartExecution
    rule, target = next(
        (logical_id, target)
        for logical_id, body in template["Resources"].items()
        if body["Type"] == "AWS::Events::Rule"
        for target in body["Properties"]["Targets"]
        if "RoleArn" in target
    )
    role = target["RoleArn"]["Fn::GetAtt"][0]

    with running_without(
        template, tmp_path, role, lambda statement: "states:StartExecution" in actions(statement)
    ) as pipeline:
        # When a file is uploaded
        pipeline.upload(INCOMING_PREFIX + "people.csv", SOURCES["people.csv"])

        # Then no execution started: the delivery failed for permissions, without retries
        assert pipeline.started == []
        (failed,) = pipeline.failed_deliveries
        assert (failed.rule_arn.rsplit("/", 1)[1], failed.error_code) == (rule, "NO_PERMISSIONS")
        assert failed.target_arn == pipeline.stack.state_machine_arn
        # And the event went to the target's dead-letter queue, with EventBridge's attributes
        dead_letter = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        sqs = pipeline.client("sqs")
        url = sqs.get_queue_url(QueueName=dead_letter)["QueueUrl"]
        (message,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
        attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
        assert attributes["ERROR_CODE"] == "NO_PERMISSIONS"
        assert attributes["TARGET_ARN"] == pipeline.stack.state_machine_arn
        assert json.loads(message["Body"])["detail"]["object"]["key"] == INCOMING_PREFIX + "people.csv"


def test_a_key_no_live_sandbox_holds_is_refused_as_aws_refuses_an_unknown_key(pipeline: LocalPipeline) -> None:
    # Given a client of the sandboxes' endpoint with a key that no sandbox holds
    s3 = boto3.client(
        "s3",
        endpoint_url=pipeline.sandboxes.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="ASIANOSUCHSANDBOX",
        aws_secret_access_key="x",
    )

    # When it reads an object
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=pipeline.stack.bucket_name, Key="incoming/x")

    # Then it is refused: there is no caller without an identity
    assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_without_the_state_machine_s_read_of_the_map_items_a_split_run_fails_at_its_first_map(
    template: Template, tmp_path: Path
) -> None:
    # Given the state machine's role without s3:GetObject on the split's item files
    role = pipeline_role(template)

    def read_items(statement: Statement) -> bool:
        return actions(statement) == ["s3:GetObject"] and "/split/" in json.dumps(statement["Resource"])

    with running_without(template, tmp_path, role, read_items) as pipeline:
        for state in ("Fetch", "PlanRanges"):
            pipeline.lambdas.set_environment(
                pipeline.function_for_state(state), {"SPLIT_THRESHOLD_BYTES": "10", "RANGE_BYTES": "20"}
            )
        # When a file above the split threshold runs
        execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])

        # Then the Map's item reader was refused as the state machine's role, the run failed at
        # ScanRanges with States.ItemReaderFailed (a system failure, redrivable once the permission is back)
        assert (execution.status, execution.error) == (FAILED, "States.ItemReaderFailed")
        last = pipeline.visits(execution.arn)[-1]
        assert (last.name, last.status) == ("ScanRanges", FAILED)
        (denial, *_) = pipeline.access.denials
        assert (denial.action, denial.code) == ("s3:GetObject", "AccessDenied")
        assert denial.resource.endswith("/split/scan-ranges.json")
        assert f"assumed-role/{role}/" in denial.principal
        pipeline.access.policies = load_policies(template)
        pipeline.redrive(execution.arn)
        assert pipeline.wait(execution.arn, timeout=60).status == "SUCCEEDED"


def backfill_role(template: Template) -> str:
    """The logical id of the backfill state machine's role."""
    (backfill,) = [
        logical_id
        for logical_id, body in template["Resources"].items()
        if body["Type"] == "AWS::StepFunctions::StateMachine"
        and str(body["Properties"].get("StateMachineName", "")).endswith(BACKFILL_NAME_SUFFIX)
    ]
    return role_of(template, backfill, "RoleArn")


def test_without_the_backfill_role_s_listing_a_backfill_fails_at_its_map(template: Template, tmp_path: Path) -> None:
    # Given the backfill state machine's role without its listing of the sources
    role = backfill_role(template)

    with running_without(template, tmp_path, role, lambda statement: statement.get("Sid") == "ListSources") as pipeline:
        # When a prefix is backfilled
        arn = start_backfill(
            pipeline.client("stepfunctions"), backfill_machine(pipeline), BackfillRequest(prefix=INCOMING_PREFIX)
        )
        execution = pipeline.wait(arn, timeout=60)

        # Then the backfill fails at its Map's item reader, its listing refused as the backfill's
        # role, not the pipeline's
        assert (execution.status, execution.error) == ("FAILED", "States.ItemReaderFailed")
        (denial,) = [denial for denial in pipeline.access.denials if denial.operation == "ListObjectsV2"]
        assert f"assumed-role/{role}/" in denial.principal


def test_without_the_backfill_role_s_writing_of_results_a_backfill_fails_at_its_map_s_result_writer(
    template: Template, tmp_path: Path
) -> None:
    # Given the backfill state machine's role without its s3:PutObject of the Map's results
    role = backfill_role(template)

    def write_results(statement: Statement) -> bool:
        return statement.get("Sid") == "WriteTheResults"

    with running_without(template, tmp_path, role, write_results) as pipeline:
        # When a prefix holding one source is backfilled
        pipeline.upload(INCOMING_PREFIX + "people.csv", SOURCES["people.csv"])
        pipeline.wait(pipeline.started[0], timeout=30)
        arn = start_backfill(
            pipeline.client("stepfunctions"), backfill_machine(pipeline), BackfillRequest(prefix=INCOMING_PREFIX)
        )
        execution = pipeline.wait(arn, timeout=60)

        # Then the backfill fails at its Map's result writer, S3 refusing the backfill's role
        assert (execution.status, execution.error) == ("FAILED", "States.ResultWriterFailed")
        assert [denial.action for denial in pipeline.access.denials if f"assumed-role/{role}/" in denial.principal] == [
            "s3:PutObject"
        ]


def test_without_the_backfill_role_s_reading_of_the_sources_each_object_fails_as_refused_not_gone(
    template: Template, tmp_path: Path
) -> None:
    # Given the backfill state machine's role without its s3:GetObject of the sources (HeadObject)
    role = backfill_role(template)

    def find_versions(statement: Statement) -> bool:
        return statement.get("Sid") == "FindTheVersions"

    with running_without(template, tmp_path, role, find_versions) as pipeline:
        # When a prefix holding one source is backfilled with no tolerance for failures
        pipeline.upload(INCOMING_PREFIX + "people.csv", SOURCES["people.csv"])
        pipeline.wait(pipeline.started[0], timeout=30)
        request = BackfillRequest(prefix=INCOMING_PREFIX, tolerated_percent=0)
        arn = start_backfill(pipeline.client("stepfunctions"), backfill_machine(pipeline), request)
        execution = pipeline.wait(arn, timeout=60)

        # Then the read is refused (the HeadObject and its 3 retries), the listing under the key
        # finds the object there, the read is refused again (4 more) at FindVersionAgain, and the
        # item fails there as a system failure: the backfill fails on its tolerance, nothing gone
        assert (execution.status, execution.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")
        refused = [denial for denial in pipeline.access.denials if f"assumed-role/{role}/" in denial.principal]
        assert [(denial.operation, denial.action) for denial in refused] == [("HeadObject", "s3:GetObject")] * 8
        sfn = pipeline.client("stepfunctions")
        found = progress(sfn, pipeline.client("dynamodb"), pipeline.stack.tables[0].name, arn)
        assert (found.count("gone"), found.items["failed"]) == (0, 1)
