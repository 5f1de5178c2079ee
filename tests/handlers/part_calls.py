"""Hooks on a moto client's part copies: which finished when, a part held until another is done,
a part that fails. The client is the real one; only the hooked calls are delayed or refused."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

DEADLINE_SECONDS = 10.0


class PartCalls:
    """Watches one client's ``operation`` calls (``UploadPartCopy`` by default) by part number."""

    def __init__(self, client: Any, operation: str = "UploadPartCopy") -> None:
        self.operation = operation
        self.finished: list[int] = []
        self._done: dict[int, threading.Event] = {}
        self._holds: dict[int, int] = {}
        self._failing: set[int] = set()
        self._lock = threading.Lock()
        client.meta.events.register(f"provide-client-params.s3.{operation}", self._starting)
        client.meta.events.register(f"after-call.s3.{operation}", self._finished)

    def hold(self, part: int, *, until: int) -> None:
        """Part ``part`` is sent only once part ``until`` has finished: it fails after the deadline
        when the parts are sent one after the other."""
        self._holds[part] = until

    def fail(self, part: int) -> None:
        """Part ``part`` fails as S3 fails a request it could not serve."""
        self._failing.add(part)

    def _event(self, part: int) -> threading.Event:
        with self._lock:
            return self._done.setdefault(part, threading.Event())

    def _starting(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        part = int(params["PartNumber"])
        context["part_number"] = part
        if part in self._failing:
            error = {"Error": {"Code": "InternalError", "Message": "We encountered an internal error."}}
            raise ClientError(error, self.operation)
        if part in self._holds:
            awaited = self._holds[part]
            if not self._event(awaited).wait(DEADLINE_SECONDS):
                raise AssertionError(f"part {part} waited {DEADLINE_SECONDS:g} s for part {awaited} to finish")

    def _finished(self, context: dict[str, Any], **_: Any) -> None:
        part = context["part_number"]
        with self._lock:
            self.finished.append(part)
        self._event(part).set()
