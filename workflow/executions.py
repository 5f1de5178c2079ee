"""Step Functions executions as AWS defines them, and the one reader of their history.

Everything that looks at a run reads it here, local or deployed: the emulator (its redrive and the
``pipeline run`` report), the operations client (``executions``, ``show``, ``redrive``), the cost
model (state transitions) and the stack (the status-change event, the console link). It is a pure
fold over the ``GetExecutionHistory`` format plus the statuses, names and links AWS gives
executions: a client is passed in, and nothing here imports an AWS SDK or the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# Execution statuses, as DescribeExecution and ListExecutions report them.
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
ABORTED = "ABORTED"
PENDING_REDRIVE = "PENDING_REDRIVE"
STATUSES = (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE)
TERMINAL = frozenset({SUCCEEDED, FAILED, TIMED_OUT, ABORTED})
# RedriveExecution restarts these, when they stopped less than REDRIVE_WINDOW ago.
REDRIVABLE = frozenset({FAILED, TIMED_OUT, ABORTED})
REDRIVE_WINDOW = timedelta(days=14)
# A state visit that failed and was caught (the run went on through a Catch); a visit's other
# statuses are SUCCEEDED, FAILED and RUNNING.
CAUGHT = "CAUGHT"

# Execution names are at most NAME_LIMIT characters of [A-Za-z0-9_-]. This pipeline names each run
# after its trigger: an API request from its Idempotency-Key (workflow/api_contract.py), a local
# S3 upload from the object's bucket, key and version (workflow/local/eventbridge.py).
NAME_LIMIT = 80
API_NAME_PREFIX = "api-"
S3_NAME_PREFIX = "s3-"

# The EventBridge detail-type of Step Functions' execution status events.
STATUS_CHANGE = "Step Functions Execution Status Change"
_CONSOLE_URL = "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"
HISTORY_PAGE_MAX = 1000  # GetExecutionHistory's largest maxResults

_SCHEDULED = frozenset({"LambdaFunctionScheduled", "TaskScheduled", "ActivityScheduled"})
_FAILED = frozenset(
    {
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionScheduleFailed",
        "LambdaFunctionStartFailed",
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
    }
)
_SUCCEEDED = frozenset({"LambdaFunctionSucceeded", "TaskSucceeded"})
_ENDED_WHILE_RUNNING = {"ExecutionTimedOut": "States.Timeout", "ExecutionAborted": "States.Aborted"}


# -- names and links ----------------------------------------------------------------------------


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of the execution ``name`` of the state machine ``state_machine_arn``."""
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def region_of(arn: str) -> str:
    """The region of a Step Functions execution ARN; ``ValueError`` for anything else."""
    parts = arn.split(":")
    if len(parts) < 8 or parts[0] != "arn" or parts[2] != "states" or parts[5] != "execution" or not parts[3]:
        raise ValueError(f"not a Step Functions execution ARN: {arn!r}")
    return parts[3]


def console_url(arn: str, *, region: str | None = None) -> str:
    """The execution's page in the Step Functions console.

    ``region`` defaults to the ARN's; the stack passes it with an ARN that is only known when the
    event arrives (an EventBridge input path).
    """
    return _CONSOLE_URL.format(region=region or region_of(arn), arn=arn)


def error_message(cause: str | None) -> str | None:
    """The ``errorMessage`` of a Lambda error cause (a JSON document), else the cause as it is."""
    if not cause:
        return cause
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        message: str = parsed["errorMessage"]
        return message
    return cause


def aware(moment: datetime) -> datetime:
    """A datetime with a time zone (a naive one is taken as UTC, as boto3 and moto mean it)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- the history --------------------------------------------------------------------------------


def read_history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    """Every event of the execution, oldest first, across all pages, with inputs and outputs."""
    events: list[dict[str, Any]] = []
    request: dict[str, Any] = {"executionArn": arn, "maxResults": HISTORY_PAGE_MAX, "includeExecutionData": True}
    while True:
        page = sfn.get_execution_history(**request)
        events.extend(page.get("events", []))
        token = page.get("nextToken")
        if not token:
            return events
        request["nextToken"] = token


def details(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's details: the value of whichever ``...EventDetails`` key it has."""
    for name, value in event.items():
        if name.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


@dataclass
class StateVisit:
    """One visit of a state, as the console lists it.

    ``status`` is SUCCEEDED, CAUGHT (failed, and a Catch took the run on), FAILED or RUNNING;
    ``attempts`` counts the Task's invocations, retries included; ``redrive`` is how many redrives
    came before the visit (0 in the original run); ``failed_execution`` marks the state that
    failed the execution, where a redrive restarts.
    """

    name: str
    type: str
    entered: datetime
    input: str | None
    status: str = RUNNING
    attempts: int = 0
    exited: datetime | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    redrive: int = 0
    failed_execution: bool = False

    @property
    def duration_ms(self) -> int | None:
        if self.exited is None:
            return None
        return round((aware(self.exited) - aware(self.entered)).total_seconds() * 1000)

    @property
    def input_bytes(self) -> int | None:
        return None if self.input is None else len(self.input.encode())

    @property
    def output_bytes(self) -> int | None:
        return None if self.output is None else len(self.output.encode())

    @property
    def message(self) -> str | None:
        """The Lambda ``errorMessage`` when the cause is a Lambda error document, else the cause."""
        return error_message(self.cause)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "status": self.status,
            "attempts": self.attempts,
            "durationMs": self.duration_ms,
            "error": self.error,
            "cause": self.cause,
            "message": self.message,
            "inputBytes": self.input_bytes,
            "outputBytes": self.output_bytes,
            "failedExecution": self.failed_execution,
            "redrive": self.redrive,
        }


def visits(events: list[dict[str, Any]]) -> tuple[StateVisit, ...]:
    """Fold a ``GetExecutionHistory`` event list into one entry per state visit, in order.

    A state the execution was running when it failed, timed out or was aborted is FAILED, with
    the execution's error when it has none of its own; the last FAILED visit of an execution that
    ended so is the one that failed the execution.
    """
    found: list[StateVisit] = []
    redrives = 0
    ended_badly = False
    for event in events:
        kind: str = event["type"]
        detail = details(event)
        if kind == "ExecutionRedriven":
            redrives = detail.get("redriveCount") or redrives + 1
            ended_badly = False
        elif kind.endswith("StateEntered"):
            found.append(
                StateVisit(
                    name=detail["name"],
                    type=kind.removesuffix("StateEntered"),
                    entered=event["timestamp"],
                    input=detail.get("input"),
                    redrive=redrives,
                )
            )
        elif kind in {"ExecutionFailed", *_ENDED_WHILE_RUNNING}:
            ended_badly = True
            _end_running_visit(found, event, default_error=_ENDED_WHILE_RUNNING.get(kind))
        elif not found:
            continue
        elif kind in _SCHEDULED:
            found[-1].attempts += 1
        elif kind in _FAILED:
            found[-1].error, found[-1].cause = detail.get("error"), detail.get("cause")
        elif kind in _SUCCEEDED:
            found[-1].error = found[-1].cause = None
        elif kind.endswith("StateExited"):
            found[-1].exited = event["timestamp"]
            found[-1].output = detail.get("output")
            found[-1].status = CAUGHT if found[-1].error else SUCCEEDED
    if ended_badly:
        failed = [visit for visit in found if visit.status == FAILED]
        if failed:
            failed[-1].failed_execution = True
    return tuple(found)


def _end_running_visit(found: list[StateVisit], event: dict[str, Any], *, default_error: str | None) -> None:
    """The execution ended while its last visit ran: that visit failed, with the execution's error."""
    if not found or found[-1].exited is not None:
        return
    visit, detail = found[-1], details(event)
    visit.status = FAILED
    visit.exited = event["timestamp"]
    if visit.error is None:
        visit.error = detail.get("error") or default_error
        visit.cause = detail.get("cause")


def failed_visit(found: tuple[StateVisit, ...]) -> StateVisit | None:
    """The visit of the state that failed the execution (where a redrive restarts), if any."""
    return next((visit for visit in reversed(found) if visit.failed_execution), None)


@dataclass(frozen=True, slots=True)
class Transitions:
    """What Step Functions bills a Standard execution for: a transition per state entered, plus
    one per retry (each Task attempt after the first within one visit)."""

    states_entered: int
    retries: int

    @property
    def total(self) -> int:
        return self.states_entered + self.retries


def transitions(found: tuple[StateVisit, ...]) -> Transitions:
    return Transitions(states_entered=len(found), retries=sum(max(0, visit.attempts - 1) for visit in found))
