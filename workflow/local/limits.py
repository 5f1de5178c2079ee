"""AWS's size and name limits, which moto does not enforce (or not exactly), applied by the engine.

Each limit is what AWS documents, with the error AWS gives when it is crossed:

- Step Functions: a state's input (after ``Parameters``) and output, and a task's result, are at
  most 262,144 bytes of UTF-8, else ``States.DataLimitExceeded``; moto checks results and outputs,
  one byte short (``<``), and never inputs. ``StartExecution``'s input has the same limit
  (``ValidationException``), and its name is 1 to 80 characters with no whitespace, brackets,
  wildcards, special or control characters (``InvalidName``; over 80, ``ValidationException``), which
  moto's interpreter backend does not check.
  https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html,
  https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
- S3: a key is at most 1,024 bytes of UTF-8 (``KeyTooLongError``); the user metadata of a write at
  most 2 KB, the UTF-8 bytes of each name and value (``MetadataTooLarge``). A part of a multipart
  upload is numbered 1 to 10,000, and ``UploadPartCopy``'s source range is ``bytes=first-last``,
  zero-based offsets within the source object (else ``InvalidArgument``, with S3's messages);
  moto checks the part number of ``UploadPart`` only, and cuts a copy range past the source's end
  short, or copies the whole source for a malformed one, where S3 refuses both.
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html,
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html,
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html,
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPartCopy.html
- SNS: a message is at most 262,144 bytes, not characters, its attributes' names, types and
  values included (``InvalidParameter``: "Message too long"); moto counts characters only. A
  subject, when given, is 1 to 100 characters with no line breaks or control characters
  (``InvalidParameter``: "Invalid parameter: Subject"); moto checks its length only.
  https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
- EventBridge: the entries of a ``PutEvents`` are at most 256 KB, counted as AWS documents
  (``ValidationException``). https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
- Lambda: a synchronous invocation's request is at most 6 MB (``RequestEntityTooLargeException``,
  status 413) and its response at most 6 MB (an ``Unhandled`` function error of type
  ``Function.ResponseSizeTooLarge``). https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
  A function's environment variables (4 KB, key names, reserved keys) are checked when the template
  is deployed and when a function's environment is changed (``template.check_environment``).

``installed`` applies them all until the block ends. The moto internals each relies on are guarded
by tests in ``tests/workflow/test_moto_reliances.py``. The Lambda limits are botocore event hooks
(``before-call`` refuses a request before anything runs it, ``before-parse`` replaces a response),
whoever answers the invocation; ``lambda_request_error`` and ``lambda_response`` are the same rules
for a caller that answers invocations without botocore.
"""

from __future__ import annotations

import base64
import io
import json
import re
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from workflow.local.interpreter import (
    StateTask,
    StateTaskLambda,
    StepFunctionsParserBackend,
    state_module,
    state_task_lambda,
    state_task_service,
)

from botocore.awsrequest import AWSResponse
from botocore.hooks import BaseEventHooks
from botocore.response import StreamingBody
from moto.events.exceptions import ValidationException as EventsValidationException
from moto.events.models import EventsBackend
from moto.s3.exceptions import InvalidArgumentError, S3ClientError
from moto.s3.responses import S3Response
from moto.sns.exceptions import InvalidParameterValue
from moto.sns.models import SNSBackend
from moto.stepfunctions.exceptions import InvalidName, NameTooLongException, ValidationException
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

STATE_PAYLOAD_BYTES = 262_144
EXECUTION_NAME_CHARACTERS = 80
S3_KEY_BYTES = 1024
S3_METADATA_BYTES = 2048
S3_PART_NUMBERS = range(1, 10_001)
SNS_MESSAGE_BYTES = 262_144
SNS_SUBJECT_CHARACTERS = 100  # (AWS's page says "less than 100"; AWS takes 100, moto#1503)
EVENTS_ENTRIES_BYTES = 262_144
LAMBDA_REQUEST_BYTES = 6_291_456
LAMBDA_RESPONSE_BYTES = 6_291_556  # what Lambda's own error names: 6 MiB and 100 bytes

LAMBDA_INVOKE_REQUEST = "before-call.lambda.Invoke"
LAMBDA_INVOKE_RESPONSE = "before-parse.lambda.Invoke"

_NAME_FORBIDDEN = set(' <>{}[]?*"#%\\^|~`$&,;:/')
_METADATA_HEADER = "x-amz-meta-"
_LINE_BREAKS_AND_CONTROLS = frozenset({"Cc", "Zl", "Zp"})  # (Unicode categories: \n and \r are Cc)
_COPY_RANGE = re.compile(r"bytes=([0-9]{1,19})-([0-9]{1,19})")


# -- Step Functions ----------------------------------------------------------------------------


def within_state_payload(value: Any) -> bool:
    """Whether ``value`` (a JSON document or its text) fits a state's payload: at most 262,144 bytes,
    as compact JSON (what the execution history records)."""
    text = value if isinstance(value, str) else to_json_str(value, separators=(",", ":"))
    return len(text.encode()) <= STATE_PAYLOAD_BYTES


def check_execution_name(name: str) -> None:
    """Refuse an execution name AWS refuses, with AWS's error."""
    if len(name) > EXECUTION_NAME_CHARACTERS:
        raise NameTooLongException(name)
    if not name or any(_forbidden_in_name(char) for char in name):
        raise InvalidName(f"Invalid Name: '{name}'")


def _forbidden_in_name(char: str) -> bool:
    code = ord(char)
    return (
        char in _NAME_FORBIDDEN
        or char.isspace()
        or code <= 0x1F
        or 0x7F <= code <= 0x9F
        or 0xD800 <= code <= 0xDFFF
        or code in (0xFFFE, 0xFFFF, 0x10FFFF)
    )


def check_execution_input(execution_input: str | None) -> None:
    if execution_input is not None and len(execution_input.encode()) > STATE_PAYLOAD_BYTES:
        raise ValidationException(
            "1 validation error detected: Value at 'input' failed to satisfy constraint: "
            f"Member must have length less than or equal to {STATE_PAYLOAD_BYTES}"
        )


@contextmanager
def state_payloads() -> Iterator[None]:
    """Exact payload limits for states and tasks, inputs after ``Parameters`` included, and
    ``StartExecution``'s name and input checked (an unnamed execution named as AWS names it)."""
    quota_users = (state_module, state_task_lambda, state_task_service)
    original_quotas = [vars(module)["is_within_size_quota"] for module in quota_users]
    original_task_parameters = StateTask._eval_parameters
    original_lambda_parameters = StateTaskLambda._eval_parameters
    original_start = StepFunctionsParserBackend.start_execution

    def task_parameters(self: StateTask, env: Any) -> dict[str, Any]:
        parameters: dict[str, Any] = original_task_parameters(self, env)
        self._verify_size_quota(env, parameters)
        return parameters

    def lambda_parameters(self: StateTaskLambda, env: Any) -> dict[str, Any]:
        parameters: dict[str, Any] = original_lambda_parameters(self, env)
        self._verify_size_quota(env, parameters["Payload"])
        return parameters

    def start_execution(
        self: StepFunctionsParserBackend,
        state_machine_arn: str,
        name: Any = None,
        execution_input: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if name is None:
            # AWS names an unnamed execution with a UUID; moto's interpreter would name it "None",
            # so that a second unnamed start was taken for the first (idempotent, or refused).
            name = str(uuid.uuid4())
        check_execution_name(name)
        check_execution_input(execution_input)
        return original_start(self, state_machine_arn, name, execution_input, *args, **kwargs)

    for module in quota_users:
        vars(module)["is_within_size_quota"] = within_state_payload
    StateTask._eval_parameters = task_parameters  # type: ignore[method-assign]
    StateTaskLambda._eval_parameters = lambda_parameters  # type: ignore[method-assign]
    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]
    try:
        yield
    finally:
        for module, original in zip(quota_users, original_quotas, strict=True):
            vars(module)["is_within_size_quota"] = original
        StateTask._eval_parameters = original_task_parameters  # type: ignore[method-assign]
        StateTaskLambda._eval_parameters = original_lambda_parameters  # type: ignore[method-assign]
        StepFunctionsParserBackend.start_execution = original_start  # type: ignore[method-assign]


# -- S3 ----------------------------------------------------------------------------------------


class KeyTooLongError(S3ClientError):
    code = "KeyTooLongError"
    message = "Your key is too long"


class MetadataTooLarge(S3ClientError):
    code = "MetadataTooLarge"
    message = "Your metadata headers exceed the maximum allowed metadata size."


def user_metadata_bytes(headers: Any) -> int:
    """The size S3 counts of a request's user metadata: each name (without ``x-amz-meta-``) and value."""
    return sum(
        len(name[len(_METADATA_HEADER) :].encode()) + len(str(value).encode())
        for name, value in headers.items()
        if name.lower().startswith(_METADATA_HEADER)
    )


def check_part_copy(part_number: int, copy_range: str | None, source_size: int | None) -> None:
    """S3's rules for an ``UploadPartCopy`` of part ``part_number``, ``copy_range`` (the
    ``x-amz-copy-source-range`` header, if any) of a source of ``source_size`` bytes (None: no
    such source, which S3 answers with its own error)."""
    if part_number not in S3_PART_NUMBERS:
        raise InvalidArgumentError(
            "Part number must be an integer between 1 and 10000, inclusive", "partNumber", str(part_number)
        )
    if copy_range is None:
        return
    matched = _COPY_RANGE.fullmatch(copy_range)
    if matched is None:
        raise InvalidArgumentError(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are "
            "the zero-based offsets of the first and last bytes to copy",
            "x-amz-copy-source-range",
            copy_range,
        )
    first, last = int(matched[1]), int(matched[2])
    if source_size is not None and not first <= last < source_size:
        raise InvalidArgumentError(
            f"Range specified is not valid for source object of size: {source_size}",
            "x-amz-copy-source-range",
            copy_range,
        )


def _copy_source_size(response: S3Response) -> int | None:
    """The size of the object the request's ``x-amz-copy-source`` names (read as moto reads it)."""
    source = urlparse(str(response.headers.get("x-amz-copy-source", "")))
    bucket, _, key = unquote(source.path).lstrip("/").partition("/")
    version_id = parse_qs(source.query).get("versionId", [None])[0]
    try:
        found = response.backend.get_object(bucket, key, version_id=version_id)
    except S3ClientError:
        return None
    return None if found is None else int(found.size)


@contextmanager
def s3_objects() -> Iterator[None]:
    """Key length and user-metadata size limits on every object write (PUT, copy, multipart), and
    the part number and source range of ``UploadPartCopy``."""
    original = S3Response._key_response
    original_part_copy = S3Response.upload_part_copy

    def key_response(self: S3Response, request: Any, full_url: str) -> Any:
        if request.method in {"PUT", "POST"}:
            if len(self.parse_key_name().encode()) > S3_KEY_BYTES:
                raise KeyTooLongError
            if user_metadata_bytes(request.headers) > S3_METADATA_BYTES:
                raise MetadataTooLarge
        return original(self, request, full_url)

    def upload_part_copy(self: S3Response) -> Any:
        copy_range = self.headers.get("x-amz-copy-source-range")
        source_size = _copy_source_size(self) if copy_range is not None else None
        check_part_copy(self._get_int_param("partNumber"), copy_range, source_size)
        return original_part_copy(self)

    S3Response._key_response = key_response  # type: ignore[method-assign]
    S3Response.upload_part_copy = upload_part_copy  # type: ignore[method-assign]
    try:
        yield
    finally:
        S3Response._key_response = original  # type: ignore[method-assign]
        S3Response.upload_part_copy = original_part_copy  # type: ignore[method-assign]


# -- SNS and EventBridge -----------------------------------------------------------------------


def sns_message_bytes(message: str, attributes: dict[str, Any] | None) -> int:
    """A message's size as SNS counts it; ``attributes`` as moto's backend holds them
    (``{name: {"Type", "Value"}}``, a binary value base64-encoded)."""
    size = len(message.encode())
    for name, attribute in (attributes or {}).items():
        value = attribute["Value"]
        value_bytes = base64.b64decode(value) if attribute["Type"].startswith("Binary") else str(value).encode()
        size += len(name.encode()) + len(attribute["Type"].encode()) + len(value_bytes)
    return size


def is_sns_subject(subject: str) -> bool:
    """Whether SNS takes ``subject``: 1 to 100 characters, none a line break or a control character."""
    return 0 < len(subject) <= SNS_SUBJECT_CHARACTERS and not any(
        unicodedata.category(character) in _LINE_BREAKS_AND_CONTROLS for character in subject
    )


def put_events_entry_bytes(entry: dict[str, Any]) -> int:
    """A ``PutEvents`` entry's size as EventBridge counts it."""
    size = 14 if entry.get("Time") is not None else 0
    size += len(str(entry.get("Source", "")).encode()) + len(str(entry.get("DetailType", "")).encode())
    size += len(str(entry.get("Detail") or "").encode())
    size += sum(len(str(resource).encode()) for resource in entry.get("Resources") or [])
    return size


@contextmanager
def messages() -> Iterator[None]:
    """SNS Publish and EventBridge PutEvents size limits.

    Entries of an ``aws.*`` source are exempt: AWS refuses those sources to ``PutEvents`` callers,
    so only the engine sends them, standing in for a service's own events (Step Functions' status
    changes), which PutEvents' limit does not govern.
    """
    original_publish = SNSBackend.publish
    original_put_events = EventsBackend.put_events

    def publish(
        self: SNSBackend,
        message: str,
        arn: str | None,
        phone_number: str | None = None,
        subject: str | None = None,
        **kwargs: Any,
    ) -> str:
        if sns_message_bytes(message, kwargs.get("message_attributes")) > SNS_MESSAGE_BYTES:
            raise InvalidParameterValue("Invalid parameter: Message too long")
        if subject is not None and not is_sns_subject(subject):
            raise InvalidParameterValue("Invalid parameter: Subject")
        published: str = original_publish(self, message, arn, phone_number, subject, **kwargs)
        return published

    def put_events(self: EventsBackend, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        counted = [entry for entry in events if not str(entry.get("Source", "")).startswith("aws.")]
        if sum(put_events_entry_bytes(entry) for entry in counted) > EVENTS_ENTRIES_BYTES:
            raise EventsValidationException("Total size of the entries in the request is over the limit.")
        entries: list[dict[str, Any]] = original_put_events(self, events)
        return entries

    SNSBackend.publish = publish  # type: ignore[method-assign,assignment]
    EventsBackend.put_events = put_events  # type: ignore[method-assign]
    try:
        yield
    finally:
        SNSBackend.publish = original_publish  # type: ignore[method-assign]
        EventsBackend.put_events = original_put_events  # type: ignore[method-assign]


# -- Lambda ------------------------------------------------------------------------------------


def lambda_request_error(payload_bytes: int) -> str | None:
    """Lambda's refusal of a synchronous invocation whose request payload is ``payload_bytes`` long
    (``RequestEntityTooLargeException``, status 413), or ``None`` within the limit."""
    if payload_bytes <= LAMBDA_REQUEST_BYTES:
        return None
    return f"Request must be smaller than {LAMBDA_REQUEST_BYTES} bytes for the InvokeFunction operation"


def lambda_response(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    """A synchronous invocation's (headers, body) as Lambda returns them: a response payload over
    the limit becomes the function error Lambda reports instead."""
    if len(body) <= LAMBDA_RESPONSE_BYTES:
        return headers, body
    error = {
        "errorMessage": f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload size "
        f"({LAMBDA_RESPONSE_BYTES} bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
    return {**headers, "X-Amz-Function-Error": "Unhandled"}, json.dumps(error).encode()


def _body_size(body: Any) -> int:
    """The size of a prepared request's body, bytes or a file, leaving a file where it was."""
    if body is None:
        return 0
    if not hasattr(body, "seek"):
        return len(body)
    start = body.tell()
    end = body.seek(0, io.SEEK_END)
    body.seek(start)
    return int(end - start)


def refuse_large_invoke_request(params: dict[str, Any], **_kwargs: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
    """The ``before-call`` hook: answer an oversized Invoke as Lambda does, so nothing runs it (the
    first answer of ``before-call`` ends the call; every ``before-send`` handler would still run)."""
    message = lambda_request_error(_body_size(params.get("body")))
    if message is None:
        return None
    status, code = 413, "RequestEntityTooLargeException"
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
    body = json.dumps({"Type": "User", "message": message}).encode()
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
    }
    return AWSResponse(params.get("url", ""), status, headers, _Raw(body)), parsed


def limit_invoke_response(response_dict: dict[str, Any], **_kwargs: Any) -> None:
    """The ``before-parse`` hook: replace an oversized successful Invoke response as Lambda does."""
    if response_dict["status_code"] != 200:
        return
    body: bytes = response_dict["body"].read()
    headers, limited = lambda_response(dict(response_dict["headers"]), body)
    response_dict["headers"] = headers
    response_dict["body"] = StreamingBody(io.BytesIO(limited), len(limited))


class _Raw(io.BytesIO):
    """A raw HTTP body as botocore reads it (``stream()``)."""

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.getvalue()


@contextmanager
def lambda_payloads(events: BaseEventHooks) -> Iterator[None]:
    """The 6 MB request and response limits of synchronous Lambda invocations made through ``events``
    (a session's hooks): registered first, the request check runs before whatever answers the call."""
    events.register_first(LAMBDA_INVOKE_REQUEST, refuse_large_invoke_request, unique_id="limit-lambda-request")
    events.register(LAMBDA_INVOKE_RESPONSE, limit_invoke_response, unique_id="limit-lambda-response")
    try:
        yield
    finally:
        events.unregister(LAMBDA_INVOKE_REQUEST, unique_id="limit-lambda-request")
        events.unregister(LAMBDA_INVOKE_RESPONSE, unique_id="limit-lambda-response")


@contextmanager
def installed(events: BaseEventHooks) -> Iterator[None]:
    """Every limit above, for the embedded environment whose default session has ``events``."""
    with ExitStack() as stack:
        stack.enter_context(state_payloads())
        stack.enter_context(s3_objects())
        stack.enter_context(messages())
        stack.enter_context(lambda_payloads(events))
        yield
