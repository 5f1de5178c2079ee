"""Faults in the AWS calls a handler makes: throttling, service errors, a service that does not answer.

``inject_fault`` (``lambdas.py``) makes a whole invocation fail. These go one level down: the
gateway (``gateway.py``) answers one API call *of one function* (``s3`` ``GetObject`` from Fetch,
``sns`` ``Publish`` from Notify) with a service error or no answer at all, so the handler's own
error translation (``tasks/common/aws.py``) is what decides how the workflow sees it.

The caller is the function whose sandbox signed the request (its access key id), so a fault
reaches that function's calls and no other, whatever thread makes them. A fault takes one *call*:
every attempt the SDK makes of it (its retries carry the same ``amz-sdk-invocation-id``) gets the
same answer, so what the handler's code receives is the error after the SDK's own retries gave up,
as on AWS when a throttling lasts. "No answer" drops the connection before the response: the SDK
retries, then raises ``ConnectionClosedError``, the failure of a service that does not answer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

_REMEMBERED_CALLS = 10_000


@dataclass
class SdkFault:
    """The next ``remaining`` ``service.operation`` calls of ``function`` fail."""

    function: str
    service: str
    operation: str
    remaining: int
    code: str | None  # a service error code ("SlowDown"); None: no answer
    status: int


class SdkFaults:
    """A registry of SDK faults, consulted by the gateway for each request of a sandbox."""

    def __init__(self) -> None:
        self._faults: list[SdkFault] = []
        self._lock = threading.Lock()
        self._calls: OrderedDict[str, SdkFault] = OrderedDict()  # SDK invocation id -> its fault
        self.injected: list[tuple[str, str, str, str]] = []  # (function, service, operation, failure)

    def service_error(
        self, function: str, service: str, operation: str, *, code: str, status: int = 503, times: int = 1
    ) -> None:
        """Answer the next ``times`` calls with the service error ``code`` (HTTP ``status``)."""
        with self._lock:
            self._faults.append(SdkFault(function, service, operation, times, code, status))

    def read_timeout(self, function: str, service: str, operation: str, *, times: int = 1) -> None:
        """Leave the next ``times`` calls without an answer (the connection drops)."""
        with self._lock:
            self._faults.append(SdkFault(function, service, operation, times, None, 0))

    def take(self, function: str, service: str, operation: str, call_id: str | None) -> SdkFault | None:
        """The fault that answers this request: its call's, or the next one pending for it."""
        with self._lock:
            if call_id is not None and call_id in self._calls:
                return self._calls[call_id]
            for fault in self._faults:
                if (fault.function, fault.service, fault.operation) != (function, service, operation):
                    continue
                if fault.remaining <= 0:
                    continue
                fault.remaining -= 1
                self.injected.append((function, service, operation, fault.code or "NoAnswer"))
                if call_id is not None:
                    self._calls[call_id] = fault
                    while len(self._calls) > _REMEMBERED_CALLS:
                        self._calls.popitem(last=False)
                return fault
        return None
