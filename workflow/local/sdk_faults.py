"""Faults in the AWS calls a handler makes: throttling, service errors, timeouts.

A ``Fault`` (``lambdas.py``) makes a whole invocation fail. These go one level down: a
``before-call`` hook on the default session answers one API call *of one function* (``s3``
``GetObject`` from Fetch, ``sns`` ``Publish`` from Notify) with a service error or a connection
failure, so the handler's own error translation (``tasks/common/aws.py``) is what decides how
the workflow sees it. The answer comes after the SDK's own retries would have given up: it is the
error the handler's code receives.

Calls made by the interpreter itself, or by a test, are never touched: the emulator says which
function's handler runs on the calling thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

BEFORE_CALL = "before-call"
CurrentFunction = Callable[[], str | None]


@dataclass
class SdkFault:
    """The next ``remaining`` ``service.operation`` calls of ``function`` fail."""

    function: str
    service: str
    operation: str
    remaining: int
    code: str | None  # a service error code ("SlowDown"); None: a read timeout
    status: int


class SdkFaults:
    """A registry of SDK faults, consulted by a ``before-call`` hook."""

    def __init__(self, current_function: CurrentFunction) -> None:
        self._current_function = current_function
        self._faults: list[SdkFault] = []
        self._lock = threading.Lock()
        self.injected: list[tuple[str, str, str, str]] = []  # (function, service, operation, failure)

    def service_error(
        self, function: str, service: str, operation: str, *, code: str, status: int = 503, times: int = 1
    ) -> None:
        """Answer the next ``times`` calls with the service error ``code`` (HTTP ``status``)."""
        with self._lock:
            self._faults.append(SdkFault(function, service, operation, times, code, status))

    def read_timeout(self, function: str, service: str, operation: str, *, times: int = 1) -> None:
        """Make the next ``times`` calls time out reading the response."""
        with self._lock:
            self._faults.append(SdkFault(function, service, operation, times, None, 0))

    def _take(self, service: str, operation: str) -> SdkFault | None:
        function = self._current_function()
        if function is None:
            return None
        with self._lock:
            for fault in self._faults:
                if (fault.function, fault.service, fault.operation) == (function, service, operation):
                    if fault.remaining <= 0:
                        continue
                    fault.remaining -= 1
                    self.injected.append((function, service, operation, fault.code or "ReadTimeout"))
                    return fault
        return None

    def before_call(self, model: Any, params: dict[str, Any], **_kwargs: Any) -> tuple[AWSResponse, Any] | None:
        """The botocore hook: ``None`` lets the call go on; a reply ends it as the service would."""
        fault = self._take(model.service_model.service_name, model.name)
        if fault is None:
            return None
        if fault.code is None:
            raise ReadTimeoutError(endpoint_url=params.get("url", "local"))
        reply = {
            "Error": {"Code": fault.code, "Message": f"fault injected by the local runtime: {fault.code}"},
            "ResponseMetadata": {"HTTPStatusCode": fault.status, "HTTPHeaders": {}},
        }
        return AWSResponse(params.get("url", ""), fault.status, {}, None), reply
