"""The gateway reads back, from the HTTP request botocore sends, the call botocore made."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse

from tests.sdk_requests import built_request
from workflow.local import service_models, wire
from workflow.local.iam.requests import UnmappedCall

BUCKET = "pipeline-bucket"
TOPIC = "arn:aws:sns:us-east-1:123456789012:Runs"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/Dlq"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:Machine"


def sent(service: str, operation: str, **params: Any) -> tuple[dict[str, Any], bytes]:
    """The WSGI environ and body of the request botocore builds for one call."""
    request = built_request(service, operation, endpoint_url="http://127.0.0.1:9", **params)
    url = urlsplit(request.url)
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "RAW_URI": url.path + (f"?{url.query}" if url.query else ""),
        "PATH_INFO": url.path,
        "QUERY_STRING": url.query,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in request.headers.items():
        text = value.decode() if isinstance(value, bytes) else value
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE",) else f"HTTP_{key}"] = text
    return environ, body


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        (
            "s3",
            "get_object",
            {"Bucket": BUCKET, "Key": "incoming/a b+c.csv"},
            ("GetObject", {"Key": "incoming/a b+c.csv"}),
        ),
        ("s3", "get_object", {"Bucket": BUCKET, "Key": "k", "VersionId": "v1"}, ("GetObject", {"VersionId": "v1"})),
        ("s3", "head_object", {"Bucket": BUCKET, "Key": "k"}, ("HeadObject", {"Key": "k"})),
        (
            "s3",
            "put_object",
            {"Bucket": BUCKET, "Key": "staging/x", "Body": b"x", "ServerSideEncryption": "AES256", "IfNoneMatch": "*"},
            ("PutObject", {"ServerSideEncryption": "AES256", "IfNoneMatch": "*"}),
        ),
        (
            "s3",
            "copy_object",
            {"Bucket": BUCKET, "Key": "processed/x", "CopySource": {"Bucket": BUCKET, "Key": "staging/x"}},
            ("CopyObject", {"Key": "processed/x"}),
        ),
        ("s3", "create_multipart_upload", {"Bucket": BUCKET, "Key": "k"}, ("CreateMultipartUpload", {"Key": "k"})),
        (
            "s3",
            "upload_part",
            {"Bucket": BUCKET, "Key": "k", "UploadId": "u", "PartNumber": 2, "Body": b"x"},
            ("UploadPart", {"UploadId": "u", "PartNumber": "2"}),
        ),
        (
            "s3",
            "upload_part_copy",
            {"Bucket": BUCKET, "Key": "k", "UploadId": "u", "PartNumber": 1, "CopySource": f"{BUCKET}/staging/x"},
            ("UploadPartCopy", {"UploadId": "u"}),
        ),
        (
            "s3",
            "complete_multipart_upload",
            {"Bucket": BUCKET, "Key": "k", "UploadId": "u", "MultipartUpload": {"Parts": []}},
            ("CompleteMultipartUpload", {"UploadId": "u"}),
        ),
        ("s3", "abort_multipart_upload", {"Bucket": BUCKET, "Key": "k", "UploadId": "u"}, ("AbortMultipartUpload", {})),
        ("s3", "list_objects_v2", {"Bucket": BUCKET, "Prefix": "staging/"}, ("ListObjectsV2", {"Prefix": "staging/"})),
        ("sns", "publish", {"TopicArn": TOPIC, "Message": "m"}, ("Publish", {"TopicArn": TOPIC})),
        ("sqs", "send_message", {"QueueUrl": QUEUE, "MessageBody": "m"}, ("SendMessage", {"QueueUrl": QUEUE})),
        (
            "stepfunctions",
            "start_execution",
            {"stateMachineArn": MACHINE, "name": "n"},
            ("StartExecution", {"stateMachineArn": MACHINE}),
        ),
        (
            "lambda",
            "invoke",
            {"FunctionName": "Fn", "Qualifier": "live", "Payload": b"{}"},
            ("Invoke", {"FunctionName": "Fn", "Qualifier": "live"}),
        ),
    ],
)
def test_the_call_is_read_back_from_the_request_botocore_sends(
    service: str, operation: str, params: dict[str, Any], expected: tuple[str, dict[str, Any]]
) -> None:
    # Given the HTTP request botocore builds for a call
    environ, body = sent(service, operation, **params)

    # When the gateway reads it
    call = wire.read_call(environ, body)

    # Then it is that call, by that caller, with the parameters authorization depends on
    name, subset = expected
    assert (call.access_key, call.service, call.operation) == ("ASIATESTKEY", service, name)
    assert subset.items() <= {key: str(value) for key, value in call.params.items()}.items()
    if service == "s3":
        assert call.params["Bucket"] == BUCKET


def test_the_copy_source_reaches_the_checks_in_the_header_s_form() -> None:
    environ, body = sent(
        "s3", "copy_object", Bucket=BUCKET, Key="p", CopySource={"Bucket": BUCKET, "Key": "s t", "VersionId": "v"}
    )

    call = wire.read_call(environ, body)

    assert call.params["CopySource"] == f"{BUCKET}/s%20t?versionId=v"


def test_a_service_that_is_not_modelled_is_refused() -> None:
    environ, body = sent("dynamodb", "list_tables")

    with pytest.raises(UnmappedCall, match="dynamodb"):
        wire.read_call(environ, body)


def test_an_unsigned_request_is_unreadable() -> None:
    with pytest.raises(wire.UnreadableRequest):
        wire.read_call({"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": ""}, b"")


@pytest.mark.parametrize(
    ("service", "operation", "params", "code_header"),
    [
        ("s3", "get_object", {"Bucket": BUCKET, "Key": "k"}, None),
        ("sns", "publish", {"TopicArn": TOPIC, "Message": "m"}, None),
        ("sqs", "send_message", {"QueueUrl": QUEUE, "MessageBody": "m"}, "x-amzn-query-error"),
        ("stepfunctions", "start_execution", {"stateMachineArn": MACHINE}, None),
        ("lambda", "invoke", {"FunctionName": "Fn"}, "x-amzn-ErrorType"),
    ],
)
def test_an_error_reply_is_parsed_by_botocore_into_that_error_code(
    service: str, operation: str, params: dict[str, Any], code_header: str | None
) -> None:
    # Given the error reply the gateway builds for a call
    environ, body = sent(service, operation, **params)
    reply = wire.error_reply(wire.read_call(environ, body), 403, "AccessDenied", "not you")

    # When botocore receives it
    client = boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )

    def answer(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, reply.status, dict(reply.headers), _Raw(reply.body))

    client.meta.events.register("before-send", answer)
    with pytest.raises(client.exceptions.ClientError) as raised:
        getattr(client, operation)(**params)

    # Then the SDK raises that error, with that message
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert raised.value.response["Error"]["Message"] == "not you"
    if code_header is not None:
        assert any(name == code_header for name, _ in reply.headers)


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def test_requests_are_read_against_models_no_client_has_rewritten() -> None:
    # Given an S3 client built by the engine, through the loader its sessions share (building it
    # rewrites S3's model: its request URIs lose their {Bucket})
    session = botocore.session.get_session()
    session.register_component("data_loader", service_models.botocore_loader())
    session.create_client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")

    # When a request is read
    environ, body = sent("s3", "get_object", Bucket=BUCKET, Key="incoming/x.csv")
    call = wire.read_call(environ, body)

    # Then the bucket is still read from the path
    assert (call.operation, call.params["Bucket"], call.params["Key"]) == ("GetObject", BUCKET, "incoming/x.csv")
