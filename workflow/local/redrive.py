"""``RedriveExecution`` for the embedded environment, with AWS semantics (moto has none).

AWS restarts a FAILED, TIMED_OUT or ABORTED Standard execution at the state that failed it,
with that state's recorded input, keeping the results and side effects of the states before it;
the execution keeps its ARN, returns to RUNNING, counts ``redriveCount`` and records
``redriveDate``; its history continues after an ``ExecutionRedriven`` event. ``DescribeExecution``
says whether it may be redriven now (``redriveStatus``, with AWS's ``redriveStatusReason``), by the
rules ``RedriveExecution`` applies.

Here, the same moto execution object is started again on a copy of its definition that begins
with a hidden Pass state: it hands the failed state its recorded input and is dropped from the
history. ``$$.Execution.Input`` stays the original input. The action is added to moto's Step
Functions responses, so it answers in-process boto3 calls and the ``pipeline serve`` endpoint
(``aws stepfunctions redrive-execution``) alike. Each reliance on moto internals is guarded by a
test in ``tests/workflow/test_moto_reliances.py``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.core.exceptions import AWSError
from moto.core.responses import ActionResult
from moto.stepfunctions.parser.asl.eval.evaluation_details import StateMachineDetails
from moto.stepfunctions.responses import StepFunctionResponse

from workflow.executions import REDRIVABLE, REDRIVE_WINDOW, details, failed_visit, visits

_RESTART_STATE = "__RedriveFromFailedState"
STANDARD = "STANDARD"  # (moto's StateMachine.type; its sm_type says STANDARD whatever the type)


class ExecutionNotRedrivable(AWSError):
    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


@dataclass
class RedriveRecord:
    count: int = 0
    date: datetime | None = None
    earlier_events: list[dict[str, Any]] = field(default_factory=list)


def failed_state(events: list[dict[str, Any]]) -> tuple[str, str]:
    """(name, recorded input) of the state that failed the execution."""
    failed = failed_visit(visits(events))
    if failed is None:
        raise ExecutionNotRedrivable("the execution failed before it entered a state")
    return failed.name, failed.input or "{}"


def restart_definition(definition: str, state: str, state_input: str) -> str:
    """The definition, entered at ``state`` with ``state_input`` through a hidden Pass state."""
    parsed = json.loads(definition)
    parsed["States"][_RESTART_STATE] = {"Type": "Pass", "Result": json.loads(state_input), "Next": state}
    parsed["StartAt"] = _RESTART_STATE
    return json.dumps(parsed)


def continued_history(
    earlier: list[dict[str, Any]], later: list[dict[str, Any]], record: RedriveRecord
) -> list[dict[str, Any]]:
    """The earlier history, an ``ExecutionRedriven`` event, then what the restart did."""
    redriven = {
        "type": "ExecutionRedriven",
        "timestamp": record.date,
        "executionRedrivenEventDetails": {"redriveCount": record.count},
    }
    kept = [
        event for event in later if event["type"] != "ExecutionStarted" and details(event).get("name") != _RESTART_STATE
    ]
    merged = [*earlier]
    for event in [redriven, *kept]:
        number = len(merged) + 1
        merged.append({**event, "id": number, "previousEventId": number - 1})
    return merged


def redrive_refusal(machine_type: str, status: str, stop_date: datetime | None, now: datetime) -> str | None:
    """Why ``RedriveExecution`` refuses an execution of a ``machine_type`` state machine, ``status``
    and stopped at ``stop_date``, at ``now``: AWS's ``redriveStatusReason``
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html), or
    None when it may be redriven. Only Standard executions are (an Express one, outside a Map Run)."""
    if machine_type != STANDARD:
        return f"Execution is of a {machine_type} state machine and cannot be redriven"
    if status not in REDRIVABLE:
        return f"Execution is {status} and cannot be redriven"
    if stop_date is not None and now - stop_date > REDRIVE_WINDOW:
        return "Execution redrivable period exceeded"
    return None


class Redriver:
    def __init__(self) -> None:
        self.records: dict[str, RedriveRecord] = {}
        self._lock = threading.Lock()

    def redrive(self, execution: Any, now: datetime | None = None) -> datetime:
        """Restart a moto execution object at the state that failed it."""
        now = now or datetime.now(UTC)
        with self._lock:
            refusal = redrive_refusal(execution.state_machine.type, execution.status, execution.stop_date, now)
            if refusal is not None:
                raise ExecutionNotRedrivable(f"{execution.execution_arn}: {refusal}")
            history = list(execution.to_history_output()["events"])
            state, state_input = failed_state(history)
            record = self.records.setdefault(execution.execution_arn, RedriveRecord())
            record.count += 1
            record.date = now
            record.earlier_events = history
            machine = execution.state_machine
            definition = restart_definition(machine.definition, state, state_input)
            execution.get_start_state_machine_details = lambda: StateMachineDetails(
                arn=machine.arn, name=machine.name, typ=machine.sm_type, definition=definition
            )
            restarted_history = type(execution).to_history_output
            execution.to_history_output = lambda: {
                "events": continued_history(record.earlier_events, restarted_history(execution)["events"], record)
            }
            execution.exec_worker = None
            execution.error = execution.cause = execution.stop_date = execution.output = None
            execution.start()
        return now


@contextmanager
def installed(redriver: Redriver) -> Iterator[Redriver]:
    """Teach moto's Step Functions responses ``RedriveExecution`` and the redrive fields."""
    original_describe = StepFunctionResponse.describe_execution

    def redrive_execution(self: StepFunctionResponse) -> ActionResult:
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        return ActionResult({"redriveDate": redriver.redrive(execution)})

    def describe_execution(self: StepFunctionResponse) -> ActionResult:
        result = original_describe(self)
        described = result.result
        if not isinstance(described, dict):
            return result
        record = redriver.records.get(described["executionArn"])
        if record is not None:
            described["redriveCount"] = record.count
            described["redriveDate"] = record.date
        machine_type = self.stepfunction_backend.describe_state_machine(described["stateMachineArn"]).type
        if machine_type == STANDARD:
            # (an Express execution is not described on AWS)
            refusal = redrive_refusal(machine_type, described["status"], described.get("stopDate"), datetime.now(UTC))
            described["redriveStatus"] = "REDRIVABLE" if refusal is None else "NOT_REDRIVABLE"
            if refusal is not None:
                described["redriveStatusReason"] = refusal
        return result

    StepFunctionResponse.redrive_execution = redrive_execution  # type: ignore[attr-defined]
    StepFunctionResponse.describe_execution = describe_execution  # type: ignore[method-assign]
    try:
        yield redriver
    finally:
        del StepFunctionResponse.redrive_execution  # type: ignore[attr-defined]
        StepFunctionResponse.describe_execution = original_describe  # type: ignore[method-assign]
