"""What an AWS API request on the wire is: its service, operation and parameters; and AWS's error replies.

The sandboxes' AWS calls reach the engine as HTTP requests (``gateway.py``). To authorize them
as AWS does, the engine needs the call botocore made: ``read_call`` recovers the service (from
the SigV4 credential scope), the operation and the parameters the authorization depends on,
from botocore's own service models:

- ``query`` protocol (SNS, STS): the form body's ``Action`` and its top-level fields;
- ``json`` protocol (SQS, Step Functions, KMS, EventBridge): ``X-Amz-Target`` and the JSON body;
- ``rest-xml`` / ``rest-json`` (S3, Lambda): the operation whose HTTP method and request URI
  match, whose literal query keys are all present and whose required members (URI labels, query
  strings, headers) are all there; the most specific match wins (``CopyObject`` over
  ``PutObject`` when ``x-amz-copy-source`` is sent). Its URI labels, query-string and header
  members are the parameters; bodies of REST calls are not read (no authorization needs them).

``error_reply`` builds the error a service sends, in its protocol's shape, so that botocore in the
sandbox raises what it raises against AWS (``ClientError`` with that ``Error.Code``).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from workflow.local.iam.requests import UnmappedCall
from workflow.local.service_models import reader_session

# Signing names (the credential scope's service) -> botocore's service names, for the services a
# handler may call; any other is refused (its authorization is not modelled either).
SERVICES_BY_SIGNING_NAME = {
    "s3": "s3",
    "sns": "sns",
    "sqs": "sqs",
    "states": "stepfunctions",
    "lambda": "lambda",
    "events": "events",
    "kms": "kms",
    "sts": "sts",
}
_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")


class UnreadableRequest(ValueError):
    """The request is not a SigV4-signed call of a known service and operation."""


@dataclass(frozen=True, slots=True)
class Call:
    """One API call as the engine authorizes it."""

    access_key: str
    service: str  # botocore's name ("stepfunctions")
    operation: str  # "PutObject"
    params: Mapping[str, Any]
    protocol: str
    query_compatible: bool = False

    @property
    def is_head(self) -> bool:
        return self.operation == "HeadObject"


@dataclass(frozen=True, slots=True)
class _RestOperation:
    name: str
    method: str
    pattern: re.Pattern[str]
    literal_query: Mapping[str, str | None]
    uri_members: Mapping[str, str]  # location name -> member
    query_members: Mapping[str, str]
    header_members: Mapping[str, str]  # lower-case header -> member
    required: frozenset[str] = field(default_factory=frozenset)


def signing_scope(environ: Mapping[str, Any]) -> tuple[str, str]:
    """(access key id, signing name) of a SigV4 request (header, or presigned query)."""
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    match = _CREDENTIAL.search(authorization)
    if match is None:
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        credential = query.get("X-Amz-Credential", [""])[0]
        parts = credential.split("/")
        if len(parts) == 5:
            return parts[0], parts[3]
        raise UnreadableRequest("the request is not signed with SigV4")
    return match.group(1), match.group(3)


def read_call(environ: dict[str, Any], body: bytes) -> Call:
    """The call a WSGI request makes; ``body`` is the request body (read by the caller)."""
    access_key, signing_name = signing_scope(environ)
    service = SERVICES_BY_SIGNING_NAME.get(signing_name)
    if service is None:
        raise UnmappedCall(f"calls to the {signing_name} service are not modelled locally")
    model = _service_model(service)
    protocol = model.protocol
    query_compatible = "awsQueryCompatible" in model.metadata
    if protocol == "query":
        form = {name: values[0] for name, values in parse_qs(body.decode(), keep_blank_values=True).items()}
        operation = form.pop("Action", "")
        form.pop("Version", None)
        return Call(access_key, service, _known_operation(model, operation), form, protocol)
    if protocol == "json":
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        operation = target.rpartition(".")[2]
        params = json.loads(body or b"{}")
        if not isinstance(params, dict):
            raise UnreadableRequest("a JSON request body must be an object")
        return Call(access_key, service, _known_operation(model, operation), params, protocol, query_compatible)
    if protocol in ("rest-xml", "rest-json"):
        operation, params = _match_rest(service, environ)
        return Call(access_key, service, operation, params, protocol)
    raise UnmappedCall(f"the {protocol} protocol of {service} is not read locally")


_MODELS_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}


def _service_model(service: str) -> Any:
    model = _MODELS.get(service)
    if model is not None:
        return model  # (every request asks: taking the lock each time made them queue under load)
    # Under a lock: the first requests of a load arrive together, and each would load the model.
    with _MODELS_LOCK:
        if service not in _MODELS:
            _MODELS[service] = reader_session().get_service_model(service)
        return _MODELS[service]


def _known_operation(model: Any, operation: str) -> str:
    if operation not in model.operation_names:
        raise UnreadableRequest(f"{model.service_name} has no operation {operation!r}")
    return operation


@cache
def _rest_operations(service: str) -> tuple[_RestOperation, ...]:
    model = _service_model(service)
    operations = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        path, _, query = operation.http["requestUri"].partition("?")
        pattern = ""
        last = 0
        for match in _LABEL.finditer(path):
            pattern += re.escape(path[last : match.start()])
            pattern += f"(?P<{match.group(1)}>.+)" if match.group(2) else f"(?P<{match.group(1)}>[^/]+)"
            last = match.end()
        pattern += re.escape(path[last:])
        literal: dict[str, str | None] = {}
        for item in filter(None, query.split("&")):
            key, equals, value = item.partition("=")
            literal[key] = value if equals else None
        uri, querystring, headers = {}, {}, {}
        shape = operation.input_shape
        members = shape.members if shape is not None else {}
        for member_name, member in members.items():
            location = member.serialization.get("location")
            wire_name = member.serialization.get("name", member_name)
            if location == "uri":
                uri[wire_name] = member_name
            elif location == "querystring":
                querystring[wire_name] = member_name
            elif location == "header":
                headers[wire_name.lower()] = member_name
        required = frozenset(shape.required_members) if shape is not None else frozenset()
        operations.append(
            _RestOperation(
                name=name,
                method=operation.http["method"],
                pattern=re.compile(f"^{pattern}/?$"),
                literal_query=literal,
                uri_members=uri,
                query_members=querystring,
                header_members=headers,
                required=required,
            )
        )
    return tuple(operations)


def _match_rest(service: str, environ: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    method = str(environ.get("REQUEST_METHOD", "GET"))
    raw_path = str(environ.get("RAW_URI") or environ.get("PATH_INFO", "")).partition("?")[0]
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    headers = {
        key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items() if key.startswith("HTTP_")
    }
    headers.update(
        {
            name: str(environ[key])
            for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length"))
            if environ.get(key)
        }
    )
    best: tuple[int, str, dict[str, Any]] | None = None
    for operation in _rest_operations(service):
        if operation.method != method:
            continue
        matched = operation.pattern.match(raw_path)
        if matched is None:
            continue
        if any(
            key not in query or (value is not None and query[key][0] != value)
            for key, value in operation.literal_query.items()
        ):
            continue
        params: dict[str, Any] = {
            member: unquote(matched.group(wire))
            for wire, member in operation.uri_members.items()
            if matched.group(wire)
        }
        params.update({member: query[wire][0] for wire, member in operation.query_members.items() if wire in query})
        params.update({member: headers[wire] for wire, member in operation.header_members.items() if wire in headers})
        if not operation.required <= params.keys():
            continue
        score = 100 * len(operation.literal_query) + len(operation.required)
        if best is None or score > best[0]:
            best = (score, operation.name, params)
    if best is None:
        raise UnreadableRequest(f"no {service} operation answers {method} {raw_path}")
    return best[1], best[2]


# -- error replies ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def error_reply(call: Call, status: int, code: str, message: str) -> Reply:
    """The error ``call``'s service sends, shaped by its protocol (what botocore parses into ``Error``)."""
    request_id = str(uuid.uuid4())
    if call.protocol == "rest-xml":
        if call.is_head or call.operation.startswith("Head"):
            # A HEAD response has no body: botocore sees only the status (Error.Code "403").
            return Reply(status, [("x-amz-request-id", request_id)], b"")
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId></Error>"
        )
        return Reply(status, [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], body.encode())
    if call.protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return Reply(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode())
    if call.protocol == "json":
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", request_id)]
        if call.query_compatible:
            headers.append(("x-amzn-query-error", f"{code};Sender"))
        return Reply(status, headers, json.dumps({"__type": code, "message": message}).encode())
    return Reply(
        status,
        [("Content-Type", "application/json"), ("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)],
        json.dumps({"Type": "User", "Message": message}).encode(),
    )
