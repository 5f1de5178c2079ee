"""The HTTP API of ``pipeline serve``: the deployed API's routes, request and response shapes.

``POST {stage}/executions`` and ``GET {stage}/executions/{name}`` behave as the API Gateway
integrations of ``stacks/api.py`` do, from the same contract (``workflow/api_contract.py``):
requests must be SigV4-signed for ``execute-api`` with the environment's throwaway credentials
(the deployed API uses IAM authorization); a content type other than ``application/json`` is
refused (415: the integrations pass nothing else through); the stage's throttle of the template
applies to each method (a token bucket of its burst, refilled at its rate: past it, 429); bodies
are validated by the same JSON Schema; and executions are started with the same names and input
(the Idempotency-Key read as the template reads it: from the query string, else the header, an
empty one being none). The one identity here is that access key: names are in its namespace, and
``GET`` answers for its runs only, as the deployed API does per caller.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from jsonschema import Draft4Validator
from werkzeug.wrappers import Request, Response

from tasks.common.models import Trigger
from workflow.api_contract import (
    EXECUTIONS_PATH,
    FIELD_RULES,
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    STAGE,
    START_REQUEST_SCHEMA,
    caller_of,
    caller_prefix,
    execution_name,
    public_cause,
    valid_idempotency_key,
)
from workflow.executions import RUNNING, execution_arn
from workflow.local.access import Access

SERVICE = "execute-api"
JSON = "application/json"
MAX_BODY_BYTES = 256 * 1024  # the Step Functions execution input limit
SIGNATURE_WINDOW = timedelta(minutes=15)
_VALIDATOR = Draft4Validator(START_REQUEST_SCHEMA)


@dataclass(frozen=True, slots=True)
class ApiResult:
    status: int
    body: dict[str, Any]


class Throttle:
    """API Gateway's throttle of a stage's methods, applied to each method apart: a token bucket per
    method that holds ``burst`` requests and refills at ``rate`` a second ("Per-API, per-stage
    throttling limits are applied at the API method level":
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # method -> (tokens, when counted)
        self._lock = threading.Lock()

    def take(self, method: str) -> bool:
        """Whether a request of ``method`` (e.g. ``POST /executions``) may go on now, taking a
        token of its bucket, or is throttled."""
        with self._lock:
            now = self._clock()
            tokens, counted = self._buckets.get(method, (float(self._burst), now))
            tokens = min(float(self._burst), tokens + (now - counted) * self._rate)
            allowed = tokens >= 1
            self._buckets[method] = (tokens - 1 if allowed else tokens, now)
            return allowed


def stage_throttle(template: dict[str, Any], clock: Callable[[], float] = time.monotonic) -> Throttle | None:
    """The throttle the template's API stage sets on all its methods (``*`` on ``/*``), if any."""
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::ApiGateway::Stage":
            continue
        for setting in resource.get("Properties", {}).get("MethodSettings", []):
            if (setting.get("HttpMethod"), setting.get("ResourcePath")) == ("*", "/*") and (
                "ThrottlingRateLimit" in setting and "ThrottlingBurstLimit" in setting
            ):
                return Throttle(float(setting["ThrottlingRateLimit"]), int(setting["ThrottlingBurstLimit"]), clock)
    return None


class LocalApi:
    """A WSGI application answering the API routes; ``owns`` tells which requests are its own."""

    def __init__(
        self,
        *,
        sfn: Any,
        bucket_name: str,
        state_machine_arn: str,
        credentials: Credentials,
        access: Access,
        throttle: Throttle | None = None,
    ) -> None:
        self._sfn = sfn
        self._throttle = throttle
        self._access = access
        self._bucket_name = bucket_name
        self._state_machine_arn = state_machine_arn
        self._credentials = credentials
        self._caller = caller_of(credentials.access_key)

    @staticmethod
    def owns(path: str, authorization: str) -> bool:
        return path.startswith(f"/{STAGE}/{EXECUTIONS_PATH}") or f"/{SERVICE}/aws4_request" in authorization

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        result = self.handle(request)
        response = Response(json.dumps(result.body), status=result.status, content_type="application/json")
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        return response(environ, start_response)

    def handle(self, request: Request) -> ApiResult:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if request.method == "POST":
            # (the template's $input.params: a path parameter, then the query string, then a header)
            # An empty key is none: the template names that run after the request, as without one.
            key = request.args.get(IDEMPOTENCY_HEADER, request.headers.get(IDEMPOTENCY_HEADER)) or None
            return self.start(request.get_data(cache=True), key)
        return self.describe(request.path.strip("/").split("/")[2])

    def _refusal(self, request: Request) -> ApiResult | None:
        """API Gateway's answer to a request no integration gets: too large, unsigned, no such route
        or method, a content type the integrations do not map, or throttled (its method's bucket)."""
        return self._unadmitted(request) or self._unrouted(request) or self._throttled(request)

    def _throttled(self, request: Request) -> ApiResult | None:
        method = f"{request.method} /{EXECUTIONS_PATH}" + ("" if request.method == "POST" else "/{name}")
        if self._throttle is not None and not self._throttle.take(method):
            return ApiResult(429, {"message": "Too Many Requests"})
        return None

    def _unadmitted(self, request: Request) -> ApiResult | None:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return ApiResult(413, {"message": f"request body is larger than {MAX_BODY_BYTES} bytes"})
        request.max_content_length = MAX_BODY_BYTES
        if not self._signed(request, request.get_data(cache=True)):
            return ApiResult(403, {"message": "Missing Authentication Token or invalid signature"})
        return None

    @staticmethod
    def _unrouted(request: Request) -> ApiResult | None:
        parts = request.path.strip("/").split("/")
        if parts[:2] != [STAGE, EXECUTIONS_PATH] or len(parts) > 3:
            return ApiResult(404, {"message": f"no route for {request.method} {request.path}"})
        if (request.method, len(parts)) not in {("POST", 2), ("GET", 3)}:
            return ApiResult(405, {"message": f"{request.method} is not allowed on {request.path}"})
        if _media_type(request) != JSON:
            # The integrations map application/json only, and pass nothing else through (NEVER).
            return ApiResult(415, {"message": "Unsupported Media Type"})
        return None

    def start(self, body: bytes, idempotency_key: str | None) -> ApiResult:
        if len(body) > MAX_BODY_BYTES:
            return ApiResult(400, {"message": f"request body is larger than {MAX_BODY_BYTES} bytes"})
        try:
            request = json.loads(body or b"null")
        except ValueError as exc:
            return ApiResult(400, {"message": f"request body is not JSON: {exc}"})
        errors = sorted(_VALIDATOR.iter_errors(request), key=lambda error: list(error.path))
        if errors:
            return ApiResult(400, {"message": "; ".join(_describe(error) for error in errors)})
        if idempotency_key is not None and not valid_idempotency_key(idempotency_key):
            return ApiResult(
                400, {"message": f"{IDEMPOTENCY_HEADER} must match {IDEMPOTENCY_KEY_PATTERN}: {idempotency_key!r}"}
            )
        name = execution_name(self._caller, idempotency_key, str(uuid.uuid4()))
        run_input = json.dumps(
            {
                "bucket": request.get("bucket", self._bucket_name),
                "key": request["key"],
                "versionId": request.get("versionId"),
                "processingType": request.get("processingType"),
                "outputFormat": request.get("outputFormat"),
                "trigger": Trigger.API.value,
            }
        )
        return self._start_execution(name, run_input)

    def _start_execution(self, name: str, run_input: str) -> ApiResult:
        """The integration's StartExecution, as its role: refused, already started, or started."""
        params = {"stateMachineArn": self._state_machine_arn, "name": name, "input": run_input}
        denial = self._access.api_integration("StartExecution", params)
        if denial is not None:
            # Step Functions answers the integration 400 AccessDeniedException; its 4xx mapping passes it on.
            return ApiResult(400, {"message": denial.message})
        try:
            started = self._sfn.start_execution(**params)
        except self._sfn.exceptions.ExecutionAlreadyExists:
            return self._already_started(name, run_input)
        return ApiResult(
            202,
            {"executionArn": started["executionArn"], "name": name, "startDate": started["startDate"].timestamp()},
        )

    def _already_started(self, name: str, run_input: str) -> ApiResult:
        """Step Functions' rule: the same name and input while running is the same execution."""
        arn = execution_arn(self._state_machine_arn, name)
        described = self._sfn.describe_execution(executionArn=arn)
        if described["status"] == RUNNING and json.loads(described["input"]) == json.loads(run_input):
            return ApiResult(202, {"executionArn": arn, "name": name, "startDate": described["startDate"].timestamp()})
        return ApiResult(
            409,
            {
                "message": f"execution {name} already exists (status {described['status']}); "
                "use another Idempotency-Key to start a new run",
                "name": name,
                "executionArn": arn,
            },
        )

    def describe(self, name: str) -> ApiResult:
        missing = ApiResult(404, {"message": f"no execution of yours is named {name}"})
        if not name.startswith(caller_prefix(self._caller)):
            return missing
        arn = execution_arn(self._state_machine_arn, name)
        denial = self._access.api_integration("DescribeExecution", {"executionArn": arn})
        if denial is not None:
            return ApiResult(400, {"message": denial.message})
        try:
            described = self._sfn.describe_execution(executionArn=arn)
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return missing
        stop = described.get("stopDate")
        return ApiResult(
            200,
            {
                "name": described["name"],
                "executionArn": described["executionArn"],
                "status": described["status"],
                "startDate": described["startDate"].timestamp(),
                "stopDate": stop.timestamp() if stop else None,
                "error": described.get("error"),
                "cause": public_cause(described.get("cause")),
                "output": json.loads(described["output"]) if described.get("output") else None,
            },
        )

    def _signed(self, request: Request, body: bytes) -> bool:
        """Verify the SigV4 signature, as IAM authorization of the deployed API does."""
        fields = _authorization_fields(request.headers.get("Authorization", ""))
        if fields is None or not _recent(request.headers.get("X-Amz-Date", "")):
            return False
        scope = fields["Credential"].split("/")
        if len(scope) != 5:
            return False
        access_key, _date, region, service, _terminal = scope
        if service != SERVICE or access_key != self._credentials.access_key:
            return False
        signed = fields["SignedHeaders"].split(";")
        aws_request = AWSRequest(
            method=request.method,
            url=request.url,
            data=body,
            headers={name: request.headers.get(name, "") for name in signed},
        )
        aws_request.context["timestamp"] = request.headers["X-Amz-Date"]
        signer = SigV4Auth(self._credentials, SERVICE, region)
        expected = signer.signature(
            signer.string_to_sign(aws_request, signer.canonical_request(aws_request)), aws_request
        )
        return hmac.compare_digest(expected, fields["Signature"])


def _media_type(request: Request) -> str:
    """The request's media type, ``application/json`` when it names none (as API Gateway takes it).
    Parameters (``; charset=utf-8``) are not compared: how API Gateway matches them is not documented."""
    return (request.headers.get("Content-Type") or JSON).split(";", 1)[0].strip().lower()


def _recent(amz_date: str) -> bool:
    """SigV4 refuses requests signed more than 15 minutes away from now."""
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return False
    return abs(datetime.now(UTC) - signed_at) <= SIGNATURE_WINDOW


def _authorization_fields(header: str) -> dict[str, str] | None:
    algorithm, _, rest = header.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return None
    fields = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
    return fields if {"Credential", "SignedHeaders", "Signature"} <= fields.keys() else None


def _describe(error: Any) -> str:
    where = "/".join(str(part) for part in error.path) or "body"
    if error.validator in {"pattern", "enum", "minLength", "maxLength"} and where in FIELD_RULES:
        return f"{where} must be {FIELD_RULES[where]}: {error.instance!r}"
    return f"{where}: {error.message}"
