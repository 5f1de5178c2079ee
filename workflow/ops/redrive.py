"""``pipeline redrive``: restart failed runs at the state that failed them, or say why not.

The deployed service and ``pipeline serve`` (which implements ``RedriveExecution`` with AWS's
semantics) answer the same calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from workflow.executions import REDRIVABLE
from workflow.ops.runs import list_runs, redrive_verdict
from workflow.ops.stack import OperationError, Target, aws_call


@dataclass(frozen=True)
class RedriveOutcome:
    name: str
    redriven: bool
    reason: str
    error: bool = False  # AWS refused a redrive that should have worked

    def line(self) -> str:
        return f"{self.name}: redriven" if self.redriven else f"{self.name}: not redriven: {self.reason}"


def redrive_one(target: Target, execution: str, now: datetime | None = None) -> RedriveOutcome:
    """Redrive one execution if that can help; say why not otherwise (AWS's refusals included)."""
    arn = target.execution_arn(execution)
    described = aws_call(lambda: target.sfn.describe_execution(executionArn=arn))
    can, reason = redrive_verdict(described, now or datetime.now(UTC))
    if not can:
        return RedriveOutcome(described["name"], redriven=False, reason=reason)
    try:
        aws_call(lambda: target.sfn.redrive_execution(executionArn=arn))
    except OperationError as exc:
        return RedriveOutcome(described["name"], redriven=False, reason=str(exc), error=True)
    return RedriveOutcome(described["name"], redriven=True, reason="")


def redrive_failed(target: Target, since: timedelta | None) -> list[RedriveOutcome]:
    """Redrive every failed execution (of ``since`` if given) that can be redriven; one refusal or
    AWS error does not stop the others."""
    outcomes = []
    for status in sorted(REDRIVABLE):
        runs = aws_call(partial(list_runs, target.sfn, target.state_machine_arn, status=status, since=since))
        for run in runs:
            try:
                outcomes.append(redrive_one(target, run.execution_arn))
            except OperationError as exc:
                outcomes.append(RedriveOutcome(run.name, redriven=False, reason=str(exc), error=True))
    return outcomes
