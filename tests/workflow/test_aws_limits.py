"""AWS's limits on the local engine (``workflow/local/limits.py``; a function's environment:
``template.py``): each one crossed, and AWS's error.

Each limit is tested at its edge where AWS documents one: the largest allowed passes, one byte more
gets the error AWS gives.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from tests.scenarios import run_machine
from workflow.deployment import STACK_NAME
from workflow.local.environment import LocalPipeline
from workflow.local.limits import (
    EVENTS_ENTRIES_BYTES,
    LAMBDA_REQUEST_BYTES,
    LAMBDA_RESPONSE_BYTES,
    S3_KEY_BYTES,
    S3_METADATA_BYTES,
    SNS_MESSAGE_BYTES,
    SNS_SUBJECT_CHARACTERS,
    STATE_PAYLOAD_BYTES,
)
from workflow.local.template import LAMBDA_ENVIRONMENT_BYTES, EnvironmentTooLarge, InvalidEnvironment, load_stack

# Where a test stands in for a function's answer: the first response of botocore's before-send.
ANSWER_INVOKE = "before-send.lambda.Invoke"


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def string_of_json_size(size: int) -> str:
    """A string whose JSON text (quotes included) is ``size`` bytes."""
    return "x" * (size - 2)


def object_of_json_size(size: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (or nothing) and a ``pad`` member, whose compact JSON text is ``size`` bytes."""
    measured = len(json.dumps({**(base or {}), "pad": ""}, separators=(",", ":")))
    padded = {**(base or {}), "pad": "x" * (size - measured)}
    assert len(json.dumps(padded, separators=(",", ":"))) == size
    return padded


def padded_json(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes."""
    document = json.dumps({"pad": "x" * (size - len(json.dumps({"pad": ""})))}).encode()
    assert len(document) == size
    return document


# -- Step Functions: 256 KB payloads -------------------------------------------------------------


@pytest.mark.parametrize(("size", "status"), [(STATE_PAYLOAD_BYTES, "SUCCEEDED"), (STATE_PAYLOAD_BYTES + 1, "FAILED")])
def test_a_state_output_over_256_kb_fails_with_states_data_limit_exceeded(
    pipeline: LocalPipeline, size: int, status: str
) -> None:
    # Given a state whose output is exactly 262,144 bytes, or one byte more
    definition = {
        "StartAt": "Big",
        "States": {"Big": {"Type": "Pass", "Result": object_of_json_size(size), "End": True}},
    }

    # When it runs
    described = run_machine(pipeline, f"output-{size}", definition)

    # Then the limit is AWS's, to the byte, with AWS's error
    assert described["status"] == status
    if status == "FAILED":
        assert described["error"] == "States.DataLimitExceeded"


def test_a_task_input_over_256_kb_after_parameters_fails_before_the_function_runs(pipeline: LocalPipeline) -> None:
    # Given a Task whose Parameters double a 200 KB input into 400 KB
    function = pipeline.function_for_state("Validate")
    function_arn = pipeline.stack.functions[function].arn + ":live"
    definition = {
        "StartAt": "Half",
        "States": {
            "Half": {"Type": "Pass", "Result": object_of_json_size(200_000), "ResultPath": "$.half", "Next": "Call"},
            "Call": {
                "Type": "Task",
                "Resource": function_arn,
                "Parameters": {"first.$": "$.half", "second.$": "$.half"},
                "End": True,
            },
        },
    }

    # When it runs
    described = run_machine(pipeline, "task-input", definition)

    # Then it fails with States.DataLimitExceeded, and the function is never invoked
    assert (described["status"], described["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert pipeline.lambdas.invocations == []


def test_an_execution_input_over_256_kb_is_refused_at_start(pipeline: LocalPipeline) -> None:
    sfn = pipeline.client("stepfunctions")
    machine = pipeline.stack.state_machine_arn

    def compact(size: int) -> str:
        return json.dumps(object_of_json_size(size), separators=(",", ":"))

    # Given an input of exactly 262,144 bytes: the execution starts
    sfn.start_execution(stateMachineArn=machine, name="fits", input=compact(STATE_PAYLOAD_BYTES))
    # When the input is one byte more
    with pytest.raises(ClientError) as raised:
        sfn.start_execution(stateMachineArn=machine, name="too-big", input=compact(STATE_PAYLOAD_BYTES + 1))
    # Then StartExecution refuses it as AWS does
    assert error_of(raised) == ("ValidationException", 400)
    assert "262144" in str(raised.value)


# -- Step Functions: execution names -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("a" * 81, "ValidationException"),
        ("has space", "InvalidName"),
        ("slash/in", "InvalidName"),
        ("bracket[1]", "InvalidName"),
        ("tab\tin", "InvalidName"),
        ("del\x7fin", "InvalidName"),
        ("star*", "InvalidName"),
    ],
)
def test_an_execution_name_outside_aws_rules_is_refused(pipeline: LocalPipeline, name: str, error: str) -> None:
    with pytest.raises(ClientError) as raised:
        pipeline.client("stepfunctions").start_execution(stateMachineArn=pipeline.stack.state_machine_arn, name=name)
    assert error_of(raised) == (error, 400)


def test_an_execution_name_of_80_allowed_characters_starts(pipeline: LocalPipeline) -> None:
    name = ("Ab0_-é" * 14)[:80]
    started = pipeline.client("stepfunctions").start_execution(
        stateMachineArn=pipeline.stack.state_machine_arn, name=name, input="{}"
    )
    assert started["executionArn"].endswith(":" + name)


def test_unnamed_executions_are_named_each_with_a_uuid(pipeline: LocalPipeline) -> None:
    # AWS names an execution started without a name with a UUID; moto's interpreter named each "None"
    # (a second start while the first ran was taken for it, and refused once it had ended).
    sfn = pipeline.client("stepfunctions")
    arns = [
        sfn.start_execution(stateMachineArn=pipeline.stack.state_machine_arn, input="{}")["executionArn"]
        for _ in range(2)
    ]
    names = [arn.rsplit(":", 1)[1] for arn in arns]
    assert len(set(names)) == 2
    assert all(str(uuid.UUID(name)) == name for name in names)


# -- S3: key length and user metadata -------------------------------------------------------------


def test_an_object_key_over_1024_bytes_is_refused(pipeline: LocalPipeline) -> None:
    # Given keys of exactly 1,024 bytes of UTF-8 and one byte more (multi-byte characters count as bytes)
    s3, bucket = pipeline.client("s3"), pipeline.stack.bucket_name
    fits = "processed/" + "é" * ((S3_KEY_BYTES - len("processed/")) // 2)
    assert len(fits.encode()) == S3_KEY_BYTES
    s3.put_object(Bucket=bucket, Key=fits, Body=b"x")

    # When the longer one is written, directly, by copy or by multipart upload
    too_long = fits + "x"
    writes = [
        lambda: s3.put_object(Bucket=bucket, Key=too_long, Body=b"x"),
        lambda: s3.copy_object(Bucket=bucket, Key=too_long, CopySource={"Bucket": bucket, "Key": fits}),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key=too_long),
    ]
    for write in writes:
        with pytest.raises(ClientError) as raised:
            write()
        # Then S3's error answers each
        assert error_of(raised) == ("KeyTooLongError", 400)


def distributed_map_of(items: list[int], pad: str) -> dict[str, Any]:
    """A state machine whose Distributed Map runs a child per item, each returning
    ``{"i": <item>, "pad": <pad>}``, and discards the results (ResultPath and OutputPath null)."""
    return {
        "StartAt": "Items",
        "States": {
            "Items": {"Type": "Pass", "Result": items, "ResultPath": "$.items", "Next": "Fan"},
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Pad",
                    "States": {"Pad": {"Type": "Pass", "Parameters": {"i.$": "$", "pad": pad}, "End": True}},
                },
                "ResultPath": None,
                "OutputPath": None,
                "End": True,
            },
        },
    }


@pytest.mark.parametrize(("items", "status"), [([0, 1, 2], "SUCCEEDED"), ([0, 1, 12], "FAILED")])
def test_a_distributed_map_s_unexported_results_over_256_kb_fail_it_even_when_discarded(
    pipeline: LocalPipeline, items: list[int], status: str
) -> None:
    # Given children whose results, as one compact JSON array, are 262,144 bytes for items 0, 1, 2
    # (and one byte more for 0, 1, 12), a Map that discards them and exports none (no ResultWriter)
    fitting = [{"i": item, "pad": ""} for item in (0, 1, 2)]
    pad = "x" * ((STATE_PAYLOAD_BYTES - len(json.dumps(fitting, separators=(",", ":")))) // 3)
    assert len(json.dumps([{"i": item, "pad": pad} for item in (0, 1, 2)], separators=(",", ":"))) == (
        STATE_PAYLOAD_BYTES
    )

    # When it runs
    described = run_machine(pipeline, f"fan-{items[-1]}", distributed_map_of(items, pad))

    # Then the larger one fails with States.DataLimitExceeded, as AWS fails it: its Map Run
    # succeeded, its Map state did not
    assert described["status"] == status
    events = pipeline.client("stepfunctions").get_execution_history(executionArn=described["executionArn"])
    kinds = [event["type"] for event in events["events"]]
    assert "MapRunSucceeded" in kinds
    if status == "FAILED":
        assert described["error"] == "States.DataLimitExceeded"
        assert "MapStateSucceeded" not in kinds
        assert "MapStateFailed" in kinds
    else:
        assert "MapStateSucceeded" in kinds


@pytest.mark.parametrize(
    ("part_number", "copy_range"),
    [
        (1, "bytes=0-100"),  # one byte past the end of the 100-byte source
        (1, "bytes=100-100"),
        (1, "bytes=50-10"),
        (1, "0-99"),  # not of the form bytes=first-last
        (1, "bytes=0-"),
        (10_001, "bytes=0-99"),
        (0, "bytes=0-99"),
    ],
)
def test_an_upload_part_copy_outside_s3_s_rules_is_refused(
    pipeline: LocalPipeline, part_number: int, copy_range: str
) -> None:
    # Given a 100-byte object, and a multipart upload
    s3, bucket = pipeline.client("s3"), pipeline.stack.bucket_name
    s3.put_object(Bucket=bucket, Key="staging/part-source", Body=b"x" * 100)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="staging/joined")["UploadId"]

    # When a part is copied with a range beyond it, malformed, or a part number outside 1-10,000
    with pytest.raises(ClientError) as raised:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="staging/joined",
            UploadId=upload,
            PartNumber=part_number,
            CopySource={"Bucket": bucket, "Key": "staging/part-source"},
            CopySourceRange=copy_range,
        )

    # Then S3's error answers it, and no part was added
    assert error_of(raised) == ("InvalidArgument", 400)
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="staging/joined", UploadId=upload)


def test_an_upload_part_copy_of_the_source_s_last_byte_or_of_all_of_it_is_a_part_of_that_size(
    pipeline: LocalPipeline,
) -> None:
    # Given a 100-byte object, and a multipart upload
    s3, bucket = pipeline.client("s3"), pipeline.stack.bucket_name
    s3.put_object(Bucket=bucket, Key="staging/part-source", Body=b"x" * 100)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="staging/joined")["UploadId"]
    source = {"Bucket": bucket, "Key": "staging/part-source"}

    # When the last byte is copied as part 10,000, and the whole source (no range) as part 1
    s3.upload_part_copy(
        Bucket=bucket,
        Key="staging/joined",
        UploadId=upload,
        PartNumber=10_000,
        CopySource=source,
        CopySourceRange="bytes=99-99",
    )
    s3.upload_part_copy(Bucket=bucket, Key="staging/joined", UploadId=upload, PartNumber=1, CopySource=source)

    # Then the parts hold one byte and 100
    parts = s3.list_parts(Bucket=bucket, Key="staging/joined", UploadId=upload)["Parts"]
    assert [(part["PartNumber"], part["Size"]) for part in parts] == [(1, 100), (10_000, 1)]


def test_user_metadata_over_2_kb_is_refused(pipeline: LocalPipeline) -> None:
    # Given metadata of exactly 2,048 bytes (names without x-amz-meta-, and values) and one more
    s3, bucket = pipeline.client("s3"), pipeline.stack.bucket_name
    fits = {"a": "x" * 1000, "b": "y" * (S3_METADATA_BYTES - 1000 - 2)}
    s3.put_object(Bucket=bucket, Key="processed/fits.json", Body=b"{}", Metadata=fits)
    too_large = {**fits, "c": ""}
    too_large["a"] += "x"

    # When the larger one is written, directly, by a copy replacing metadata or a multipart upload
    writes = [
        lambda: s3.put_object(Bucket=bucket, Key="processed/big.json", Body=b"{}", Metadata=too_large),
        lambda: s3.copy_object(
            Bucket=bucket,
            Key="processed/big.json",
            CopySource={"Bucket": bucket, "Key": "processed/fits.json"},
            Metadata=too_large,
            MetadataDirective="REPLACE",
        ),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="processed/big.json", Metadata=too_large),
    ]
    for write in writes:
        with pytest.raises(ClientError) as raised:
            write()
        # Then S3's error answers each
        assert error_of(raised) == ("MetadataTooLarge", 400)
    assert s3.head_object(Bucket=bucket, Key="processed/fits.json")["Metadata"] == fits


# -- SNS and EventBridge: message sizes ------------------------------------------------------------


def test_an_sns_message_over_256_kb_is_refused_counting_bytes_and_attributes(pipeline: LocalPipeline) -> None:
    sns, topic = pipeline.client("sns"), pipeline.stack.topic_arn
    # Given a message of exactly 262,144 bytes of 131,072 two-byte characters: it is published
    sns.publish(TopicArn=topic, Message="é" * (SNS_MESSAGE_BYTES // 2))
    attribute = {"k": {"DataType": "String", "StringValue": "v"}}  # 1 + 6 + 1 bytes

    # When one more byte is sent, in the message or in an attribute
    oversized = [
        {"Message": "é" * (SNS_MESSAGE_BYTES // 2) + "x"},
        {"Message": "x" * (SNS_MESSAGE_BYTES - 7), "MessageAttributes": attribute},
    ]
    for request in oversized:
        with pytest.raises(ClientError) as raised:
            sns.publish(TopicArn=topic, **request)
        # Then SNS refuses it
        assert error_of(raised) == ("InvalidParameter", 400)
        assert "Message too long" in str(raised.value)
    sns.publish(TopicArn=topic, Message="x" * (SNS_MESSAGE_BYTES - 8), MessageAttributes=attribute)


@pytest.mark.parametrize(
    "subject",
    ["", "x" * (SNS_SUBJECT_CHARACTERS + 1), "a\nb", "a\rb", "a\tb", "a\x07b", "a\u2028b"],
)
def test_an_sns_subject_that_is_empty_too_long_or_holds_a_line_break_or_control_character_is_refused(
    pipeline: LocalPipeline, subject: str
) -> None:
    # When a message is published with such a subject
    with pytest.raises(ClientError) as raised:
        pipeline.client("sns").publish(TopicArn=pipeline.stack.topic_arn, Message="m", Subject=subject)

    # Then SNS refuses it
    assert error_of(raised) == ("InvalidParameter", 400)
    assert "Invalid parameter: Subject" in str(raised.value)


def test_an_sns_subject_of_100_characters_or_of_other_than_ascii_text_is_published(pipeline: LocalPipeline) -> None:
    sns, topic = pipeline.client("sns"), pipeline.stack.topic_arn
    for subject in ("x" * SNS_SUBJECT_CHARACTERS, "Exécution réussie: données.csv"):
        assert sns.publish(TopicArn=topic, Message="m", Subject=subject)["MessageId"]


def test_put_events_entries_over_256_kb_are_refused(pipeline: LocalPipeline) -> None:
    events = pipeline.client("events")

    def entry(size: int) -> dict[str, Any]:
        # Source and DetailType count their bytes, Detail its own: size bytes in all.
        detail = json.dumps({"pad": "x" * (size - len("app") - len("Padded") - len('{"pad": ""}'))})
        return {"Source": "app", "DetailType": "Padded", "Detail": detail}

    # Given an entry of exactly 256 KB: it is accepted
    assert events.put_events(Entries=[entry(EVENTS_ENTRIES_BYTES)])["FailedEntryCount"] == 0

    # When one byte more is sent
    with pytest.raises(ClientError) as raised:
        events.put_events(Entries=[entry(EVENTS_ENTRIES_BYTES + 1)])

    # Then EventBridge refuses the request
    assert error_of(raised) == ("ValidationException", 400)
    assert "Total size of the entries in the request is over the limit" in str(raised.value)


# -- Lambda: 6 MB synchronous payloads -----------------------------------------------------------


def test_an_invoke_request_over_6_mb_is_refused_before_the_function_runs(pipeline: LocalPipeline) -> None:
    function = pipeline.function_for_state("Validate")
    awslambda = pipeline.client("lambda")
    # Given a request payload of one byte more than 6 MB
    payload = padded_json(LAMBDA_REQUEST_BYTES + 1)

    # When the function is invoked with it
    with pytest.raises(ClientError) as raised:
        awslambda.invoke(FunctionName=function, Qualifier="live", Payload=payload)

    # Then Lambda refuses it with 413, and the function never runs
    assert error_of(raised) == ("RequestEntityTooLargeException", 413)
    assert pipeline.lambdas.invocations == []
    # And a payload of exactly 6 MB reaches the function
    awslambda.invoke(FunctionName=function, Qualifier="live", Payload=padded_json(LAMBDA_REQUEST_BYTES))
    assert [invocation.function for invocation in pipeline.lambdas.invocations] == [function]


@pytest.mark.parametrize(("size", "refused"), [(LAMBDA_RESPONSE_BYTES, False), (LAMBDA_RESPONSE_BYTES + 1, True)])
def test_an_invoke_response_over_6_mb_becomes_lambdas_function_error(
    pipeline: LocalPipeline, size: int, refused: bool
) -> None:
    # Given a function that answers with a response payload of ``size`` bytes
    answer = json.dumps(string_of_json_size(size)).encode()
    assert len(answer) == size

    def respond(request: Any, **_kwargs: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Raw(answer))

    events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
    events.register_first(ANSWER_INVOKE, respond, unique_id="test-large-response")
    try:
        # When it is invoked
        response = pipeline.client("lambda").invoke(FunctionName=pipeline.function_for_state("Validate"))
    finally:
        events.unregister(ANSWER_INVOKE, unique_id="test-large-response")
    body = response["Payload"].read()

    # Then over 6 MB, the caller gets Lambda's function error instead of the payload
    if refused:
        assert response["FunctionError"] == "Unhandled"
        assert json.loads(body)["errorType"] == "Function.ResponseSizeTooLarge"
    else:
        assert "FunctionError" not in response
        assert body == answer


# -- Lambda: environment variables, 4 KB and key rules -------------------------------------------------------


def test_a_function_environment_over_4_kb_is_refused_and_the_function_keeps_its_own(pipeline: LocalPipeline) -> None:
    # Given Fetch's function and its environment
    function = pipeline.function_for_state("Fetch")
    environment = pipeline.lambdas.spec(function).environment

    # When it is given variables of exactly 4 KB, then of one byte more
    exact = object_of_json_size(LAMBDA_ENVIRONMENT_BYTES, environment)
    pipeline.lambdas.set_environment(function, exact)
    with pytest.raises(EnvironmentTooLarge, match="exceeded the 4KB limit"):
        pipeline.lambdas.set_environment(function, object_of_json_size(LAMBDA_ENVIRONMENT_BYTES + 1, environment))

    # Then the first is deployed, and the second refused as Lambda refuses it, the function unchanged
    assert pipeline.lambdas.spec(function).environment == exact


def template_with_environment(
    template: dict[str, Any], tmp_path: Path, environment: Callable[[dict[str, str]], dict[str, str]]
) -> tuple[Path, str, dict[str, str]]:
    """(its file, the function, its variables) of the template whose first function's environment is
    ``environment`` of that function's literal variables."""
    edited = json.loads(json.dumps(template))
    logical_id, function = next(
        (logical_id, body)
        for logical_id, body in edited["Resources"].items()
        if body["Type"] == "AWS::Lambda::Function"
    )
    variables = function["Properties"]["Environment"]["Variables"]
    literal = {name: value for name, value in variables.items() if isinstance(value, str)}
    variables.clear()
    variables.update(environment(literal))
    path = tmp_path / "template.json"
    path.write_text(json.dumps(edited))
    return path, logical_id, variables


@pytest.mark.parametrize(("size", "deploys"), [(LAMBDA_ENVIRONMENT_BYTES, True), (LAMBDA_ENVIRONMENT_BYTES + 1, False)])
def test_a_template_whose_function_environment_is_over_4_kb_would_not_deploy(
    template: dict[str, Any], tmp_path: Path, size: int, deploys: bool
) -> None:
    # Given the template with one function's environment (its literal variables) padded to ``size`` bytes
    path, logical_id, variables = template_with_environment(
        template, tmp_path, lambda literal: object_of_json_size(size, literal)
    )

    # When the local environment deploys it, then 4 KB deploys, and one byte more fails as
    # CloudFormation's CreateFunction would
    if deploys:
        assert load_stack(path, STACK_NAME).functions[logical_id].environment == variables
    else:
        with pytest.raises(EnvironmentTooLarge, match="exceeded the 4KB limit"):
            load_stack(path, STACK_NAME)


@pytest.mark.parametrize(
    ("key", "refusal"),
    [
        ("MY_SETTING_2", None),
        ("AWS_REGION", "reserved keys"),
        ("AWS_LAMBDA_FUNCTION_NAME", "reserved keys"),
        ("TZ", "reserved keys"),
        ("_HANDLER", "reserved keys"),
        ("2ND_SETTING", "must start with a letter"),
        ("X", "must start with a letter"),
        ("MY-SETTING", "must start with a letter"),
    ],
)
def test_a_template_setting_a_reserved_or_malformed_environment_key_would_not_deploy(
    template: dict[str, Any], tmp_path: Path, key: str, refusal: str | None
) -> None:
    # Given the template with one function's environment holding ``key``
    path, logical_id, variables = template_with_environment(template, tmp_path, lambda literal: {**literal, key: "1"})

    # When the local environment deploys it, then a valid key deploys; a reserved or malformed one
    # fails as CloudFormation's CreateFunction would
    if refusal is None:
        assert load_stack(path, STACK_NAME).functions[logical_id].environment == variables
    else:
        with pytest.raises(InvalidEnvironment, match=refusal):
            load_stack(path, STACK_NAME)


def test_a_reserved_environment_key_is_refused_and_the_function_keeps_its_own(pipeline: LocalPipeline) -> None:
    # Given Fetch's function and its environment
    function = pipeline.function_for_state("Fetch")
    environment = pipeline.lambdas.spec(function).environment

    # When it is given a value for a key Lambda sets itself, then it is refused, the function unchanged
    with pytest.raises(InvalidEnvironment, match="Reserved keys used in this request: AWS_REGION"):
        pipeline.lambdas.set_environment(function, {"AWS_REGION": "eu-west-1"})
    assert pipeline.lambdas.spec(function).environment == environment


class _Raw(io.BytesIO):
    """A raw HTTP body as botocore reads it (``read``, and ``stream`` for the whole of it)."""

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.getvalue()
