"""Each reliance of the local runtime on moto internals, tested on its own.

If a moto upgrade moves one of these, the test that names it fails before any scenario does.
"""

from __future__ import annotations

import inspect
import io
import json
import re
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import boto3
from botocore.response import StreamingBody
from moto.cloudwatch.models import CloudWatchBackend, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.events.models import EventsBackend, Rule
from moto.s3.responses import S3Response
from moto.sns.models import SNSBackend
from moto.sqs.models import sqs_backends
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse, get_backend

from workflow.local.alarms import epoch
from workflow.local.environment import LocalPipeline
from workflow.local.limits import LAMBDA_INVOKE_RESPONSE
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


def test_state_payload_limits_rely_on_the_interpreters_quota_function_and_parameters() -> None:
    # Reliance: three interpreter modules check sizes with their own global is_within_size_quota
    # (workflow/local/limits.py swaps it for an exact one); tasks evaluate Parameters in
    # _eval_parameters(env), a Lambda task's into {"Payload": ...}, and fail with _verify_size_quota.
    for module in (state_module, state_task_lambda, state_task_service):
        assert callable(vars(module)["is_within_size_quota"]), module.__name__
        assert "is_within_size_quota(value" in inspect.getsource(module), module.__name__
    for task in (StateTask, StateTaskLambda):
        assert list(inspect.signature(task._eval_parameters).parameters) == ["self", "env"]
        assert list(inspect.signature(task._verify_size_quota).parameters) == ["self", "env", "value"]
    assert '"Payload": payload' in inspect.getsource(StateTaskLambda._eval_parameters)
    starting = list(inspect.signature(StepFunctionsParserBackend.start_execution).parameters)
    assert starting[:4] == ["self", "state_machine_arn", "name", "execution_input"]


def test_s3_limits_see_every_object_write_in_the_key_request_handler(pipeline: LocalPipeline) -> None:
    # Reliance: S3Response._key_response(request, full_url) handles every object request, after the
    # request is set up (parse_key_name answers the decoded key).
    seen: list[tuple[str, str]] = []
    original = S3Response._key_response

    def spy(self: S3Response, request: Any, full_url: str) -> Any:
        seen.append((request.method, self.parse_key_name()))
        return original(self, request, full_url)

    S3Response._key_response = spy  # type: ignore[method-assign]
    try:
        s3 = pipeline.client("s3")
        s3.put_object(Bucket=pipeline.stack.bucket_name, Key="processed/a b.json", Body=b"{}")
        s3.create_multipart_upload(Bucket=pipeline.stack.bucket_name, Key="processed/c.json")
    finally:
        S3Response._key_response = original  # type: ignore[method-assign]
    assert seen == [("PUT", "processed/a b.json"), ("POST", "processed/c.json")]


def test_message_limits_see_what_sns_and_eventbridge_backends_are_given(pipeline: LocalPipeline) -> None:
    # Reliance: SNSBackend.publish(message, arn, ..., message_attributes={name: {"Type", "Value"}})
    # and EventsBackend.put_events(entries as sent).
    published: list[tuple[str, Any]] = []
    put: list[list[dict[str, Any]]] = []
    original_publish, original_put_events = SNSBackend.publish, EventsBackend.put_events

    def publish(self: SNSBackend, message: str, arn: str | None, *args: Any, **kwargs: Any) -> str:
        published.append((message, kwargs["message_attributes"]))
        return original_publish(self, message, arn, *args, **kwargs)

    def put_events(self: EventsBackend, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        put.append(events)
        return original_put_events(self, events)

    SNSBackend.publish = publish  # type: ignore[method-assign]
    EventsBackend.put_events = put_events  # type: ignore[method-assign]
    try:
        pipeline.client("sns").publish(
            TopicArn=pipeline.stack.topic_arn,
            Message="m",
            MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
        )
        pipeline.client("events").put_events(Entries=[{"Source": "app", "DetailType": "T", "Detail": "{}"}])
    finally:
        SNSBackend.publish = original_publish  # type: ignore[method-assign]
        EventsBackend.put_events = original_put_events  # type: ignore[method-assign]
    assert published == [("m", {"k": {"Type": "String", "Value": "v"}})]
    assert put == [[{"Source": "app", "DetailType": "T", "Detail": "{}"}]]


def test_the_lambda_response_limit_sees_the_invoke_body_before_it_is_parsed(pipeline: LocalPipeline) -> None:
    # Reliance (botocore): before-parse.lambda.Invoke hands over a response_dict whose body is the
    # StreamingBody of the Payload, which the hook may replace.
    seen: list[type] = []
    events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
    events.register(
        LAMBDA_INVOKE_RESPONSE, lambda response_dict, **_: seen.append(type(response_dict["body"])), unique_id="spy"
    )
    try:
        pipeline.client("lambda").invoke(FunctionName=pipeline.function_for_state("Validate"), Payload=b"{}")
    finally:
        events.unregister(LAMBDA_INVOKE_RESPONSE, unique_id="spy")
    assert seen == [StreamingBody]


def test_an_executions_end_goes_through_its_worker_communications_terminated(pipeline: LocalPipeline) -> None:
    # Reliance: workflow/local/alarms.py wraps BaseExecutionWorkerCommunication.terminated, which the
    # interpreter calls once when an execution ends, and reads the execution object it holds.
    ended: list[Any] = []
    installed = BaseExecutionWorkerCommunication.terminated

    def spy(communication: BaseExecutionWorkerCommunication) -> None:
        installed(communication)
        ended.append(communication.execution)

    BaseExecutionWorkerCommunication.terminated = spy  # type: ignore[method-assign]
    try:
        pipeline.upload("incoming/x.jsonl", b'{"a": 1}\n')
        pipeline.wait(pipeline.started[0], timeout=30)
    finally:
        BaseExecutionWorkerCommunication.terminated = installed  # type: ignore[method-assign]
    (execution,) = ended
    assert execution.exec_status.value == "SUCCEEDED"
    assert execution.execution_arn == pipeline.started[0]
    assert execution.state_machine.arn == pipeline.stack.state_machine_arn
    assert execution.start_date <= execution.stop_date
    events = execution.to_history_output()["events"]
    assert (events[-1]["type"], events[-1]["id"]) == ("ExecutionSucceeded", len(events))
    assert epoch(events[-1]["timestamp"]) >= execution.start_date.timestamp()


def test_alarm_states_change_in_the_cloudwatch_backend_whoever_sets_them(pipeline: LocalPipeline) -> None:
    # Reliance: SetAlarmState reaches CloudWatchBackend.set_alarm_state; alarms live in its
    # ``alarms``, their state in ``state_value``; the backend knows its account and region.
    name = pipeline.alarms.model.alarms[0].name
    pipeline.alarms.evaluate()  # past the first evaluation, the engine changes it only back from ALARM
    calls: list[tuple[str, str, str]] = []
    installed = CloudWatchBackend.set_alarm_state

    def spy(backend: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
        installed(backend, alarm_name, reason, reason_data, state_value)
        calls.append((alarm_name, state_value, backend.alarms[alarm_name].state_value))

    CloudWatchBackend.set_alarm_state = spy  # type: ignore[method-assign,assignment]
    try:
        pipeline.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="guard")
    finally:
        CloudWatchBackend.set_alarm_state = installed  # type: ignore[method-assign]
    assert calls[0] == (name, "ALARM", "ALARM")
    backend = cloudwatch_backends["123456789012"]["us-east-1"]
    assert (backend.account_id, backend.region_name) == ("123456789012", "us-east-1")
    assert hasattr(backend.alarms[name], "state_reason")


def test_cloudwatch_actions_are_dispatched_to_the_response_method_named_after_them(pipeline: LocalPipeline) -> None:
    # Reliance: moto answers DescribeAlarmHistory (it has no such action) with the method that
    # workflow/local/alarms.py adds to CloudWatchResponse.
    assert hasattr(CloudWatchResponse, "describe_alarm_history")
    name = pipeline.alarms.model.alarms[0].name
    pipeline.alarms.evaluate()
    items = pipeline.client("cloudwatch").describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    assert items[-1]["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to OK"


def test_a_queues_depth_is_read_from_moto_s_sqs_backend(pipeline: LocalPipeline) -> None:
    # Reliance: workflow/local/alarms.py samples a watched queue's depth from the SQS backend's queue.
    sqs = pipeline.client("sqs")
    url = sqs.create_queue(QueueName="depth-guard")["QueueUrl"]
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    queue = sqs_backends["123456789012"]["us-east-1"].get_queue("depth-guard")
    assert queue.approximate_number_of_messages == int(attributes["Attributes"]["ApproximateNumberOfMessages"]) == 2
