"""What one run used, and the pure measures taken from its history and logs.

The measurement itself (driving the embedded environment) is ``measure.py``; this module imports
nothing of the emulator, so pricing it (``estimate.py``) needs no moto.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workflow.cost.prices import SNS_BILLING_CHUNK_BYTES
from workflow.executions import details


@dataclass(frozen=True, slots=True)
class FunctionRun:
    """One function's invocations in a run (retries included) and each one's duration."""

    invocations: int
    durations_ms: tuple[float, ...]

    @property
    def billed_ms(self) -> int:
        """Lambda bills duration rounded up to the next 1 ms, per invocation."""
        return sum(max(1, math.ceil(duration)) for duration in self.durations_ms)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One execution history event as the state machine's CloudWatch log would carry it."""

    type: str
    bytes_with_data: int
    bytes_without_data: int


@dataclass(frozen=True, slots=True)
class RunMeasurement:
    """What one run used.

    ``state_transitions`` follows AWS's definition for Standard workflows ("a state transition each
    time a step of your workflow is executed ... including retries"; "each retry will be charged as
    an additional state transition"): every state entered (Task, Choice, Pass, Wait, Succeed, Fail,
    ... : one ``*StateEntered`` history event each, a state entered twice counting twice) plus every
    retry attempt (each Task attempt after the first within one visit of the state). Starting and
    ending the execution are not states and do not count.
    """

    sample: str
    status: str
    states_entered: int
    retries: int
    functions: Mapping[str, FunctionRun]
    sns_publishes: int
    sns_publish_requests: int
    s3_requests: Mapping[str, int] | None = None
    dynamodb_requests: Mapping[str, int] | None = None
    function_log_bytes: int | None = None
    state_machine_log_events: tuple[LoggedEvent, ...] = ()
    execution_arn: str = ""
    durations_source: str = "local in-process handler times against moto (an estimate of Lambda durations)"

    @property
    def state_transitions(self) -> int:
        return self.states_entered + self.retries

    def as_json(self) -> dict[str, Any]:
        return {
            "sample": self.sample,
            "status": self.status,
            "executionArn": self.execution_arn,
            "stateTransitions": self.state_transitions,
            "statesEntered": self.states_entered,
            "retries": self.retries,
            "lambda": {
                name: {
                    "invocations": run.invocations,
                    "durationsMs": [round(duration, 3) for duration in run.durations_ms],
                    "billedMs": run.billed_ms,
                }
                for name, run in sorted(self.functions.items())
            },
            "durationsSource": self.durations_source,
            "snsPublishes": self.sns_publishes,
            "snsPublishRequests": self.sns_publish_requests,
            "s3Requests": dict(sorted(self.s3_requests.items())) if self.s3_requests is not None else None,
            "dynamodbRequests": (
                dict(sorted(self.dynamodb_requests.items())) if self.dynamodb_requests is not None else None
            ),
            "functionLogBytes": self.function_log_bytes,
            "stateMachineHistoryEvents": len(self.state_machine_log_events),
        }


_EXECUTION_DATA_FIELDS = frozenset(
    {"input", "inputDetails", "output", "outputDetails", "parameters", "result", "resultDetails"}
)


def _epoch_ms(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(float(value) * 1000)


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())


def log_events_from_history(events: Sequence[Mapping[str, Any]], execution_arn: str) -> tuple[LoggedEvent, ...]:
    """Each history event as a Step Functions CloudWatch log record (``id``, ``type``, ``details``,
    ``previous_event_id``, ``event_timestamp``, ``execution_arn``), sized with and without execution data."""
    logged = []
    for event in events:
        event_details = details(event)
        record = {
            "id": str(event.get("id", "")),
            "type": event["type"],
            "details": event_details,
            "previous_event_id": str(event.get("previousEventId", 0)),
            "event_timestamp": str(_epoch_ms(event.get("timestamp", 0))),
            "execution_arn": execution_arn,
        }
        without = {**record, "details": {k: v for k, v in event_details.items() if k not in _EXECUTION_DATA_FIELDS}}
        logged.append(LoggedEvent(str(event["type"]), _json_bytes(record) + 1, _json_bytes(without) + 1))
    return tuple(logged)


def function_log_bytes(text: str) -> int:
    """Bytes of the Powertools JSON lines in ``text`` (the functions' own logs; moto's lines are not)."""
    total = 0
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict) and "level" in parsed and "service" in parsed:
            total += len(line.encode()) + 1
    return total


def sns_billed_requests(subject: str | None, message: str, attributes: Mapping[str, str]) -> int:
    """SNS bills each 64 KB chunk of a publish as one request (message, subject and attributes counted)."""
    size = len(message.encode()) + len((subject or "").encode())
    size += sum(len(name.encode()) + len(value.encode()) for name, value in attributes.items())
    return max(1, math.ceil(size / SNS_BILLING_CHUNK_BYTES))
