"""Each reliance of the local runtime on moto internals, tested on its own.

If a moto upgrade moves one of these, the test that names it fails before any scenario does.
"""

from __future__ import annotations

import inspect
import io
import json
import re
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler as DynamoDBResponse
from moto.events.models import Rule
from moto.s3.responses import S3Response
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3 import (
    ResourceEvalS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.map_run_record import (
    MapRunRecord,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.responses import StepFunctionResponse, get_backend

from workflow.local.conditional_writes import DYNAMODB_WRITES, S3_CONDITIONS
from workflow.local.environment import MOTO_CONFIG, LocalPipeline
from workflow.local.interpreter_cache import CLIENT_USERS, PATH_PARSERS
from workflow.local.template import StackModel

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_moto_is_the_exact_version_pinned_in_pyproject() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (pin,) = [dependency for dependency in dependencies if dependency.startswith("moto")]
    assert re.fullmatch(r"moto\[[a-z0-9,]+\]==[\d.]+", pin), "moto must be pinned exactly"
    assert pin.split("==")[1] == version("moto")


def test_s3_object_created_events_reach_rules_with_the_version_id(pipeline: LocalPipeline) -> None:
    # Reliance: moto's S3 emits "Object Created" to the rules' send_to_targets with the version id.
    seen: list[dict[str, Any]] = []
    original = Rule.send_to_targets
    Rule.send_to_targets = lambda rule, event, transform_input=True: seen.append(event)  # type: ignore[method-assign]
    try:
        version_id = pipeline.upload("incoming/x.jsonl", b'{"a": 1}\n')
    finally:
        Rule.send_to_targets = original  # type: ignore[method-assign]
    created = [event for event in seen if event["detail-type"] == "Object Created"]
    assert created, f"no Object Created event among {[event['detail-type'] for event in seen]}"
    assert created[0]["detail"]["object"]["key"] == "incoming/x.jsonl"
    assert created[0]["detail"]["object"]["version-id"] == version_id
    assert created[0]["detail"]["bucket"]["name"] == pipeline.stack.bucket_name


def test_rule_pattern_matching_is_moto_s_own(pipeline: LocalPipeline) -> None:
    # Reliance: Rule.event_pattern.matches_event decides, as the hop wrapper expects.
    events = pipeline.client("events")
    rule_name = pipeline.stack.rules[0].logical_id
    rule = events.describe_rule(Name=rule_name)
    assert json.loads(rule["EventPattern"])["detail"]["object"]["key"] == [{"prefix": "incoming/"}]
    pipeline.upload("processed/not-a-source.jsonl", b'{"a": 1}\n')
    assert pipeline.started == []
    pipeline.upload("incoming/source.jsonl", b'{"a": 1}\n')
    assert len(pipeline.started) == 1


def test_lambda_invokes_from_the_interpreter_go_through_the_session_hook(pipeline: LocalPipeline) -> None:
    # Reliance: moto's interpreter calls Lambda with a boto3 client of the default session.
    pipeline.upload("incoming/x.jsonl", b'{"a": 1}\n')
    pipeline.wait(pipeline.started[0], timeout=30)
    invoked = [invocation.function for invocation in pipeline.lambdas.invocations]
    assert invoked[0] == pipeline.function_for_state("Validate")
    assert all(invocation.qualifier == "live" for invocation in pipeline.lambdas.invocations)


def test_wait_states_and_retries_use_the_scaled_clock(stack_model: StackModel) -> None:
    # Reliance: moto's Wait states call WaitFunction._wait_interval; its retrier calls time.sleep.
    definition = {
        "StartAt": "Hold",
        "States": {
            "Hold": {"Type": "Wait", "Seconds": 600, "Next": "Fails"},
            "Fails": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:missing"},
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 300, "MaxAttempts": 1}],
                "End": True,
            },
        },
    }
    with LocalPipeline(stack_model, log_stream=io.StringIO()) as local:
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="clock", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/x"
        )["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, name="clock-1")["executionArn"]
        execution = local.wait(arn, timeout=30)
    assert execution.status == "FAILED"
    assert local.clock.wait_delays == [600.0]
    assert local.clock.retry_delays == [300.0]


def test_redrive_relies_on_moto_execution_internals(pipeline: LocalPipeline) -> None:
    # Reliance: the parser backend's Execution object, restarted in place by workflow/local/redrive.py.
    pipeline.upload("incoming/x.jsonl", b'{"a": 1}\n')
    arn = pipeline.started[0]
    pipeline.wait(arn, timeout=30)
    execution = get_backend("123456789012", "us-east-1").describe_execution(arn)
    assert execution.status == "SUCCEEDED"
    for attribute in ("exec_worker", "error", "cause", "stop_date", "output", "execution_arn"):
        assert hasattr(execution, attribute), attribute
    assert callable(execution.get_start_state_machine_details)
    assert callable(execution.start)
    assert execution.to_history_output()["events"][0]["type"] == "ExecutionStarted"
    assert json.loads(execution.state_machine.definition)["StartAt"] == "Validate"
    # moto dispatches an action to the response method named after it, which redrive adds.
    assert hasattr(StepFunctionResponse, "redrive_execution")


# -- the Distributed Map, nested executions and the context (workflow/local/distributed_map.py,
# nested_executions.py, execution_context.py). Each gap is also shown on bare moto, so that an
# upgrade that closes it is noticed and its correction removed.

_FAILING_CHILD_MAP = {
    "StartAt": "Children",
    "States": {
        "Children": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Broken",
                "States": {"Broken": {"Type": "Fail", "Error": "ChildBroke"}},
            },
            "End": True,
        }
    },
}


@contextmanager
def bare_moto() -> Iterator[Any]:
    """moto as the environment configures it, without any of the environment's corrections."""
    with mock_aws(config=MOTO_CONFIG):
        yield boto3.client("stepfunctions", region_name="us-east-1")


def bare_run(sfn: Any, name: str, definition: dict[str, Any]) -> dict[str, Any]:
    machine = sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/x"
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"items": [1]}))["executionArn"]
    deadline = time.monotonic() + 30
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.02)


def test_distributed_map_corrections_wrap_moto_s_map_internals() -> None:
    # Reliance: the methods distributed_map.py wraps, with the arguments it passes, and the
    # Map Run record's counters and tolerance fields it reads.
    assert list(inspect.signature(StateMap.from_state_props).parameters) == ["self", "state_props"]
    assert list(inspect.signature(DistributedIterationComponent._map_run).parameters) == ["self", "env", "eval_input"]
    assert list(
        inspect.signature(distributed_item_processor_worker.DistributedItemProcessorWorker._eval_job).parameters
    ) == ["self", "env", "job"]
    record = MapRunRecord("arn:aws:states:us-east-1:123456789012:stateMachine:m", "e", 0, 1, 2.0, None)
    assert (record.tolerated_failure_count, record.tolerated_failure_percentage) == (1, 2.0)
    for counter in ("total", "failed", "timed_out"):
        assert getattr(record.item_counter, counter).get() == 0
    for counter in ("running", "failed", "timed_out"):
        assert getattr(record.execution_counter, counter).get() == 0
    reader = inspect.getattr_static(ResourceEvalS3, "_handle_list_objects_v2")
    assert isinstance(reader, staticmethod)
    assert list(inspect.signature(reader.__func__).parameters) == ["env", "resource_runtime_part", "state_credentials"]


def test_bare_moto_swallows_a_failed_distributed_map_child() -> None:
    # The gap tolerance_installed closes: the failed child's slot is null and the run succeeds.
    with bare_moto() as sfn:
        described = bare_run(sfn, "swallowed", _FAILING_CHILD_MAP)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == [None]


def test_bare_moto_s_listing_reader_reads_one_page_and_fails_on_no_object() -> None:
    # The gap listing_installed closes, on the reader it replaces.
    with mock_aws(config=MOTO_CONFIG):
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="listed")
        for index in range(1001):
            s3.put_object(Bucket="listed", Key=f"in/{index:04d}", Body=b"x")
        where = (SimpleNamespace(region="us-east-1"), StateCredentials(role_arn="arn:aws:iam::123456789012:role/x"))
        env = SimpleNamespace(stack=[{"Bucket": "listed", "Prefix": "in/"}])
        ResourceEvalS3._handle_list_objects_v2(env, *where)
        (listed,) = env.stack
        assert len(listed) == 1000
        assert isinstance(listed[0]["LastModified"], datetime)
        env = SimpleNamespace(stack=[{"Bucket": "listed", "Prefix": "nothing/"}])
        with pytest.raises(KeyError):
            ResourceEvalS3._handle_list_objects_v2(env, *where)


def test_bare_moto_cannot_start_an_execution_from_a_task() -> None:
    # The gap nested_executions.py closes: the state's parameter names reach botocore as they are.
    child = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    with bare_moto() as sfn:
        child_arn = sfn.create_state_machine(
            name="child", definition=json.dumps(child), roleArn="arn:aws:iam::123456789012:role/x"
        )["stateMachineArn"]
        starter = {
            "StartAt": "Start",
            "States": {
                "Start": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution",
                    "Parameters": {"StateMachineArn": child_arn},
                    "End": True,
                }
            },
        }
        described = bare_run(sfn, "starter", starter)
    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
    assert "'StateMachineArn'" in described["cause"]
    # Reliance: the methods nested_executions.py wraps.
    for method in ("_normalise_parameters", "_normalise_response"):
        params = list(inspect.signature(getattr(StateTaskServiceSfn, method)).parameters)
        assert params[:2] == ["self", "parameters" if method == "_normalise_parameters" else "response"]


def test_bare_moto_puts_a_datetime_in_the_context_start_time() -> None:
    # The gap execution_context.py closes: the context's StartTime breaks JSON (DescribeExecution).
    stamp = {
        "StartAt": "Stamp",
        "States": {"Stamp": {"Type": "Pass", "Parameters": {"at.$": "$$.Execution.StartTime"}, "End": True}},
    }
    with bare_moto() as sfn, pytest.raises(TypeError, match="datetime is not JSON serializable"):
        bare_run(sfn, "stamp", stamp)
    assert list(inspect.signature(ExecutionWorker._get_evaluation_environment).parameters) == ["self"]


def test_bare_moto_writes_the_state_entered_time_in_another_format() -> None:
    # The gap execution_context.py closes for $$.State.EnteredTime: isoformat(), not AWS's "...123Z".
    entered = {
        "StartAt": "Stamp",
        "States": {"Stamp": {"Type": "Pass", "Parameters": {"at.$": "$$.State.EnteredTime"}, "End": True}},
    }
    with bare_moto() as sfn:
        described = bare_run(sfn, "entered", entered)
    assert json.loads(described["output"])["at"].endswith("+00:00")
    assert list(inspect.signature(CommonStateField._eval_state_input).parameters) == ["self", "env"]


def test_conditional_writes_go_through_the_methods_the_lock_wraps(pipeline: LocalPipeline) -> None:
    # Reliance: moto's DynamoDB backend makes every item write through these methods, and its S3
    # responses check PutObject's conditions in put_object: conditional_writes.py serialises them.
    for name in DYNAMODB_WRITES:
        assert callable(getattr(DynamoDBBackend, name)), name
        assert getattr(DynamoDBBackend, name).__wrapped__ is not None, f"{name} is not wrapped in the environment"
    table = pipeline.stack.tables[0].name
    source = inspect.getsource(DynamoDBResponse)
    for name in DYNAMODB_WRITES:
        assert f"self.dynamodb_backend.{name}(" in source, name
    put_object = inspect.getsource(S3Response.put_object.__wrapped__)
    for header in S3_CONDITIONS:
        assert f'self.headers.get("{header}")' in put_object, header
    # And a conditional write is refused once another has taken the item
    ddb = pipeline.client("dynamodb")
    key = {"sourceId": {"S": "b/k"}, "versionId": {"S": "v"}}
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET runArn = :a",
        ConditionExpression="attribute_not_exists(versionId)",
        ExpressionAttributeValues={":a": {"S": "a"}},
    )
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET runArn = :a",
            ConditionExpression="attribute_not_exists(versionId)",
            ExpressionAttributeValues={":a": {"S": "b"}},
        )


def test_the_interpreter_cache_replaces_every_use_of_the_client_factory_and_path_parsers() -> None:
    # Reliance: the modules of moto's interpreter that import boto_client_for and a JSONPath parser
    # by name are exactly those interpreter_cache.py rebinds, and the entry point it wraps exists.
    parser_root = Path(inspect.getfile(boto_client)).parents[2]
    importers = {
        path.relative_to(parser_root).with_suffix("").as_posix().replace("/", ".")
        for path in parser_root.rglob("*.py")
        if "boto_client_for" in path.read_text()
    }
    assert importers == {module.__name__.removeprefix("moto.stepfunctions.parser.") for module in CLIENT_USERS}
    assert list(inspect.signature(boto_client.boto_client_for).parameters) == ["region", "service", "state_credentials"]
    parsers = {
        path.relative_to(parser_root).with_suffix("").as_posix().replace("/", ".")
        for path in parser_root.rglob("*.py")
        if re.search(r"^from jsonpath_ng(\.ext)? import parse$", path.read_text(), re.MULTILINE)
    }
    assert parsers == {module.__name__.removeprefix("moto.stepfunctions.parser.") for module, _, _ in PATH_PARSERS}
    assert list(inspect.signature(ExecutionWorker._get_evaluation_entrypoint).parameters) == ["self"]
    entrypoint = inspect.getsource(ExecutionWorker._get_evaluation_entrypoint)
    assert "self._evaluation_details.state_machine_details.definition" in entrypoint


def test_a_disabled_rule_starts_nothing(pipeline: LocalPipeline) -> None:
    # Reliance: moto hands events to disabled rules too; the hop reads Rule.state, as AWS delivers
    # nothing through a disabled rule (objects seeded "before the stack existed" rely on it).
    events = pipeline.client("events")
    rule = pipeline.stack.rules[0].logical_id
    events.disable_rule(Name=rule)
    pipeline.upload("incoming/seeded.jsonl", b'{"a": 1}\n')
    assert pipeline.started == []
    events.enable_rule(Name=rule)
    pipeline.upload("incoming/live.jsonl", b'{"a": 1}\n')
    assert len(pipeline.started) == 1
