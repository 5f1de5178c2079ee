"""Lambda, emulated in-process: the Step Functions interpreter's invokes run the real handlers.

moto's interpreter calls Lambda through boto3. A ``before-send.lambda.Invoke`` hook on the
default session answers each call the way the Lambda service does: the handler's return value
as the payload, or, when it raises, status 200 with ``X-Amz-Function-Error: Unhandled`` and
``{"errorType", "errorMessage", "stackTrace"}`` so that ``errorType`` becomes the ASL error name.

Each function gets its own copy of its handler module, imported with that function's template
environment the first time it is invoked: that is its cold start, where handlers read their
settings, as on Lambda.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TextIO
from urllib.parse import unquote, urlparse

from botocore.awsrequest import AWSResponse

from workflow.deployment import REGION
from workflow.local.faults import DEFAULT_FAULT
from workflow.local.template import LocalFunction

Handler = Callable[[dict[str, Any], Any], Any]
InvokeHook = Callable[[dict[str, Any]], None]  # called with the invocation's payload

# Locally there is no CloudWatch agent reading EMF from stdout.
LOCAL_ENVIRONMENT = {
    "POWERTOOLS_METRICS_DISABLED": "true",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
INVOKE_EVENT = "before-send.lambda.Invoke"
# A fault of this name is a task timeout: the interpreter's call times out, as when a function
# outlives its timeout or TimeoutSeconds.
TIMEOUT_FAULT = "States.Timeout"


class UnknownFunction(LookupError):
    """The workflow invoked a function the template does not define."""


class InvocationTimedOut(TimeoutError):
    """The invocation did not answer in time (the interpreter reports States.Timeout)."""


@dataclass(frozen=True, slots=True)
class Invocation:
    function: str
    qualifier: str | None
    started: float
    duration_ms: float
    error_type: str | None
    throttled: bool = False  # refused for concurrency (Lambda's Throttles metric), never run


@dataclass(frozen=True, slots=True)
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class _RawBody(io.BytesIO):
    """The raw response body botocore reads (``stream()`` is what it calls)."""

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.getvalue()


def parse_invoke_url(url: str) -> tuple[str, str | None]:
    """(function name, qualifier) of an Invoke request URL; the name may be given as an ARN."""
    path = urlparse(url).path
    reference = unquote(path.split("/functions/", 1)[1].rsplit("/invocations", 1)[0])
    qualifier = None
    query = urlparse(url).query
    for part in query.split("&"):
        if part.startswith("Qualifier="):
            qualifier = unquote(part.removeprefix("Qualifier="))
    if reference.startswith("arn:"):
        fields = reference.split(":")
        return fields[6], fields[7] if len(fields) > 7 else qualifier
    return reference, qualifier


@dataclass
class Fault:
    """The next ``remaining`` invocations of a function raise an exception named ``error``."""

    error: str
    remaining: int


def raise_fault(error: str) -> None:
    # A class named like the requested error, so the runtime reports it as that errorType.
    raise type(error, (Exception,), {})(f"fault injected by the local runtime: {error}")


class LambdaEmulator:
    """Answers Lambda Invoke calls with the template's functions, run in this process."""

    def __init__(self, functions: dict[str, LocalFunction], *, log_stream: TextIO) -> None:
        self._functions = functions
        self._log_stream = log_stream
        self._handlers: dict[str, Handler] = {}
        self._cold_start = threading.Lock()
        self._record = threading.Lock()
        self.invocations: list[Invocation] = []
        self._faults: dict[str, Fault] = {}
        self._hooks: dict[str, list[InvokeHook]] = {}
        self._overrides: dict[str, dict[str, str]] = {}
        self._current = threading.local()
        self._running: list[str] = []
        self._redirected: list[tuple[logging.StreamHandler[Any], Any]] = []

    @property
    def current_function(self) -> str | None:
        """The function whose handler makes the AWS calls of this thread, if any.

        That is the handler running on this thread; on another thread (boto3's managed transfers
        use a pool), the only handler running, if only one is.
        """
        name: str | None = getattr(self._current, "function", None)
        if name is not None:
            return name
        with self._record:
            return self._running[0] if len(self._running) == 1 else None

    def set_environment(self, function_name: str, values: dict[str, str]) -> None:
        """Deploy ``function_name`` again with ``values`` added to its environment: its next
        invocation is a cold start that reads them."""
        if function_name not in self._functions:
            raise UnknownFunction(f"no function {function_name!r} in the template")
        with self._cold_start:
            self._overrides[function_name] = {**self._overrides.get(function_name, {}), **values}
            self._handlers.pop(function_name, None)

    def before_invoke(self, function_name: str, hook: InvokeHook) -> None:
        """Call ``hook(payload)`` before each invocation of ``function_name`` runs its handler
        (to change the world between two steps, as another client could)."""
        if function_name not in self._functions:
            raise UnknownFunction(f"no function {function_name!r} in the template")
        with self._record:
            self._hooks.setdefault(function_name, []).append(hook)

    def restore_logs(self) -> None:
        """Point the function loggers back where they wrote before this emulator redirected them."""
        for log_handler, stream in reversed(self._redirected):
            log_handler.stream = stream
        self._redirected.clear()

    def inject_fault(self, function_name: str, *, error: str = DEFAULT_FAULT, times: int = 1) -> None:
        """Make the next ``times`` invocations of ``function_name`` fail with ``error``."""
        if function_name not in self._functions:
            raise UnknownFunction(f"no function {function_name!r} in the template")
        with self._record:
            self._faults[function_name] = Fault(error=error, remaining=times)

    def _take_fault(self, function_name: str) -> str | None:
        with self._record:
            fault = self._faults.get(function_name)
            if fault is None or fault.remaining <= 0:
                return None
            fault.remaining -= 1
            return fault.error

    def before_send(self, request: Any, **_kwargs: Any) -> AWSResponse:
        """The botocore event hook: build the Lambda service's response to one Invoke."""
        name, qualifier = parse_invoke_url(request.url)
        body = request.body or b"{}"
        payload = json.loads(body.read() if hasattr(body, "read") else body)
        status_headers, response_body = self.invoke(name, qualifier, payload)
        return AWSResponse(request.url, 200, status_headers, _RawBody(response_body))

    def invoke(self, name: str, qualifier: str | None, payload: Any) -> tuple[dict[str, str], bytes]:
        function = self._functions.get(name)
        if function is None:
            raise UnknownFunction(f"no function {name!r} in the template")
        handler = self._handler(function)
        context = self._context(function, qualifier)
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "1"}
        started = time.monotonic()
        error_type = None
        with self._record:
            hooks = list(self._hooks.get(name, ()))
        for hook in hooks:
            hook(payload)
        fault = self._take_fault(name)
        if fault == TIMEOUT_FAULT:
            with self._record:
                self.invocations.append(Invocation(name, qualifier, started, 0.0, TIMEOUT_FAULT))
            raise InvocationTimedOut(f"{name} timed out (fault injected by the local runtime)")
        self._current.function = name
        with self._record:
            self._running.append(name)
        try:
            if fault is not None:
                raise_fault(fault)
            result = handler(payload, context)
            body = json.dumps(result).encode()
        except Exception as exc:  # noqa: BLE001 - the Lambda runtime reports every handler exception
            error_type = type(exc).__name__
            headers["X-Amz-Function-Error"] = "Unhandled"
            body = json.dumps(
                {
                    "errorType": error_type,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
            ).encode()
        finally:
            self._current.function = None
            with self._record:
                self._running.remove(name)
        with self._record:
            self.invocations.append(
                Invocation(name, qualifier, started, (time.monotonic() - started) * 1000, error_type)
            )
        return headers, body

    def _context(self, function: LocalFunction, qualifier: str | None) -> LambdaContext:
        arn = function.arn + (f":{qualifier}" if qualifier else "")
        return LambdaContext(
            function_name=function.name,
            function_version="1",
            invoked_function_arn=arn,
            memory_limit_in_mb=function.memory_mb,
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{function.name}",
            log_stream_name="local",
            deadline=time.monotonic() + function.timeout_seconds,
        )

    def _handler(self, function: LocalFunction) -> Handler:
        handler = self._handlers.get(function.name)
        if handler is not None:
            return handler
        with self._cold_start:
            if function.name not in self._handlers:
                self._handlers[function.name] = self._load(function)
            return self._handlers[function.name]

    def _load(self, function: LocalFunction) -> Handler:
        module_name, _, attribute = function.handler.rpartition(".")
        spec = importlib.util.find_spec(module_name)
        if spec is None or spec.origin is None:
            raise UnknownFunction(f"handler module {module_name!r} of {function.name} is not importable")
        private_spec = importlib.util.spec_from_file_location(f"{module_name}[{function.name}]", spec.origin)
        if private_spec is None or private_spec.loader is None:
            raise UnknownFunction(f"cannot load {spec.origin}")
        module: ModuleType = importlib.util.module_from_spec(private_spec)
        environment = {**function.environment, **self._overrides.get(function.name, {})}
        with _environment({**environment, **LOCAL_ENVIRONMENT, "AWS_LAMBDA_FUNCTION_NAME": function.name}):
            private_spec.loader.exec_module(module)
        # Function logs go where CloudWatch would keep them, not onto the caller's terminal.
        service = function.environment.get("POWERTOOLS_SERVICE_NAME", "service_undefined")
        for log_handler in logging.getLogger(service).handlers:
            if isinstance(log_handler, logging.StreamHandler):
                self._redirected.append((log_handler, log_handler.stream))
                # Plain assignment: setStream() would flush the previous stream, which a previous
                # environment may have closed.
                log_handler.stream = self._log_stream
        handler: Handler = getattr(module, attribute)
        return handler


@contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` (``None``: unset) for the duration of the block, then restore."""
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
