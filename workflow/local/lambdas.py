"""Lambda, emulated: the Step Functions interpreter's invokes run the real handlers in sandboxes.

moto's interpreter calls Lambda through boto3. A ``before-send.lambda.Invoke`` hook on the
default session answers each call the way the Lambda service does:

1. **admission**: the function's reserved concurrency (from the template) or, for the others,
   the account's concurrency left unreserved (``concurrency``, ``pipeline run/serve
   --concurrency``). Over it, Lambda refuses the invoke with 429 ``TooManyRequestsException``
   (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html), which Step Functions
   reports as ``Lambda.TooManyRequestsException``, so the definition's retriers are exercised.
2. **the run**, in a sandbox of the function (``sandboxes.py``): its return value as the payload,
   or, when it fails, status 200 with ``X-Amz-Function-Error: Unhandled`` and Lambda's error
   object (``errorType`` becomes the ASL error name): the handler's exception, or the runtime's
   ``Sandbox.Timedout``, ``Runtime.OutOfMemory``, ``Runtime.ExitError``.

Tests reach in the way they reach a deployed function: ``set_environment`` and ``configure``
redeploy it (its next invocation is a cold start), ``inject_fault`` makes its next invocations
fail, ``before_invoke`` runs a hook in the engine before an invocation starts (to change the
world between two steps, as another client could).

``invocations`` records every invoke (throttled ones too) for whoever measures them: the cost
model, the alarms' metrics.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any

from workflow.local.interpreter import StateTaskLambda

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from tasks.common.aws import error_code
from workflow.local.faults import DEFAULT_FAULT
from workflow.local.held import Held
from workflow.local.invoke_url import parse_invoke_url
from workflow.local.java_sdk_errors import java_sdk_error_name
from workflow.local.sandboxes import FunctionSpec, Run, Sandboxes
from workflow.local.service_models import reader_session
from workflow.local.template import LocalFunction, check_environment

InvokeHook = Callable[[dict[str, Any]], None]  # called with the invocation's payload

INVOKE_EVENT = "before-send.lambda.Invoke"
# A fault of this name is a task timeout: the interpreter's call times out, as when a function
# outlives the Task's TimeoutSeconds.
TIMEOUT_FAULT = "States.Timeout"
# AWS's default concurrency quota per account and region.
DEFAULT_ACCOUNT_CONCURRENCY = 1000


class UnknownFunction(LookupError):
    """The workflow invoked a function the template does not define."""


class InvocationTimedOut(TimeoutError):
    """The invocation did not answer in time (the interpreter reports States.Timeout)."""


@dataclass(frozen=True, slots=True)
class Invocation:
    """One invoke of a function, as CloudWatch's Lambda metrics count it.

    ``started``/``ended`` are wall-clock seconds (``time.time()``). ``error_type`` is the
    function error (the handler's or the runtime's, counted by ``Errors``); ``throttled`` invokes
    never ran (counted by ``Throttles``, not ``Invocations``).
    """

    function: str
    qualifier: str | None
    started: float
    ended: float
    duration_ms: float
    error_type: str | None
    throttled: bool = False  # refused for concurrency (Lambda's Throttles metric), never run
    cold: bool = False


@dataclass
class Fault:
    """The next ``remaining`` invocations of a function raise an exception named ``error``."""

    error: str
    remaining: int


class _RawBody:
    """The raw response body botocore reads: ``stream()`` for parsed responses, ``read()`` for the
    streamed ``Payload`` moto's interpreter reads."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_args: Any) -> bytes:
        return self._data


def _function_error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": []}).encode()


class LambdaEmulator:
    """Answers Lambda Invoke calls with the template's functions, run in sandboxes."""

    def __init__(
        self,
        functions: dict[str, LocalFunction],
        *,
        sandboxes: Sandboxes,
        concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY,
    ) -> None:
        self._specs = {
            name: FunctionSpec(
                name=name,
                handler=function.handler,
                environment=dict(function.environment),
                timeout_seconds=float(function.timeout_seconds),
                memory_mb=function.memory_mb,
                ephemeral_storage_mb=function.ephemeral_storage_mb,
                snap_start=function.snap_start,
            )
            for name, function in functions.items()
        }
        self._reserved = {
            name: function.reserved_concurrency
            for name, function in functions.items()
            if function.reserved_concurrency is not None
        }
        self._unreserved = concurrency - sum(self._reserved.values())
        self._sandboxes = sandboxes
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._unreserved_running = 0
        self.invocations: list[Invocation] = []
        self._faults: dict[str, Fault] = {}
        self._hooks: dict[str, list[InvokeHook]] = {}

    # -- deploying and testing ----------------------------------------------------------------

    def spec(self, function_name: str) -> FunctionSpec:
        if function_name not in self._specs:
            raise UnknownFunction(f"no function {function_name!r} in the template")
        return self._specs[function_name]

    def set_environment(self, function_name: str, values: dict[str, str]) -> None:
        """Deploy ``function_name`` again with ``values`` added to its environment: its next
        invocation is a cold start that reads them."""
        spec = self.spec(function_name)
        environment = {**spec.environment, **values}
        check_environment(function_name, environment)  # (UpdateFunctionConfiguration's check)
        self._redeploy(replace(spec, environment=environment))

    def configure(
        self,
        function_name: str,
        *,
        handler: str | None = None,
        timeout_seconds: float | None = None,
        memory_mb: int | None = None,
        ephemeral_storage_mb: int | None = None,
    ) -> None:
        """Deploy ``function_name`` again with other settings, as ``UpdateFunctionConfiguration``
        does; its next invocation is a cold start."""
        spec = self.spec(function_name)
        self._redeploy(
            replace(
                spec,
                handler=spec.handler if handler is None else handler,
                timeout_seconds=spec.timeout_seconds if timeout_seconds is None else timeout_seconds,
                memory_mb=spec.memory_mb if memory_mb is None else memory_mb,
                ephemeral_storage_mb=spec.ephemeral_storage_mb
                if ephemeral_storage_mb is None
                else ephemeral_storage_mb,
            )
        )

    def override(self, module: str, attribute: str, value: Any, *, functions: list[str] | None = None) -> None:
        """Deploy the functions (all, or ``functions``) again with ``module.attribute`` set to ``value``
        in their sandboxes: a test's monkeypatch, which would not reach another process."""
        for name in self._specs if functions is None else functions:
            spec = self.spec(name)
            self._redeploy(replace(spec, overrides=(*spec.overrides, (module, attribute, value))))

    def _redeploy(self, spec: FunctionSpec) -> None:
        with self._lock:
            self._specs[spec.name] = replace(spec, generation=spec.generation + 1)
        self._sandboxes.retire(spec.name)

    def before_invoke(self, function_name: str, hook: InvokeHook) -> None:
        """Call ``hook(payload)`` before each invocation of ``function_name`` runs its handler
        (to change the world between two steps, as another client could)."""
        self.spec(function_name)
        with self._lock:
            self._hooks.setdefault(function_name, []).append(hook)

    def inject_fault(self, function_name: str, *, error: str = DEFAULT_FAULT, times: int = 1) -> None:
        """Make the next ``times`` invocations of ``function_name`` fail with ``error``."""
        self.spec(function_name)
        with self._lock:
            self._faults[function_name] = Fault(error=error, remaining=times)

    def _take_fault(self, function_name: str) -> str | None:
        with self._lock:
            fault = self._faults.get(function_name)
            if fault is None or fault.remaining <= 0:
                return None
            fault.remaining -= 1
            return fault.error

    # -- the service ---------------------------------------------------------------------------

    def before_send(self, request: Any, **_kwargs: Any) -> AWSResponse:
        """The botocore event hook: build the Lambda service's response to one Invoke."""
        name, qualifier = parse_invoke_url(request.url)
        body = request.body or b"{}"
        payload = body.read() if hasattr(body, "read") else body
        status, headers, response_body = self.invoke(
            name, qualifier, payload if isinstance(payload, bytes) else payload.encode()
        )
        return AWSResponse(request.url, status, headers, _RawBody(response_body))

    def invoke(self, name: str, qualifier: str | None, payload: bytes) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of Lambda's answer to one synchronous invoke."""
        spec = self.spec(name)
        with self._lock:
            hooks = list(self._hooks.get(name, ()))
        for hook in hooks:
            hook(json.loads(payload or b"{}"))
        started, clock = time.time(), time.monotonic()
        refusal = self._admit(name)
        if refusal is not None:
            self._record(Invocation(name, qualifier, started, time.time(), 0.0, None, throttled=True))
            message = "Rate Exceeded."
            body = json.dumps({"Reason": refusal, "Type": "User", "message": message}).encode()
            return 429, {"Content-Type": "application/json", "x-amzn-ErrorType": "TooManyRequestsException"}, body
        try:
            fault = self._take_fault(name)
            if fault == TIMEOUT_FAULT:
                self._record(Invocation(name, qualifier, started, time.time(), 0.0, TIMEOUT_FAULT))
                raise InvocationTimedOut(f"{name} timed out (fault injected by the local runtime)")
            if fault is not None:
                run = Run(False, _function_error(fault, f"fault injected by the local runtime: {fault}"), fault, False)
            else:
                arn = f"{self._arn(name)}:{qualifier}" if qualifier else self._arn(name)
                run = self._sandboxes.run(spec, payload, invoked_arn=arn, request_id=str(uuid.uuid4()))
        finally:
            self._leave(name)
        self._record(
            Invocation(
                name, qualifier, started, time.time(), (time.monotonic() - clock) * 1000, run.error_type, cold=run.cold
            )
        )
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "1"}
        if not run.ok:
            headers["X-Amz-Function-Error"] = "Unhandled"
        return 200, headers, run.body

    def _arn(self, name: str) -> str:
        from workflow.deployment import LOCAL_ACCOUNT, REGION  # noqa: PLC0415 - the contract's names

        return f"arn:aws:lambda:{REGION}:{LOCAL_ACCOUNT}:function:{name}"

    def _admit(self, name: str) -> str | None:
        """None when the invoke may run (and is counted); else the reason Lambda throttles it."""
        with self._lock:
            running = self._running.get(name, 0)
            reserved = self._reserved.get(name)
            if reserved is not None:
                if running >= reserved:
                    return "ReservedFunctionConcurrentInvocationLimitExceeded"
            elif self._unreserved_running >= self._unreserved:
                return "ConcurrentInvocationLimitExceeded"
            else:
                self._unreserved_running += 1
            self._running[name] = running + 1
            return None

    def _leave(self, name: str) -> None:
        with self._lock:
            self._running[name] -= 1
            if name not in self._reserved:
                self._unreserved_running -= 1

    def _record(self, invocation: Invocation) -> None:
        with self._lock:
            self.invocations.append(invocation)


# -- how Step Functions names a Lambda service error ----------------------------------------------

_JAVA_SDK_GENERIC = "AWSLambdaException"


def lambda_error_name(client_error: ClientError, modelled: frozenset[str]) -> str:
    """The ASL error name Step Functions gives a Lambda API error.

    Step Functions calls Lambda with the Java SDK: an error Lambda's API models (``Invoke``'s
    error shapes, e.g. ``TooManyRequestsException``) keeps its name, any other
    (``AccessDeniedException``) is the SDK's generic ``AWSLambdaException``; both get the
    ``Lambda.`` prefix (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
    """
    return java_sdk_error_name("Lambda", error_code(client_error), modelled, _JAVA_SDK_GENERIC)


def java_sdk_cause(client_error: ClientError) -> str:
    """The cause Step Functions records: the message, then the Java SDK's service details."""
    error = client_error.response.get("Error", {})
    metadata = client_error.response.get("ResponseMetadata", {})
    return (
        f"{error.get('Message', '')} (Service: AWSLambda; Status Code: {metadata.get('HTTPStatusCode')}; "
        f"Error Code: {error.get('Code')}; Request ID: {metadata.get('RequestId', uuid.uuid4())}; Proxy: null)"
    )


def _name_service_errors() -> Callable[[], None]:
    """Install Step Functions' names of a Lambda Task's API errors; return what restores moto's."""
    invoke = reader_session().get_service_model("lambda").operation_model("Invoke")
    modelled = frozenset(shape.name for shape in invoke.error_shapes)
    original = vars(StateTaskLambda)["_from_error"]

    def from_error(self: StateTaskLambda, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        name = lambda_error_name(ex, modelled)
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(name),
            event_type=HistoryEventType.LambdaFunctionFailed,
            # moto's EventDetails is a total TypedDict that moto itself fills one key at a time.
            event_details=EventDetails(  # type: ignore[typeddict-item]
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=name, cause=java_sdk_cause(ex))
            ),
        )

    StateTaskLambda._from_error = from_error  # type: ignore[method-assign]

    def restore() -> None:
        StateTaskLambda._from_error = original  # type: ignore[method-assign]

    return restore


_SERVICE_ERRORS_NAMED = Held(_name_service_errors)


def service_errors_named() -> AbstractContextManager[None]:
    """Name Lambda API errors of Lambda Task states as Step Functions does, until the block ends
    (and every other such block: environments may overlap).

    moto's ``StateTaskLambda._from_error`` (an internal, guarded by a test) names every
    ``ClientError`` of an invoke ``Exception``; AWS names it ``Lambda.<Code>``
    (``lambda_error_name``), which is what the definition's retriers match.
    """
    return _SERVICE_ERRORS_NAMED.held()
