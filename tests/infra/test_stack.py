"""Properties of the synthesized template that would break if intent changed."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from tasks.common.errors import BUSINESS_ERRORS, OutputSuperseded
from tasks.common.layout import INCOMING_PREFIX
from tests.infra.queries import as_list, of_type, output_ref, statements_of_role
from workflow.definition import TASK_FUNCTIONS, TOPIC_PLACEHOLDER, definition_text, placeholders
from workflow.deployment import OUTPUT_BUCKET, OUTPUT_STATE_MACHINE, OUTPUT_TOPIC

TRANSIENT_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "TransientError",
}


def state_machine(template: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"][output_ref(template, OUTPUT_STATE_MACHINE)]["Properties"]
    return props


def test_state_machine_is_standard_and_built_from_the_one_definition_file(template: dict[str, Any]) -> None:
    props = state_machine(template)
    assert props["StateMachineType"] == "STANDARD"
    assert props["DefinitionString"] == definition_text()
    assert set(props["DefinitionSubstitutions"]) == placeholders(definition_text())


def test_every_lambda_state_invokes_an_alias_of_a_stack_function_with_an_importable_handler(
    template: dict[str, Any],
) -> None:
    substitutions = state_machine(template)["DefinitionSubstitutions"]
    aliases = of_type(template, "AWS::Lambda::Alias")
    functions = of_type(template, "AWS::Lambda::Function")
    for task in TASK_FUNCTIONS:
        # The definition names the alias (a published, SnapStart-enabled version), never $LATEST.
        alias_ref = substitutions[task.placeholder]["Ref"]
        alias = aliases[alias_ref]["Properties"]
        function = functions[alias["FunctionName"]["Ref"]]["Properties"]
        assert function["Handler"] == task.handler
        # The handler resolves in the code asset (the tasks package) without running it.
        module_name, _, attribute = task.handler.rpartition(".")
        spec = importlib.util.find_spec(module_name)
        assert spec is not None, task.handler
        assert spec.origin is not None, task.handler
        module = ast.parse(Path(spec.origin).read_text())
        defined = {node.name for node in module.body if isinstance(node, ast.FunctionDef)} | {
            target.id
            for node in module.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        assert attribute in defined, task.handler
    assert substitutions[TOPIC_PLACEHOLDER] == {"Ref": output_ref(template, OUTPUT_TOPIC)}


def test_definition_routes_errors_by_kind() -> None:
    definition = json.loads(definition_text())
    lambda_states = {
        name: state for name, state in definition["States"].items() if state.get("Resource", "").startswith("${")
    }
    assert set(lambda_states) == {task.name for task in TASK_FUNCTIONS}
    business = {error.__name__ for error in BUSINESS_ERRORS}
    for name, state in lambda_states.items():
        # Transient errors are retried with backoff and jitter.
        (retry,) = state["Retry"]
        assert set(retry["ErrorEquals"]) == TRANSIENT_ERRORS, name
        assert retry["BackoffRate"] > 1
        assert retry["JitterStrategy"] == "FULL"
        # Only business errors are caught; a system error fails the execution at this Task. The
        # commit also catches a later run's ownership of the output (neither kind: nothing to do).
        catch, *superseded = state["Catch"]
        assert set(catch["ErrorEquals"]) == business, name
        assert "States.ALL" not in catch["ErrorEquals"]
        expected = [[OutputSuperseded.__name__]] if name == "WriteOutput" else []
        assert [catcher["ErrorEquals"] for catcher in superseded] == expected, name
    assert definition["States"]["Rejected"]["Type"] == "Fail"


def test_functions_run_python_3_12_or_newer_with_a_five_minute_timeout_and_snapstart(
    template: dict[str, Any],
) -> None:
    functions = of_type(template, "AWS::Lambda::Function")
    assert len(functions) == len(TASK_FUNCTIONS)
    for name, body in functions.items():
        props = body["Properties"]
        major, minor = (int(part) for part in props["Runtime"].removeprefix("python").split("."))
        assert (major, minor) >= (3, 12), name
        assert props["Timeout"] == 300, name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert "LoggingConfig" in props, name
        if props["Handler"] == handler_of("WriteParquet"):
            continue
        assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}, name
        assert props["EphemeralStorage"] == {"Size": 512}, name


def test_write_parquet_has_10_gb_of_tmp_and_so_no_snapstart_and_its_own_asset(template: dict[str, Any]) -> None:
    functions = {
        body["Properties"]["Handler"]: body["Properties"]
        for body in of_type(template, "AWS::Lambda::Function").values()
    }
    parquet = functions.pop(handler_of("WriteParquet"))
    # The staged JSON Lines and the Parquet file sit in /tmp together; SnapStart allows 512 MB at most.
    assert parquet["EphemeralStorage"] == {"Size": 10240}
    assert "SnapStart" not in parquet
    assert parquet["MemorySize"] == 3008
    assert parquet["Environment"]["Variables"]["DUCKDB_MEMORY_MB"] == "2048"
    # DuckDB ships in this function's asset only; the other functions share one asset without it.
    (shared,) = {props["Code"]["S3Key"] for props in functions.values()}
    assert parquet["Code"]["S3Key"] != shared


def test_bucket_is_versioned_encrypted_private_and_sends_events_to_eventbridge(template: dict[str, Any]) -> None:
    bucket = template["Resources"][output_ref(template, OUTPUT_BUCKET)]
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert props["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert bucket["DeletionPolicy"] == "Retain"
    assert of_type(template, "Custom::S3BucketNotifications") == {}, "no custom resource for notifications"


def test_s3_rule_starts_the_state_machine_for_objects_created_under_incoming(template: dict[str, Any]) -> None:
    bucket_name = output_ref(template, OUTPUT_BUCKET)
    machine_name = output_ref(template, OUTPUT_STATE_MACHINE)
    (rule,) = [
        body
        for body in of_type(template, "AWS::Events::Rule").values()
        if body["Properties"]["EventPattern"]["source"] == ["aws.s3"]
    ]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": bucket_name}]
    assert pattern["detail"]["object"]["key"] == [{"prefix": INCOMING_PREFIX}]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": machine_name}
    transformer = target["InputTransformer"]
    assert set(transformer["InputPathsMap"].values()) == {
        "$.detail.bucket.name",
        "$.detail.object.key",
        "$.detail.object.version-id",
    }
    assert '"trigger":"s3"' in transformer["InputTemplate"]


@pytest.mark.parametrize(
    ("function", "allowed_prefixes"),
    [
        ("Validate", {"incoming/*", "uploads/*"}),
        ("TransformCsv", {"incoming/*", "uploads/*", "staging/*"}),
        ("WriteParquet", {"staging/*"}),
        ("WriteOutput", {"staging/*", "processed/*"}),
        ("Notify", {"processed/*"}),
    ],
)
def test_functions_reach_only_their_own_prefixes_of_the_bucket(
    template: dict[str, Any], function: str, allowed_prefixes: set[str]
) -> None:
    functions = of_type(template, "AWS::Lambda::Function")
    (props,) = [
        body["Properties"] for body in functions.values() if body["Properties"]["Handler"] == handler_of(function)
    ]
    role = props["Role"]["Fn::GetAtt"][0]
    object_resources = set()
    for statement in statements_of_role(template, role):
        for resource in as_list(statement["Resource"]):
            if isinstance(resource, dict) and "Fn::Join" in resource:
                suffix = resource["Fn::Join"][1][-1]
                if isinstance(suffix, str) and suffix.startswith("/"):
                    object_resources.add(suffix.removeprefix("/"))
    assert object_resources == allowed_prefixes


def handler_of(name: str) -> str:
    return next(task.handler for task in TASK_FUNCTIONS if task.name == name)
