"""Each reliance of the local runtime on moto internals, tested on its own.

If a moto upgrade moves one of these, the test that names it fails before any scenario does.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import inspect
import io
import json
import os
import pickle
import re
import string
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from workflow.local.interpreter import components, current_state_machine, parses_cached

import boto3
import botocore
import botocore.config
import pytest
import requests
from botocore.exceptions import ClientError
from botocore.loaders import JSONFileLoader
from botocore.response import StreamingBody
from botocore.retries import standard
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import request
from moto import mock_aws
from moto.cloudwatch.models import CloudWatchBackend, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core import responses as moto_responses_module
from moto.core import utils as moto_utils
from moto.core import utils as moto_utils_module
from moto.core.base_backend import AccountSpecificBackend
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.parsing import validators as validators_module
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.parsing.validators import UpdateExpressionValidator
from moto.dynamodb.responses import DynamoHandler as DynamoDBResponse
from moto.events.models import EventPattern, EventsBackend, Rule, events_backends
from moto.moto_api._internal import mock_random
from moto.moto_server.werkzeug_app import BackendRequest, DomainDispatcherApplication, create_backend_app
from moto.s3.models import s3_backends
from moto.s3.responses import S3Response
from moto.sns.models import SNSBackend, Subscription, sns_backends
from moto.sqs.models import sqs_backends
from moto.sqs.responses import SQSResponse
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3 import (
    ResourceEvalS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.item_reader_decl import ItemReader
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.map_run_record import (
    MapRunRecord,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.result_writer_decl import ResultWriter
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
    state_task_service_aws_sdk,
    state_task_service_sfn,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb import (
    StateTaskServiceDynamoDB,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.parser.utils import TMP_THREADS
from moto.stepfunctions.responses import StepFunctionResponse, get_backend
from werkzeug.exceptions import BadRequestKeyError, ClientDisconnected

from workflow.deployment import LOCAL_ACCOUNT, REGION
from workflow.local import (
    eventbridge,
    model_cache,
    moto_overhead,
    nested_executions,
    s3_store,
    service_models,
    sns_signing,
)
from workflow.local.access import STATE_MACHINE_ACCESS_KEY
from workflow.local.alarm_model import MetricKey
from workflow.local.alarms import epoch, metric_datum
from workflow.local.conditional_writes import DYNAMODB_WRITES, S3_CONDITIONS
from workflow.local.distributed_map import reader_and_writer_errors_installed
from workflow.local.environment import DEFAULT_TIME_SCALE, MOTO_CONFIG, LocalPipeline, _environment
from workflow.local.gateway import Dispatcher, backend_app
from workflow.local.java_sdk_errors import errors_named
from workflow.local.lambdas import service_errors_named
from workflow.local.limits import LAMBDA_INVOKE_RESPONSE
from workflow.local.synth import CACHE_ENVIRONMENT
from workflow.local.template import StackModel

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# moto's own, read before any environment replaces it (sns_signing.installed)
moto_get_post_data = vars(Subscription)["get_post_data"]


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


def test_an_event_flattened_once_matches_every_pattern_as_moto_s_matches_event_does(pipeline: LocalPipeline) -> None:
    # Reliance: EventPattern.matches_event is _does_event_match over _flatten_dict of the event's
    # JSON round trip; eventbridge.matches flattens each event once for all the rules it meets.
    buses = events_backends[LOCAL_ACCOUNT]["us-east-1"].event_buses.values()
    patterns = [rule.event_pattern for bus in buses for rule in bus.rules.values()]
    assert patterns
    patterns += [
        EventPattern.load(json.dumps(pattern))
        for pattern in (
            {"detail": {"size": [{"numeric": [">", 100]}], "object": {"key": [{"anything-but": {"prefix": "tmp/"}}]}}},
            {"$or": [{"source": ["aws.states"]}, {"detail": {"object": {"key": [{"suffix": ".csv"}]}}}]},
            {"detail": {"missing": [{"exists": False}]}},
        )
    ]
    s3_event = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": pipeline.stack.bucket_name}, "object": {"key": "incoming/a.csv", "size": 345}},
    }
    status_event = {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"status": "FAILED", "stateMachineArn": pipeline.stack.state_machine_arn, "input": "{}"},
    }
    other_key = {**s3_event, "detail": {**s3_event["detail"], "object": {"key": "tmp/b.json", "size": 5}}}
    outcomes = [
        (eventbridge.matches(pattern, event), pattern.matches_event(event))
        for event in (s3_event, status_event, s3_event, other_key)
        for pattern in patterns
    ]
    assert [ours for ours, _ in outcomes] == [moto_s for _, moto_s in outcomes]
    assert {ours for ours, _ in outcomes} == {True, False}


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
    # Reliance: interpreter.endings_reported wraps BaseExecutionWorkerCommunication.terminated, which the
    # interpreter calls once when an execution ends; alarms.py reads the execution object it holds.
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
    # (the engine's own evaluations run meanwhile, on their thread, and may set states too)
    assert (name, "ALARM", "ALARM") in calls
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


def test_moto_names_a_lambda_task_s_service_error_in_state_task_lambda_from_error() -> None:
    # Reliance: moto turns a ClientError of a Lambda Task's invoke into its failure event in
    # StateTaskLambda._from_error (naming it "Exception"); lambdas.service_errors_named wraps it.
    original = StateTaskLambda._from_error
    with service_errors_named():
        assert StateTaskLambda._from_error is not original
    assert StateTaskLambda._from_error is original


def test_moto_names_a_dynamodb_task_s_service_error_in_error_cause_from_client_error() -> None:
    # Reliance: moto names a ClientError of a DynamoDB Task ("DynamoDB.<code>", with its cause) in
    # the static StateTaskServiceDynamoDB._error_cause_from_client_error;
    # java_sdk_errors.errors_named replaces the name and keeps the cause.
    error = ClientError(
        {
            "Error": {"Code": "ValidationException", "Message": "too long"},
            "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "r"},
        },
        "UpdateItem",
    )
    original = vars(StateTaskServiceDynamoDB)["_error_cause_from_client_error"]
    assert isinstance(original, staticmethod)
    name, cause = StateTaskServiceDynamoDB._error_cause_from_client_error(error)
    assert name == "DynamoDB.ValidationException"
    assert "too long" in cause
    with errors_named():
        assert StateTaskServiceDynamoDB._error_cause_from_client_error(error) == (
            "DynamoDB.AmazonDynamoDBException",
            cause,
        )
    assert vars(StateTaskServiceDynamoDB)["_error_cause_from_client_error"] is original


def test_moto_names_an_aws_sdk_task_s_service_from_its_service_error_names() -> None:
    # Reliance: moto's aws-sdk integration names a service's errors after the name it finds in
    # state_task_service_aws_sdk._SERVICE_ERROR_NAMES (DynamoDb, Sfn), else after the resource's
    # lower-case name; java_sdk_errors.errors_named adds S3 for the block.
    names = vars(state_task_service_aws_sdk)["_SERVICE_ERROR_NAMES"]
    assert names["dynamodb"] == "DynamoDb"
    assert "s3" not in names
    normalise = StateTaskServiceAwsSdk._normalise_service_error_name
    assert normalise("s3") == "s3"
    with errors_named():
        assert normalise("s3") == "S3"
    assert "s3" not in names


def test_moto_names_a_step_functions_task_s_service_error_in_state_task_service_sfn_from_error() -> None:
    # Reliance: moto turns a ClientError of a states:startExecution Task into its failure event in
    # StateTaskServiceSfn._from_error (named "StepFunctions.<code>Exception", which
    # test_integration_errors.py sees replaced); java_sdk_errors.errors_named wraps it.
    original = vars(StateTaskServiceSfn)["_from_error"]
    with errors_named():
        assert vars(StateTaskServiceSfn)["_from_error"] is not original
    assert vars(StateTaskServiceSfn)["_from_error"] is original


def test_moto_evaluates_a_map_s_item_reader_and_result_writer_in_their_eval_body() -> None:
    # Reliance: the Map's ItemReader and ResultWriter make their service calls in their own
    # _eval_body (test_permissions.py sees a refusal there named States.ItemReaderFailed and
    # States.ResultWriterFailed); distributed_map.reader_and_writer_errors_installed wraps both.
    originals = (vars(ItemReader)["_eval_body"], vars(ResultWriter)["_eval_body"])
    with reader_and_writer_errors_installed():
        assert (vars(ItemReader)["_eval_body"], vars(ResultWriter)["_eval_body"]) != originals
    assert (vars(ItemReader)["_eval_body"], vars(ResultWriter)["_eval_body"]) == originals


def test_moto_keeps_the_interpreter_s_threads_in_tmp_threads(pipeline: LocalPipeline) -> None:
    # Reliance: every thread moto's interpreter starts for an execution is appended to
    # moto.stepfunctions.parser.utils.TMP_THREADS, which leaving a LocalPipeline joins.
    before = set(map(id, TMP_THREADS))
    pipeline.upload("incoming/x.jsonl", b'{"a": 1}\n')
    pipeline.wait(pipeline.started[0], timeout=30)
    started = [thread for thread in TMP_THREADS if id(thread) not in before]
    assert started, "no interpreter thread was recorded in TMP_THREADS"
    assert all(isinstance(thread, threading.Thread) for thread in started)


def test_botocore_s_standard_retries_back_off_through_exponential_backoff_delay_amount() -> None:
    # Reliance: a sandbox scales its SDK's retry backoff by patching
    # botocore.retries.standard.ExponentialBackoff.delay_amount, the delay of standard retries.
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    handler = standard.register_retry_handler(client)
    assert isinstance(handler._retry_policy._retry_backoff, standard.ExponentialBackoff)
    # And the scaling a sandbox applies divides that delay (in a process of its own: it patches the class)
    script = (
        "from botocore.retries import standard\n"
        "from workflow.local.sandbox_runtime import _scale_sdk_backoff\n"
        "backoff = standard.ExponentialBackoff(random=lambda: 1.0)\n"
        "class Context: attempt_number = 3; http_response = None; parsed_response = None\n"
        "before = backoff.delay_amount(Context())\n"
        "_scale_sdk_backoff(0.001)\n"
        "print(before, backoff.delay_amount(Context()))\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    before, after = map(float, output.stdout.split())
    assert before > 0
    assert after == pytest.approx(before * 0.001)


def test_the_interpreter_signs_the_state_machine_s_calls_with_the_access_key_ak() -> None:
    # Reliance: moto's boto_client_for builds the interpreter's clients with aws_access_key_id "ak";
    # access.py identifies the state machine's own calls by it, read in botocore's before-call
    # from the request signer's credentials.
    client = boto_client_for(region="us-east-1", service="lambda")
    assert client._request_signer._credentials.access_key == STATE_MACHINE_ACCESS_KEY


# -- the engine's speed: interpreter.py, service_models.py, s3_store.py ----------------------------


def test_the_interpreter_imports_without_moto_s_ec2() -> None:
    # Reliance: moto's Batch integration needs only moto.batch.utils, importable without
    # moto.batch's __init__ (which imports EC2); interpreter.py imports the parser so, and the
    # whole engine (environment.py and all it imports) takes the parser's modules from it.
    script = (
        "import sys\n"
        "import workflow.local.environment\n"
        "import moto.stepfunctions.parser.models\n"
        "from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_batch\n"
        "print('moto.ec2' in sys.modules, 'moto.batch' in sys.modules, state_task_service_batch.JobStatus.__module__)\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert output.stdout.split() == ["False", "False", "moto.batch.utils"]


def test_moto_parses_definitions_through_amazon_state_language_parser_parse(stack_model: StackModel) -> None:
    # Reliance: moto parses a definition with AmazonStateLanguageParser.parse on create and on
    # each execution; interpreter.parses_cached serves it from a cache, one program per definition.
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    calls: list[str] = []
    original = AmazonStateLanguageParser.parse

    def counting(text: str) -> Any:
        calls.append(text)
        return original(text)

    AmazonStateLanguageParser.parse = staticmethod(counting)  # type: ignore[method-assign]
    try:
        with LocalPipeline(stack_model, log_stream=io.StringIO()) as local:
            sfn = local.client("stepfunctions")
            machine = sfn.create_state_machine(
                name="p", definition=definition, roleArn="arn:aws:iam::123456789012:role/x"
            )
            arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="p-1")["executionArn"]
            assert local.wait(arn, timeout=30).status == "SUCCEEDED"
    finally:
        AmazonStateLanguageParser.parse = original  # type: ignore[method-assign]
    # moto asked twice (create, then the execution); the cache in front answered the second
    assert calls.count(definition) <= 1


# Every construct that keeps something between evaluations: a Map's iterations in parallel, a
# Parallel's branch, a retrier's attempts, a catcher, a choice.
_SHARED_PROGRAM_DEFINITION = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 0,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Try",
                "States": {
                    "Try": {
                        "Type": "Parallel",
                        "Branches": [
                            {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom", "Cause": "c"}}}
                        ],
                        "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Which"}],
                        "End": True,
                    },
                    "Which": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.caught.Error", "StringEquals": "Boom", "Next": "Caught"}],
                        "Default": "Missed",
                    },
                    "Caught": {"Type": "Pass", "Result": "caught", "End": True},
                    "Missed": {"Type": "Fail", "Error": "Missed"},
                },
            },
            "End": True,
        }
    },
}


def test_executions_of_one_definition_share_its_program_and_write_nothing_on_it(pipeline: LocalPipeline) -> None:
    # Reliance: a parsed program holds declarations only; what an execution evaluates (a retrier's
    # attempts, a Map's iterations) lives in its Environment, keyed by each component's heap_key,
    # which interpreter.keyed sets before the program is shared.
    sfn = pipeline.client("stepfunctions")
    definition = json.dumps(_SHARED_PROGRAM_DEFINITION)
    machine = sfn.create_state_machine(name="shared", definition=definition, roleArn="arn:aws:iam::123456789012:role/x")
    program, _ = AmazonStateLanguageParser.parse(definition)
    assert AmazonStateLanguageParser.parse(definition)[0] is program
    before = pickle.dumps(program)

    def history(name: str) -> Counter[str]:
        arn = sfn.start_execution(
            stateMachineArn=machine["stateMachineArn"],
            name=name,
            input=json.dumps({"items": [{"n": 1}, {"n": 2}, {"n": 3}]}),
        )["executionArn"]
        ended = pipeline.wait(arn, timeout=60)
        assert ended.status == "SUCCEEDED"
        assert json.loads(sfn.describe_execution(executionArn=arn)["output"]) == ["caught"] * 3
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return Counter(event["type"] for event in events)

    alone = history("alone")
    # each item's branch failed three times: once, then its two retries
    assert alone["ParallelStateStarted"] == 3 * 3
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(history, [f"together-{index}" for index in range(4)]))
    assert together == [alone] * 4
    assert pickle.dumps(program) == before


def test_a_program_read_back_from_the_parse_cache_carries_its_heap_keys(tmp_path: Path) -> None:
    # Reliance: a component's heap_key is the private attribute EvalComponent.__heap_key, kept by
    # pickle; a program is keyed before it is cached, so a program read back is keyed already.
    definition = json.dumps(_SHARED_PROGRAM_DEFINITION)
    with parses_cached(tmp_path):
        AmazonStateLanguageParser.parse(definition)
    with parses_cached(tmp_path):
        program, tree = AmazonStateLanguageParser.parse(definition)
    assert tree is None, "the program was parsed again, not read from the cache"
    found = list(components(program))
    assert len(found) > 20
    assert all(vars(component).get("_EvalComponent__heap_key") for component in found)


def test_metric_data_given_straight_to_the_backend_is_stored_as_put_metric_data_stores_it(
    pipeline: LocalPipeline,
) -> None:
    # Reliance: moto's PutMetricData handler hands the parsed datums to
    # CloudWatchBackend.put_metric_data(namespace, data); the alarm engine gives it its own datums,
    # shaped as that handler's, without the API round trip.
    backend = cloudwatch_backends[LOCAL_ACCOUNT]["us-east-1"]
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    datum = {
        "MetricName": "Probe",
        "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
        "Timestamp": at,
        "Value": 2.5,
    }
    pipeline.client("cloudwatch").put_metric_data(Namespace="Probe/Api", MetricData=[datum])
    metric = MetricKey.of("Probe/Direct", "Probe", {"FunctionName": "f"})
    backend.put_metric_data("Probe/Direct", [metric_datum(metric, at.timestamp(), 2.5)])

    def stored(namespace: str) -> tuple[Any, ...]:
        (found,) = [item for item in backend.metric_data if item.namespace == namespace]
        dimensions = [(dimension.name, dimension.value) for dimension in found.dimensions]
        return (found.name, found.value, dimensions, found.timestamp, found.unit)

    assert stored("Probe/Direct") == stored("Probe/Api")


def test_moto_builds_the_interpreter_s_clients_with_boto_client_for_bound_in_its_modules(
    pipeline: LocalPipeline,
) -> None:
    # Reliance: the interpreter's modules bind boto_client_for by name; while an environment is
    # entered, each of them holds the shared version (one client per service).
    holders = [
        module
        for name, module in sys.modules.items()
        if name.startswith("moto.stepfunctions.parser") and hasattr(module, "boto_client_for")
    ]
    assert holders
    # (boto_client_for, imported at the top of this file, is moto's own function)
    assert {module.boto_client_for for module in holders} != {boto_client_for}
    assert len({module.boto_client_for for module in holders}) == 1
    first = holders[0].boto_client_for(region="us-east-1", service="lambda")
    assert holders[-1].boto_client_for(region="us-east-1", service="lambda") is first


def test_moto_and_botocore_read_models_through_the_loaders_the_engine_shares(pipeline: LocalPipeline) -> None:
    # Reliance: moto reads its service models through moto.core.utils.create_loader and lists
    # regions in AccountSpecificBackend._generate_regions; boto3 sessions take their loader from
    # the "data_loader" component; botocore reads each file through JSONFileLoader._load_file.
    assert vars(moto_utils)["create_loader"] is service_models.moto_loader
    session = boto3.DEFAULT_SESSION
    assert session is not None
    assert session._session.get_component("data_loader") is service_models.botocore_loader()
    assert isinstance(service_models.botocore_loader().file_loader, model_cache.PickledFileLoader)
    assert callable(JSONFileLoader._load_file)
    assert AccountSpecificBackend._generate_regions.__name__ == "regions"
    assert pipeline.client("s3").list_buckets()["Buckets"]


def test_the_pickled_model_cache_gives_botocore_s_own_data(tmp_path: Path) -> None:
    # Reliance: JSONFileLoader._load_file(path, open_method) returns the parsed file.
    loader = model_cache.PickledFileLoader(tmp_path)
    plain = JSONFileLoader()
    model = str(Path(botocore.__file__).parent / "data" / "sns" / "2010-03-31" / "service-2")
    first = loader.load_file(model)
    again = loader.load_file(model)
    assert first == again == plain.load_file(model)
    assert len(list(tmp_path.glob("*.pickle"))) == 1


def _multipart(s3: Any, bucket: str, key: str, parts: list[bytes], **create: Any) -> dict[str, Any]:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    listed = [
        {
            "PartNumber": number,
            "ETag": s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body)["ETag"],
        }
        for number, body in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": listed})
    head: dict[str, Any] = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    return head


@pytest.mark.parametrize("checksum", [{}, {"ChecksumAlgorithm": "CRC32"}, {"ChecksumAlgorithm": "SHA256"}])
def test_the_file_backed_store_gives_moto_s_own_objects(checksum: dict[str, str]) -> None:
    # Reliance: s3_store's CompleteMultipartUpload, UploadPart and UploadPartCopy, GetObject (whole,
    # ranged, streamed) give what moto gives without them: same bytes, ETags and checksums.
    parts = [os.urandom(5 * 1024 * 1024 + 17), os.urandom(3 * 1024 * 1024)]
    results = []
    for patched in (False, True):
        with (
            mock_aws(),
            _environment(s3_store.SPOOL_ENVIRONMENT),
            s3_store.installed() if patched else contextlib.nullcontext(),
        ):
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket="guard-bucket")
            head = _multipart(s3, "guard-bucket", "k", parts, **checksum)
            upload = s3.create_multipart_upload(Bucket="guard-bucket", Key="copy")["UploadId"]
            copied = s3.upload_part_copy(
                Bucket="guard-bucket",
                Key="copy",
                UploadId=upload,
                PartNumber=1,
                CopySource="guard-bucket/k",
                CopySourceRange="bytes=10-5242999",
            )["CopyPartResult"]["ETag"]
            whole = s3.get_object(Bucket="guard-bucket", Key="k")["Body"].read()
            ranged = s3.get_object(Bucket="guard-bucket", Key="k", Range="bytes=5242800-5242999")["Body"].read()
            suffix = s3.get_object(Bucket="guard-bucket", Key="k", Range="bytes=-100")["Body"].read()
        results.append(
            (
                head["ETag"],
                {name: value for name, value in head.items() if name.startswith("Checksum")},
                copied,
                whole,
                ranged,
                suffix,
            )
        )
    assert results[0] == results[1]
    assert results[1][3] == b"".join(parts)


def test_a_streamed_body_reaches_an_http_client_whole_and_in_ranges(pipeline: LocalPipeline) -> None:
    # Reliance: moto's server answers GetObject with the Flask response of S3Response.key_response;
    # a FileSlice body is streamed to the client (requests from a WSGI server carry from_wsgi_server).
    body = os.urandom(3 * 1024 * 1024)
    pipeline.upload("staging/big.bin", body)
    _, streamed = invoke_through_gateway(pipeline, "staging/big.bin")
    _, ranged = invoke_through_gateway(pipeline, "staging/big.bin", Range="bytes=100-199")
    assert streamed == body
    assert ranged == body[100:200]
    assert BackendRequest.from_wsgi_server is True


@contextmanager
def gateway_s3_as_write_output(pipeline: LocalPipeline, access_key: str, **config: Any) -> Iterator[Any]:
    """An S3 client of the sandboxes' endpoint, signing as the function allowed to read staging/
    (WriteOutput) until the block ends."""
    pipeline.sandboxes._callers[access_key] = pipeline.function_for_state("WriteOutput")
    try:
        yield boto3.client(
            "s3",
            endpoint_url=pipeline.sandboxes.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key="x",
            config=botocore.config.Config(**config),
        )
    finally:
        del pipeline.sandboxes._callers[access_key]


def invoke_through_gateway(pipeline: LocalPipeline, key: str, **extra: Any) -> tuple[dict[str, Any], bytes]:
    """A GetObject on the sandboxes' endpoint, as WriteOutput."""
    with gateway_s3_as_write_output(pipeline, "ASIATESTGATEWAY00") as s3:
        response = s3.get_object(Bucket=pipeline.stack.bucket_name, Key=key, **extra)
        return response, response["Body"].read()


def test_moto_compiles_json_paths_with_the_parse_of_json_path_and_result_path(pipeline: LocalPipeline) -> None:
    # Reliance: moto's json_path and result_path modules compile each JSONPath with their global
    # ``parse``; while an environment is entered, it is a cached one (the same object each time).
    assert json_path.parse("$.source.key") is json_path.parse("$.source.key")
    assert result_path.parse("$.profile") is result_path.parse("$.profile")
    pipeline.upload("incoming/x.jsonl", b'{"a": 1}\n')
    assert pipeline.wait(pipeline.started[0], timeout=30).status == "SUCCEEDED"


def test_moto_converts_names_and_draws_ids_with_the_functions_the_engine_speeds_up(pipeline: LocalPipeline) -> None:
    # Reliance: moto's modules bind camelcase_to_underscores by name (a pure function, cached
    # here), and moto draws request ids with MotoRandom.get_random_string (drawn at once here).
    holders = [
        module
        for name, module in sys.modules.items()
        if name.startswith("moto.") and hasattr(module, "camelcase_to_underscores")
    ]
    original = moto_utils_module.camelcase_to_underscores.__wrapped__
    assert holders
    assert all(module.camelcase_to_underscores("ListExecutions") == "list_executions" for module in holders)
    assert original("describeExecutionHistory") == moto_utils_module.camelcase_to_underscores(
        "describeExecutionHistory"
    )
    drawn = mock_random.get_random_string(length=52, include_digits=True)
    assert len(drawn) == 52
    assert set(drawn) <= set(string.ascii_letters + string.digits)
    mock_random.seed(7)
    first = mock_random.get_random_string(10)
    mock_random.seed(7)
    assert mock_random.get_random_string(10) == first


def test_sns_signs_every_delivery_with_one_certificate_over_sns_s_string_to_sign(pipeline: LocalPipeline) -> None:
    # Reliance: moto's SNS builds each delivery's envelope with Subscription.get_post_data, and
    # serves the certificate of a SigningCertURL from _message_public_keys (moto's serve_pem).
    # https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
    backend = sns_backends[LOCAL_ACCOUNT][REGION]
    subscription = next(iter(backend.subscriptions.values()))

    # When the subscription delivers 20 messages with a subject, and one without
    posted = [subscription.get_post_data(f"message {index}", f"id-{index}", "a subject") for index in range(20)]
    posted.append(subscription.get_post_data("no subject", "id-none", None))

    # Then every one names the same certificate, which moto serves at its URL, and which
    # verifies its signature over SNS's string to sign, the subject included when there is one
    assert len({envelope["SigningCertURL"] for envelope in posted}) == 1
    served = requests.get(posted[0]["SigningCertURL"], timeout=5)
    assert served.status_code == 200
    public_key = x509.load_pem_x509_certificate(served.content).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    fields = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
    for envelope in posted:
        signed = "".join(f"{name}\n{envelope[name]}\n" for name in fields if name in envelope).encode()
        public_key.verify(base64.b64decode(envelope["Signature"]), signed, padding.PKCS1v15(), hashes.SHA256())
    # And moto keeps that one certificate, not one per message
    assert len(sns_backends[DEFAULT_ACCOUNT_ID][REGION]._message_public_keys) == 1


def test_a_delivery_s_envelope_has_moto_s_fields_and_values_but_its_signature_and_subscription(
    pipeline: LocalPipeline,
) -> None:
    # Reliance: the engine's envelope replaces moto's get_post_data; each field moto gives is given.
    backend = sns_backends[LOCAL_ACCOUNT][REGION]
    subscription = next(iter(backend.subscriptions.values()))
    attributes = {"status": {"Type": "String", "Value": "SUCCEEDED"}}
    for subject in ("a subject", None):
        ours = subscription.get_post_data("a message", "message-1", subject, message_attributes=attributes)
        moto_s = moto_get_post_data(subscription, "a message", "message-1", subject, message_attributes=attributes)

        assert moto_get_post_data is not sns_signing._post_data
        assert list(ours) == list(moto_s)
        differing = {name for name in moto_s if ours[name] != moto_s[name]}
        assert differing <= {"Timestamp", "Signature", "SigningCertURL", "UnsubscribeURL"}
        assert ours["UnsubscribeURL"].endswith(f"SubscriptionArn={subscription.arn}")


def test_the_sns_signing_key_is_made_once_then_read_back_and_made_again_when_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an empty cache
    monkeypatch.setenv(CACHE_ENVIRONMENT, str(tmp_path))
    sns_signing.signing_key.cache_clear()
    try:
        # When a key is asked for, then again in a new process (the cache of this one cleared)
        made = sns_signing.signing_key()
        sns_signing.signing_key.cache_clear()
        read = sns_signing.signing_key()
        # And once more after the file was damaged
        sns_signing.signing_key_file().write_bytes(b"not a key")
        sns_signing.signing_key.cache_clear()
        remade = sns_signing.signing_key()
    finally:
        sns_signing.signing_key.cache_clear()

    # Then the second is the first, read back; the third is new, and kept
    assert made.key_size == remade.key_size == sns_signing.SIGNING_KEY_BITS
    assert read.private_numbers() == made.private_numbers()
    assert remade.private_numbers() != made.private_numbers()
    assert sns_signing.signing_key_file().read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_moto_finds_an_actions_method_among_the_names_method_names_from_class_lists(pipeline: LocalPipeline) -> None:
    # Reliance: BaseResponse.call_action looks the action up in method_names_from_class(its class),
    # bound by name in moto.core.responses (kept per class here).
    kept = moto_responses_module.method_names_from_class
    original = kept.__wrapped__
    asked: list[type] = []

    def recording(clazz: type) -> list[str]:
        asked.append(clazz)
        names: list[str] = kept(clazz)
        return names

    moto_responses_module.method_names_from_class = recording
    try:
        pipeline.client("sqs").list_queues()
    finally:
        moto_responses_module.method_names_from_class = kept
    assert SQSResponse in asked
    assert kept.cache_info().currsize > 0
    assert kept(SQSResponse) == original(SQSResponse)
    assert "list_queues" in original(SQSResponse)


def create_table_keyed_by_id(dynamodb: Any, name: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_update_expressions_parse_once_and_their_tree_is_only_read(pipeline: LocalPipeline) -> None:
    # Reliance: moto parses an UpdateItem's expression with UpdateExpressionParser.make (kept per
    # expression here), and its validator works on a deep copy of the tree: the kept tree is never
    # changed by the updates that use it.
    expression = "SET #s = :s, updatedAt = :now ADD executions :runs REMOVE message"
    tree = UpdateExpressionParser.make(expression)
    assert UpdateExpressionParser.make(expression) is tree
    before = pickle.dumps(tree)
    dynamodb = pipeline.client("dynamodb")
    create_table_keyed_by_id(dynamodb, "probe")
    for run in ("run-1", "run-2"):
        dynamodb.update_item(
            TableName="probe",
            Key={"id": {"S": "source"}},
            UpdateExpression=expression,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": run}, ":now": {"S": "t"}, ":runs": {"SS": [run]}},
        )
    item = dynamodb.get_item(TableName="probe", Key={"id": {"S": "source"}})["Item"]
    assert (item["status"], sorted(item["executions"]["SS"])) == ({"S": "run-2"}, ["run-1", "run-2"])
    assert pickle.dumps(tree) == before
    table = dynamodb_backends[LOCAL_ACCOUNT]["us-east-1"].get_table("probe")
    validator = UpdateExpressionValidator(
        tree, expression_attribute_names={}, expression_attribute_values={}, item=None, table=table
    )
    assert validator.node_to_validate is not tree
    # Reliance: the validator copies the tree with its module's ``deepcopy`` (from the kept tree's
    # pickle here): the copy is the same tree, and does not carry the pickle.
    assert vars(validators_module)["deepcopy"] is not copy.deepcopy
    assert tree_shape(validator.node_to_validate) == tree_shape(copy.deepcopy(tree))
    assert not moto_overhead._PICKLES.get(validator.node_to_validate)


MOTO_TRAVERSE = vars(DepthFirstTraverser)["traverse"]


def recording(hook: Any, calls: list[tuple[str, int]]) -> Any:
    def recorded(parent: Any, child_id: int) -> Any:
        calls.append((type(parent).__name__, child_id))
        return hook(parent, child_id)

    return recorded


def tree_shape(node: Any) -> list[str]:
    """Each node of an expression's tree, depth first: its class and its own attributes."""
    if not hasattr(node, "__dict__"):
        return [repr(node)]
    own = {name: value for name, value in vars(node).items() if name not in {"children", "parent"}}
    shape = [f"{type(node).__name__} {own!r}"]
    for child in getattr(node, "children", None) or []:
        shape += tree_shape(child)
    return shape


@pytest.mark.parametrize(
    "expression",
    [
        "SET #s = :s, firstSeenAt = if_not_exists(firstSeenAt, :now) ADD executions :runs REMOVE message",
        "SET #entry.#entryStatus = :s, #entry.endedAt = :now ADD executions :runs",
        "SET l = list_append(if_not_exists(l, :empty), :l), n = n + :one",
    ],
)
def test_each_validator_pass_visits_the_tree_as_moto_s_own_traversal_does(expression: str) -> None:
    # Reliance: DepthFirstTraverser.traverse is traverse_node_recursively from the root (replaced
    # by one that reads the pass's node types once): every pass of the update validator gives
    # the same tree, with the same hooks called in the same order.
    table = SimpleNamespace(table_key_attrs=["id"], attr=[], attribute_keys=["id"])
    names = {"#s": "status", "#entry": "run:1", "#entryStatus": "status"}
    values = {
        ":s": {"S": "RUNNING"},
        ":now": {"S": "t"},
        ":runs": {"SS": ["r"]},
        ":empty": {"L": []},
        ":l": {"L": [{"S": "x"}]},
        ":one": {"N": "1"},
    }
    item = Item(
        hash_key=DynamoType({"S": "1"}), range_key=None, attrs={"id": {"S": "1"}, "n": {"N": "2"}, "run:1": {"M": {}}}
    )
    shapes = []
    with moto_overhead.reduced():
        assert vars(DepthFirstTraverser)["traverse"] is not MOTO_TRAVERSE
        traversals = (MOTO_TRAVERSE, DepthFirstTraverser.traverse)
    for traverse in traversals:
        node = copy.deepcopy(UpdateExpressionParser.make(expression))
        validator = UpdateExpressionValidator(node, names, values, copy.deepcopy(item), table)
        hooks: list[tuple[str, int]] = []
        passes = []
        for processor in validator.processors:
            processor.pre_processing_of_child = recording(processor.pre_processing_of_child, hooks)
            node = traverse(processor, node)
            passes.append(tree_shape(node))
        shapes.append((passes, hooks))
    assert shapes[0] == shapes[1]


def test_moto_s_server_app_answers_each_signed_request_from_the_app_of_its_service(pipeline: LocalPipeline) -> None:
    # Reliance: DomainDispatcherApplication.get_application gives the Flask app of a request's
    # backend; the gateway's Dispatcher keeps it per signing name.
    dispatcher = Dispatcher()
    environ = {
        "HTTP_AUTHORIZATION": (
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x"
        ),
        "PATH_INFO": "/bucket/key",
        "HTTP_HOST": "127.0.0.1:1",
    }
    first = dispatcher.get_application(environ)
    assert dispatcher.get_application(dict(environ)) is first
    # the very app moto's own lookup gives for that request
    assert DomainDispatcherApplication.get_application(dispatcher, dict(environ)) is first


def test_moto_s_service_apps_run_out_of_debug_mode_and_let_exceptions_reach_the_server() -> None:
    # Reliance: moto's create_backend_app turns Flask's debug mode on (whose request form helper
    # cost 3 % of the engine under load); the gateway's apps turn it off and keep its propagation
    # of exceptions, so an error inside moto still reaches the server as it did.
    assert create_backend_app("sns").debug
    app = backend_app("sns")
    assert not app.debug

    def broken() -> str:
        raise LookupError("inside moto")

    def missing_field() -> str:
        return str(request.files["file"])

    def client_gone() -> str:
        raise ClientDisconnected

    app.add_url_rule("/broken", "broken", broken)
    app.add_url_rule("/form", "form", missing_field, methods=["POST"])
    app.add_url_rule("/gone", "gone", client_gone)
    with pytest.raises(LookupError, match="inside moto"):
        app.test_client().get("/broken")
    with pytest.raises(BadRequestKeyError):
        app.test_client().post("/form", data={"key": "k"})
    # Any other bad request is answered, as in debug mode: a client that hung up mid-body (a
    # sandbox stopped by Ctrl-C) is not a server error with a traceback.
    assert app.test_client().get("/gone").status_code == 400


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


def test_bare_moto_hands_each_element_of_a_json_array_in_s3_to_one_distributed_map_child() -> None:
    # Reliance, unpatched: the split's Maps read their items with ItemReader s3:getObject and
    # ReaderConfig InputType JSON (one child per array element, in order), and pass the parent's
    # execution ARN and the item through ItemSelector.
    items = [{"index": index, "start": index * 10, "end": index * 10 + 10} for index in range(5)]
    definition = {
        "StartAt": "Ranges",
        "States": {
            "Ranges": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket": "items", "Key": "split/scan-ranges.json"},
                },
                "ItemSelector": {"executionArn.$": "$$.Execution.Id", "range.$": "$$.Map.Item.Value"},
                "MaxConcurrency": 2,
                "ToleratedFailureCount": 0,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Range",
                    "States": {"Range": {"Type": "Pass", "End": True}},
                },
                "End": True,
            }
        },
    }
    with bare_moto() as sfn:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="items")
        s3.put_object(Bucket="items", Key="split/scan-ranges.json", Body=json.dumps(items).encode())
        described = bare_run(sfn, "json-items", definition)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    assert [child["range"] for child in output] == items
    assert {child["executionArn"] for child in output} == {described["executionArn"]}


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


@pytest.mark.parametrize("resource", ["startExecution.sync", "startExecution.sync:2"])
def test_a_sync_task_asks_after_its_child_when_the_child_ends(
    pipeline: LocalPipeline, resource: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reliance: moto builds a .sync task's resolver with StateTaskServiceSfn._build_sync_resolver or
    # _build_sync2_resolver(env=...), the StartExecution answer on top of env.stack, and asks it
    # every 0.5 s until it answers; nested_executions wraps the builders so that the resolver waits
    # for the child's end (ChildEndings) and asks once more then.
    sfn = pipeline.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/x"
    # The child waits 2 s of real time (the environment's clock is scaled).
    child = {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Wait", "Seconds": round(2 / DEFAULT_TIME_SCALE), "Next": "Done"},
            "Done": {"Type": "Pass", "Result": {"done": True}, "End": True},
        },
    }
    child_arn = sfn.create_state_machine(name="child", definition=json.dumps(child), roleArn=role)["stateMachineArn"]
    parent = {
        "StartAt": "Run",
        "States": {
            "Run": {
                "Type": "Task",
                "Resource": f"arn:aws:states:::states:{resource}",
                "Parameters": {"StateMachineArn": child_arn, "Input": {}},
                "ResultSelector": {"status.$": "$.Status"},
                "End": True,
            }
        },
    }
    parent_arn = sfn.create_state_machine(name="parent", definition=json.dumps(parent), roleArn=role)["stateMachineArn"]
    asked: list[str] = []
    interpreter_client = state_task_service_sfn.boto_client_for(region="us-east-1", service="stepfunctions")
    interpreter_client.meta.events.register(
        "before-parameter-build.sfn.DescribeExecution", lambda params, **_: asked.append(params["executionArn"])
    )
    # No safety-net ask during the test: only the child's end can wake the task in time.
    monkeypatch.setattr(nested_executions, "_RECHECK_SECONDS", 60.0)
    started = time.monotonic()
    arn = sfn.start_execution(stateMachineArn=parent_arn, name="parent-1")["executionArn"]
    ended = pipeline.wait(arn, timeout=90)
    assert ended.status == "SUCCEEDED", (ended.error, ended.cause)
    assert 2 <= time.monotonic() - started < 10
    assert json.loads(sfn.describe_execution(executionArn=arn)["output"]) == {"status": "SUCCEEDED"}
    # once when started (still running), once when it ended; moto's polling asks four times or more
    assert len(asked) == 2


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


def test_every_interpreter_module_that_builds_clients_or_parses_paths_gets_the_engines_version(
    pipeline: LocalPipeline,
) -> None:
    # Reliance: the modules of moto's interpreter that import boto_client_for by name are all loaded
    # when an environment is entered (interpreter.clients_shared rebinds those it finds), and the
    # ones that import a JSONPath parser by name are json_path and result_path
    # (interpreter.json_paths_compiled_once).
    parser_root = Path(inspect.getfile(boto_client)).parents[2]
    importers = {
        path.relative_to(parser_root).with_suffix("").as_posix().replace("/", ".")
        for path in parser_root.rglob("*.py")
        if "boto_client_for" in path.read_text() and path.name != "boto_client.py"
    }
    assert importers
    for name in importers:
        module = sys.modules.get(f"moto.stepfunctions.parser.{name}")
        assert module is not None, f"{name} is not loaded when the environment starts"
        assert module.boto_client_for is not boto_client_for, name
    parsers = {
        path.relative_to(parser_root).with_suffix("").as_posix().replace("/", ".")
        for path in parser_root.rglob("*.py")
        if re.search(r"^from jsonpath_ng(\.ext)? import parse$", path.read_text(), re.MULTILINE)
    }
    assert parsers == {"asl.utils.json_path", "asl.component.common.path.result_path"}


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


def test_each_component_is_evaluated_with_its_state_machine_and_a_map_child_with_its_parent_s(
    pipeline: LocalPipeline,
) -> None:
    # Reliance: moto evaluates every component through EvalComponent.eval(env), whose context object
    # names the state machine (interpreter.state_machines_tracked reads it), and a Distributed Map's
    # children evaluate with their parent's context; access.py judges their calls by it.
    sfn = pipeline.client("stepfunctions")
    child = {
        "StartAt": "List",
        "States": {
            "List": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sqs:listQueues",
                "Parameters": {},
                "End": True,
            }
        },
    }
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **child},
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="reliance-map", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/x"
    )["stateMachineArn"]
    seen: list[str | None] = []
    events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
    events.register("before-call.sqs.ListQueues", lambda **_: seen.append(current_state_machine()), unique_id="spy")
    try:
        arn = sfn.start_execution(stateMachineArn=machine, name="reliance-1", input=json.dumps({"items": [1, 2]}))[
            "executionArn"
        ]
        assert pipeline.wait(arn, timeout=30).status == "SUCCEEDED"
    finally:
        events.unregister("before-call.sqs.ListQueues", unique_id="spy")
    assert seen == [machine, machine]


def test_a_small_body_read_by_many_at_once_reaches_every_reader_whole(pipeline: LocalPipeline) -> None:
    # Reliance: a spooled buffer in memory says so by SpooledTemporaryFile._rolled (s3_store leaves it
    # in memory, where asking its descriptor would roll it over under a concurrent reader)
    with tempfile.SpooledTemporaryFile() as spooled:
        assert spooled._rolled is False  # type: ignore[attr-defined]
    # And many sandboxes reading one small staged document at once each get all of it, the body
    # left in memory (a rollover would assign the new file before writing it: an empty body)
    body = b'{"columns": ["id", "name", "city"], "types": ["integer", "string"]}\n'
    key = "staging/run/split/schema.json"
    pipeline.upload(key, body)
    stored = s3_backends[LOCAL_ACCOUNT]["aws"].get_object(pipeline.stack.bucket_name, key)
    assert s3_store._file_of(stored) is None
    assert stored._value_buffer._rolled is False
    with gateway_s3_as_write_output(pipeline, "ASIATESTCONCURRENT", max_pool_connections=16) as s3:

        def read(_: int) -> bytes:
            data: bytes = s3.get_object(Bucket=pipeline.stack.bucket_name, Key=key)["Body"].read()
            return data

        with ThreadPoolExecutor(max_workers=16) as pool:
            bodies = list(pool.map(read, range(64)))
    assert bodies == [body] * 64


def test_the_reductions_stay_while_any_block_holds_them_and_go_with_the_last() -> None:
    # Environments may overlap and end in any order: moto's originals come back only when the
    # last block ends, whichever it is.
    def installed() -> tuple[Any, ...]:
        return (
            vars(DepthFirstTraverser)["traverse"],
            vars(UpdateExpressionParser)["make"],
            vars(validators_module)["deepcopy"],
            vars(moto_utils_module)["camelcase_to_underscores"],
            vars(moto_responses_module)["method_names_from_class"],
            mock_random.get_random_string.__func__,
        )

    originals = installed()
    assert originals[0] is MOTO_TRAVERSE
    first, second = moto_overhead.reduced(), moto_overhead.reduced()
    still_open = []
    try:
        first.__enter__()
        still_open.append(first)
        reduced = installed()
        assert all(now is not before for now, before in zip(reduced, originals, strict=True))
        second.__enter__()
        still_open.append(second)
        still_open.remove(first)
        first.__exit__(None, None, None)
        assert installed() == reduced
        still_open.remove(second)
        second.__exit__(None, None, None)
        assert installed() == originals
    finally:
        # A failed assertion must not leave the reductions installed for the tests after it.
        for block in still_open:
            block.__exit__(None, None, None)


def test_an_expression_too_deep_to_copy_fails_in_the_validator_as_in_moto() -> None:
    # A SET of 200 actions is a tree deeper than copy.deepcopy recurses: moto's validator fails
    # on its copy with a RecursionError, and so it does with the reductions installed.
    expression = "SET " + ", ".join(f"a{index} = :v" for index in range(200))
    with pytest.raises(RecursionError):
        copy.deepcopy(UpdateExpressionParser.make(expression))
    with moto_overhead.reduced():
        tree = UpdateExpressionParser.make(expression)
        assert tree is UpdateExpressionParser.make(expression)
        with pytest.raises(RecursionError):
            vars(validators_module)["deepcopy"](tree)


CLAUSE_COUNT = vars(validators_module)["ActionCountValidator"]


@contextmanager
def clause_count_visits() -> Iterator[list[str]]:
    """The nodes the update validator's clause count processes while the block runs."""
    visited: list[str] = []
    original = CLAUSE_COUNT.verify_action_counts

    def recorded(self: Any, node: Any) -> Any:
        visited.append(type(node).__name__)
        return original(self, node)

    CLAUSE_COUNT.verify_action_counts = recorded
    try:
        yield visited
    finally:
        CLAUSE_COUNT.verify_action_counts = original


def test_the_clause_count_of_a_kept_expression_runs_once_and_a_bad_one_fails_every_time(
    pipeline: LocalPipeline,
) -> None:
    # Reliance: the update validator's first pass is ActionCountValidator, which reads the tree
    # only (done once per kept expression here); every other pass still visits every copy.
    dynamodb = pipeline.client("dynamodb")
    create_table_keyed_by_id(dynamodb, "clauses")

    def update(expression: str, run: str) -> None:
        dynamodb.update_item(
            TableName="clauses",
            Key={"id": {"S": "source"}},
            UpdateExpression=expression,
            ExpressionAttributeNames={"#entry": f"run:{run}"},
            ExpressionAttributeValues={":s": {"S": run}, ":runs": {"SS": [run]}},
        )

    # (attribute names of this test's own: the parse cache is the process's)
    latest = f"latest_{uuid.uuid4().hex}"
    good = f"SET #entry = :s, {latest} = :s ADD executions :runs"
    bad = f"SET #entry = :s ADD executions :runs SET {latest} = :s"
    counts: list[int] = []  # the clause count's node visits, update by update
    errors = []
    with clause_count_visits() as counted:
        for expression, run in ((good, "run-1"), (good, "run-2"), (good, "run-3"), (bad, "run-4"), (bad, "run-5")):
            before = len(counted)
            try:
                update(expression, run)
            except botocore.exceptions.ClientError as refused:
                errors.append(refused.response["Error"]["Message"])
            counts.append(len(counted) - before)
    # the good expression was counted on its first update only, and every update was made
    assert counts[0] > 0
    assert counts[1:3] == [0, 0]
    item = dynamodb.get_item(TableName="clauses", Key={"id": {"S": "source"}})["Item"]
    assert item[latest] == {"S": "run-3"}
    assert {"run:run-1", "run:run-2", "run:run-3"} <= set(item)
    assert sorted(item["executions"]["SS"]) == ["run-1", "run-2", "run-3"]
    # the bad one was counted, and refused, on each of its updates, as moto refuses it
    assert counts[3] > 0
    assert counts[4] == counts[3]
    assert len(errors) == 2
    assert errors[0] == errors[1]
    assert 'The "SET" section can only be used once in an update expression' in errors[0]


def test_s3_sends_a_tag_event_only_for_tags(pipeline: LocalPipeline) -> None:
    # Reliance: moto's PutObject sets the new object's tags, none included, through
    # S3Backend.put_object_tagging, which sends "Object Tags Added" (sent here only for tags).
    rule_name = pipeline.stack.rules[0].logical_id
    seen: list[tuple[str, str]] = []
    original = Rule.send_to_targets

    def record(rule: Rule, event: dict[str, Any], transform_input: bool = True) -> None:
        if rule.name == rule_name:
            seen.append((event["detail-type"], event["detail"]["object"]["key"]))

    s3 = pipeline.client("s3")
    bucket = pipeline.stack.bucket_name
    Rule.send_to_targets = record  # type: ignore[method-assign,assignment]
    try:
        s3.put_object(Bucket=bucket, Key="processed/untagged.txt", Body=b"x")
        s3.put_object(Bucket=bucket, Key="processed/tagged.txt", Body=b"x", Tagging="team=data")
        s3.put_object_tagging(
            Bucket=bucket, Key="processed/untagged.txt", Tagging={"TagSet": [{"Key": "team", "Value": "data"}]}
        )
        s3.put_object(Bucket=bucket, Key="processed/tagged.txt", Body=b"y")
        # a copy of a tagged object that replaces its tags with none
        tagged_version = s3.list_object_versions(Bucket=bucket, Prefix="processed/tagged.txt")["Versions"][-1]
        s3.copy_object(
            Bucket=bucket,
            Key="processed/copied.txt",
            CopySource={"Bucket": bucket, "Key": "processed/tagged.txt", "VersionId": tagged_version["VersionId"]},
            TaggingDirective="REPLACE",
        )
    finally:
        Rule.send_to_targets = original  # type: ignore[method-assign]
    assert seen == [
        ("Object Created", "processed/untagged.txt"),
        ("Object Created", "processed/tagged.txt"),
        # a PutObject with tags, and PutObjectTagging, as moto sends them
        ("Object Tags Added", "processed/tagged.txt"),
        ("Object Tags Added", "processed/untagged.txt"),
        # a new version of a tagged object, untagged
        ("Object Created", "processed/tagged.txt"),
        # a copy whose tags (copied from its source) are replaced by none: a change, sent
        ("Object Created", "processed/copied.txt"),
        ("Object Tags Added", "processed/copied.txt"),
    ]
    assert s3.get_object_tagging(Bucket=bucket, Key="processed/untagged.txt")["TagSet"] == [
        {"Key": "team", "Value": "data"}
    ]
    assert s3.get_object_tagging(Bucket=bucket, Key="processed/tagged.txt")["TagSet"] == []
    assert s3.get_object_tagging(Bucket=bucket, Key="processed/copied.txt")["TagSet"] == []


def test_a_copy_another_pass_has_visited_is_counted_again() -> None:
    # The clause count is skipped only for a kept tree's copy as it was made: after another pass
    # (which may replace nodes), it runs.
    expression = f"SET a_{uuid.uuid4().hex} = :a, b = :b ADD executions :runs"
    values = {":a": {"S": "a"}, ":b": {"S": "b"}, ":runs": {"SS": ["r"]}}
    with moto_overhead.reduced(), clause_count_visits() as counted:
        tree = UpdateExpressionParser.make(expression)
        copy_of = vars(validators_module)["deepcopy"]
        CLAUSE_COUNT().traverse(copy_of(tree))
        first = len(counted)
        CLAUSE_COUNT().traverse(copy_of(tree))
        untouched = len(counted) - first
        visited = copy_of(tree)
        visited = validators_module.ExpressionAttributeValueProcessor(values).traverse(visited)
        CLAUSE_COUNT().traverse(visited)
        after_another_pass = len(counted) - first - untouched
    assert first > 0
    assert untouched == 0
    assert after_another_pass == first
