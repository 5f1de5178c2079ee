"""A run as a person reads it: each state's status, attempts and duration, from the execution history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CAUGHT = "CAUGHT"  # failed, and a Catch sent the run down the rejection branch
RUNNING = "RUNNING"

_SCHEDULED = {"LambdaFunctionScheduled", "TaskScheduled"}
_FAILED = {
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionScheduleFailed",
    "LambdaFunctionStartFailed",
    "TaskFailed",
    "TaskTimedOut",
    "TaskStartFailed",
    "TaskSubmitFailed",
}
_SUCCEEDED = {"LambdaFunctionSucceeded", "TaskSucceeded"}


@dataclass
class StateTrace:
    name: str
    type: str
    status: str = RUNNING
    attempts: int = 0
    entered: datetime | None = None
    exited: datetime | None = None
    error: str | None = None
    cause: str | None = None

    @property
    def duration_ms(self) -> int | None:
        if self.entered is None or self.exited is None:
            return None
        return round((self.exited - self.entered).total_seconds() * 1000)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "status": self.status,
            "attempts": self.attempts,
            "durationMs": self.duration_ms,
            "error": self.error,
            "cause": self.cause,
        }


@dataclass
class RunTrace:
    states: list[StateTrace] = field(default_factory=list)
    error: str | None = None
    cause: str | None = None


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def trace_from_history(events: list[dict[str, Any]]) -> RunTrace:
    """Fold a ``GetExecutionHistory`` event list into one entry per state visit."""
    run = RunTrace()
    current: StateTrace | None = None
    for event in events:
        kind: str = event["type"]
        details = _details(event)
        if kind.endswith("StateEntered"):
            current = StateTrace(
                name=details["name"], type=kind.removesuffix("StateEntered"), entered=event["timestamp"]
            )
            run.states.append(current)
        elif current is None:
            pass
        elif kind in _SCHEDULED:
            current.attempts += 1
        elif kind in _FAILED:
            current.error, current.cause = details.get("error"), details.get("cause")
        elif kind in _SUCCEEDED:
            current.error = current.cause = None
        elif kind.endswith("StateExited"):
            current.exited = event["timestamp"]
            current.status = CAUGHT if current.error else SUCCEEDED
        if kind == "ExecutionFailed":
            run.error, run.cause = details.get("error"), details.get("cause")
            if current is not None and current.exited is None:
                current.status = FAILED
                current.exited = event["timestamp"]
                if current.error is None:
                    current.error, current.cause = run.error, run.cause
    return run
