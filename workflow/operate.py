"""``pipeline executions``, ``show`` and ``redrive``: operate the deployed stack or ``pipeline serve``.

The stack is found by name through its CloudFormation outputs with the standard AWS
configuration; when ``AWS_ENDPOINT_URL`` points at ``pipeline serve`` the same calls reach the
local environment (which implements ``RedriveExecution`` with AWS semantics).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from stacks.constants import OUTPUT_STATE_MACHINE
from workflow.graph import mermaid
from workflow.inspection import list_runs, redrive_verdict, render_run, render_runs, show_run
from workflow.submit import SubmitError, stack_outputs

FAILURE_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")


class OperateError(Exception):
    """The stack or the execution cannot be found, or AWS refused the call."""


@dataclass(frozen=True)
class Target:
    sfn: Any
    state_machine_arn: str
    deployed: bool  # False when AWS_ENDPOINT_URL points at a local endpoint

    def execution_arn(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name_or_arn}"


def connect(stack_name: str) -> Target:
    session = boto3.Session()
    try:
        outputs = stack_outputs(session, stack_name)
    except SubmitError as exc:
        raise OperateError(str(exc)) from None
    if OUTPUT_STATE_MACHINE not in outputs:
        raise OperateError(f"stack {stack_name!r} has no output {OUTPUT_STATE_MACHINE}")
    return Target(
        sfn=session.client("stepfunctions"),
        state_machine_arn=outputs[OUTPUT_STATE_MACHINE],
        deployed="AWS_ENDPOINT_URL" not in os.environ,
    )


def executions(target: Target, *, status: str | None, since: timedelta | None, as_json: bool) -> str:
    runs = _aws(lambda: list_runs(target.sfn, target.state_machine_arn, status=status, since=since))
    return json.dumps([run.as_json() for run in runs], indent=2) if as_json else render_runs(runs)


def show(target: Target, execution: str, *, as_json: bool, graph: bool) -> str:
    arn = target.execution_arn(execution)
    view = _aws(lambda: show_run(target.sfn, arn))
    if graph:
        definition = _aws(lambda: target.sfn.describe_state_machine(stateMachineArn=target.state_machine_arn))
        return mermaid(json.loads(definition["definition"]), view.state_statuses())
    if as_json:
        return json.dumps(view.as_json(deployed=target.deployed), indent=2)
    return render_run(view, deployed=target.deployed)


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
    described = _aws(lambda: target.sfn.describe_execution(executionArn=arn))
    can, reason = redrive_verdict(described, now or datetime.now(UTC))
    if not can:
        return RedriveOutcome(described["name"], redriven=False, reason=reason)
    try:
        _aws(lambda: target.sfn.redrive_execution(executionArn=arn))
    except OperateError as exc:
        return RedriveOutcome(described["name"], redriven=False, reason=str(exc), error=True)
    return RedriveOutcome(described["name"], redriven=True, reason="")


def redrive_failed(target: Target, since: timedelta | None) -> list[RedriveOutcome]:
    """Redrive every failed execution (of ``since`` if given) that can be redriven; one refusal or
    AWS error does not stop the others."""
    outcomes = []
    for status in FAILURE_STATUSES:
        runs = _aws(lambda status=status: list_runs(target.sfn, target.state_machine_arn, status=status, since=since))
        for run in runs:
            try:
                outcomes.append(redrive_one(target, run.execution_arn))
            except OperateError as exc:
                outcomes.append(RedriveOutcome(run.name, redriven=False, reason=str(exc), error=True))
    return outcomes


def _aws(call: Any) -> Any:
    try:
        return call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise OperateError(f"{error.get('Code', 'Error')}: {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise OperateError(str(exc)) from None
