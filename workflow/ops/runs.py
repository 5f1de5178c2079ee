"""A state machine's runs as data: list them, show one state by state (and Map Run by Map Run), judge
whether redrive helps.

Everything here works against any Step Functions client (a boto3 ``stepfunctions`` client): the
deployed service, the embedded environment (``LocalPipeline.client("stepfunctions")``) or a client
whose ``endpoint_url`` points at ``pipeline serve``. Functions return typed results with an
``as_json``; turning them into text for a person is the CLI's job (``workflow/cli/text.py``).

Redrive follows AWS's rules (an execution that FAILED, TIMED_OUT or was ABORTED, stopped less than
14 days ago) plus this pipeline's: a run that ended in the ``Rejected`` Fail state on a business
error would fail again at that same state, so it is reported as not worth redriving.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tasks.common.errors import BUSINESS_ERROR_NAMES
from tasks.common.models import Trigger
from workflow.executions import (
    API_NAME_PREFIX,
    PENDING_REDRIVE,
    REDRIVABLE,
    REDRIVE_WINDOW,
    RUNNING,
    S3_NAME_PREFIX,
    STATUSES,
    SUCCEEDED,
    StateVisit,
    aware,
    console_url,
    error_message,
    failed_visit,
    read_history,
    visits,
)

_NOT_STOPPED = {SUCCEEDED: "succeeded", RUNNING: "still running", PENDING_REDRIVE: "a redrive is already pending"}
TRIGGER_S3 = "S3"
TRIGGER_API = "API"
_TRIGGERS = {Trigger.S3.value: TRIGGER_S3, Trigger.API.value: TRIGGER_API}
_NAME_PREFIXES = ((S3_NAME_PREFIX, TRIGGER_S3), (API_NAME_PREFIX, TRIGGER_API))
_LIST_PAGE_MAX = 1000  # ListExecutions' and ListMapRuns' largest maxResults


# -- redrive -------------------------------------------------------------------------------


def redrivability(status: str, error: str | None, stop_date: datetime | None, now: datetime) -> tuple[bool, str]:
    """Whether redriving an execution can help, and if not, why (empty reason when it can).

    AWS redrives executions that FAILED, TIMED_OUT or were ABORTED, within 14 days of their stop.
    A business error ends the run in the ``Rejected`` Fail state, where a redrive would restart
    and fail again: the input itself has to change. ``stop_date`` None (unknown) is not held
    against the execution.
    """
    if status in _NOT_STOPPED:
        reason = _NOT_STOPPED[status]
    elif status not in REDRIVABLE:
        reason = f"status {status} cannot be redriven"
    elif error in BUSINESS_ERROR_NAMES:
        reason = f"business error {error}: fix the input and upload it again"
    elif stop_date is not None and aware(now) - aware(stop_date) > REDRIVE_WINDOW:
        reason = "stopped more than 14 days ago"
    else:
        return True, ""
    return False, reason


def redrive_verdict(described: dict[str, Any], now: datetime) -> tuple[bool, str]:
    """The rule above, overruled by the service when it says it will not redrive (AWS reports
    ``redriveStatus`` NOT_REDRIVABLE with its reason, e.g. the history event limit)."""
    verdict = redrivability(described["status"], described.get("error"), described.get("stopDate"), now)
    if verdict[0] and described.get("redriveStatus") == "NOT_REDRIVABLE":
        return False, described.get("redriveStatusReason") or "Step Functions reports it is not redrivable"
    return verdict


# -- helpers shared by both views ----------------------------------------------------------


def _input_of(described: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = json.loads(described.get("input") or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def trigger_of(name: str, run_input: dict[str, Any]) -> str:
    """``S3`` or ``API``: the input's ``trigger`` field, else the execution name's prefix.

    With neither, ``API``: the workflow's request model defaults an absent trigger to it.
    """
    trigger = run_input.get("trigger")
    if isinstance(trigger, str) and trigger.lower() in _TRIGGERS:
        return _TRIGGERS[trigger.lower()]
    for prefix, value in _NAME_PREFIXES:
        if name.startswith(prefix):
            return value
    return TRIGGER_API


def _key_of(run_input: dict[str, Any]) -> str | None:
    key = run_input.get("key")
    return key if isinstance(key, str) else None


def _duration(start: datetime, stop: datetime | None) -> timedelta | None:
    return None if stop is None else aware(stop) - aware(start)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else aware(moment).astimezone(UTC).isoformat()


def milliseconds(duration: timedelta | None) -> int | None:
    return None if duration is None else round(duration.total_seconds() * 1000)


# -- listing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One execution in a listing."""

    name: str
    execution_arn: str
    trigger: str
    source_key: str | None
    status: str
    start: datetime
    stop: datetime | None
    duration: timedelta | None
    error: str | None
    redrivable: bool
    redrive_reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "executionArn": self.execution_arn,
            "trigger": self.trigger,
            "sourceKey": self.source_key,
            "status": self.status,
            "startDate": iso(self.start),
            "stopDate": iso(self.stop),
            "durationMs": milliseconds(self.duration),
            "error": self.error,
            "redrivable": self.redrivable,
            "redriveReason": self.redrive_reason,
        }


def normalize_status(status: str | None) -> str | None:
    """An execution status filter, case-insensitive; ``ValueError`` names the valid ones."""
    if status is None:
        return None
    upper = status.strip().upper().replace("-", "_")
    if upper not in STATUSES:
        raise ValueError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    return upper


def list_runs(
    sfn: Any,
    state_machine_arn: str,
    *,
    status: str | None,
    since: timedelta | None,
    now: datetime | None = None,
    limit: int = 100,
) -> list[RunSummary]:
    """The state machine's executions, newest first: at most ``limit``, those with ``status``
    (any case), started within ``since`` of ``now``. One ``DescribeExecution`` per run gives its
    input (trigger, key) and error."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    status_filter = normalize_status(status)
    moment = aware(now or datetime.now(UTC))
    cutoff = None if since is None else moment - since
    request: dict[str, Any] = {"stateMachineArn": state_machine_arn, "maxResults": min(limit, _LIST_PAGE_MAX)}
    if status_filter is not None:
        request["statusFilter"] = status_filter
    runs: list[RunSummary] = []
    while True:
        page = sfn.list_executions(**request)
        older_seen = False
        for item in page.get("executions", []):
            if cutoff is not None and aware(item["startDate"]) < cutoff:
                older_seen = True  # ListExecutions is newest first: later pages are older still
                continue
            runs.append(_summary(sfn.describe_execution(executionArn=item["executionArn"]), item, moment))
            if len(runs) >= limit:
                return runs
        token = page.get("nextToken")
        if not token or older_seen:
            return runs
        request["nextToken"] = token


def _summary(described: dict[str, Any], item: dict[str, Any], now: datetime) -> RunSummary:
    described = {**item, **described}
    run_input = _input_of(described)
    redrivable, reason = redrive_verdict(described, now)
    return RunSummary(
        name=described["name"],
        execution_arn=described["executionArn"],
        trigger=trigger_of(described["name"], run_input),
        source_key=_key_of(run_input),
        status=described["status"],
        start=described["startDate"],
        stop=described.get("stopDate"),
        duration=_duration(described["startDate"], described.get("stopDate")),
        error=described.get("error"),
        redrivable=redrivable,
        redrive_reason=reason,
    )


# -- Map Runs ------------------------------------------------------------------------------
# A Distributed Map state runs its items (here, a source's byte ranges) as child executions in a
# Map Run; ListMapRuns lists an execution's Map Runs and DescribeMapRun gives each one's status and
# item counts (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-examine-map-run.html).


@dataclass(frozen=True, slots=True)
class ItemCounts:
    """A Map Run's items by status (``DescribeMapRun``'s ``itemCounts``)."""

    total: int
    succeeded: int
    failed: int
    running: int
    pending: int
    timed_out: int
    aborted: int

    @classmethod
    def of(cls, counts: dict[str, Any]) -> ItemCounts:
        return cls(
            total=counts.get("total", 0),
            succeeded=counts.get("succeeded", 0),
            failed=counts.get("failed", 0),
            running=counts.get("running", 0),
            pending=counts.get("pending", 0),
            timed_out=counts.get("timedOut", 0),
            aborted=counts.get("aborted", 0),
        )

    def as_json(self) -> dict[str, int]:
        return {
            "total": self.total,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "running": self.running,
            "pending": self.pending,
            "timedOut": self.timed_out,
            "aborted": self.aborted,
        }


@dataclass(frozen=True, slots=True)
class MapRunSummary:
    """One Map Run of an execution: the Map state that started it, its status and its items."""

    state: str
    map_run_arn: str
    status: str
    items: ItemCounts
    max_concurrency: int | None
    start: datetime
    stop: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "mapRunArn": self.map_run_arn,
            "status": self.status,
            "items": self.items.as_json(),
            "maxConcurrency": self.max_concurrency,
            "startDate": iso(self.start),
            "stopDate": iso(self.stop),
            "durationMs": milliseconds(_duration(self.start, self.stop)),
        }


def map_run_label(map_run_arn: str) -> str:
    """The label in a Map Run ARN, ``arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<id>``
    (Service Authorization Reference, resource type ``maprun``); ``ValueError`` for anything else.

    A Distributed Map's ``Label`` goes into its Map Runs' ARNs; every Map state of
    ``pipeline.asl.json`` takes its own name as label, so the label names the state.
    """
    parts = map_run_arn.split(":")
    if len(parts) != 8 or parts[0] != "arn" or parts[2] != "states" or parts[5] != "mapRun" or "/" not in parts[6]:
        raise ValueError(f"not a Map Run ARN: {map_run_arn!r}")
    return parts[6].split("/", 1)[1]


def map_runs(sfn: Any, execution_arn: str) -> list[MapRunSummary]:
    """Every Map Run the execution started, oldest first, each described; empty for a run that
    entered no Distributed Map."""
    listed: list[dict[str, Any]] = []
    request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": _LIST_PAGE_MAX}
    while True:
        page = sfn.list_map_runs(**request)
        listed.extend(page.get("mapRuns", []))
        token = page.get("nextToken")
        if not token:
            break
        request["nextToken"] = token
    listed.sort(key=lambda item: aware(item["startDate"]))
    return [_map_run(sfn.describe_map_run(mapRunArn=item["mapRunArn"])) for item in listed]


def _map_run(described: dict[str, Any]) -> MapRunSummary:
    return MapRunSummary(
        state=map_run_label(described["mapRunArn"]),
        map_run_arn=described["mapRunArn"],
        status=described["status"],
        items=ItemCounts.of(described.get("itemCounts", {})),
        max_concurrency=described.get("maxConcurrency"),
        start=described["startDate"],
        stop=described.get("stopDate"),
    )


# -- one run -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunView:
    """One execution, state by state."""

    name: str
    execution_arn: str
    state_machine_arn: str | None
    status: str
    trigger: str
    source_key: str | None
    input: dict[str, Any]
    error: str | None
    cause: str | None
    start: datetime
    stop: datetime | None
    duration: timedelta | None
    redrive_count: int | None
    redrive_date: datetime | None
    redrivable: bool
    redrive_reason: str
    states: tuple[StateVisit, ...]
    map_runs: tuple[MapRunSummary, ...]

    @property
    def message(self) -> str | None:
        return error_message(self.cause)

    @property
    def failed_state(self) -> str | None:
        """The state that failed the execution (where a redrive restarts), if it failed."""
        failed = failed_visit(self.states)
        return None if failed is None else failed.name

    @property
    def console_url(self) -> str:
        return console_url(self.execution_arn)

    def state_statuses(self) -> dict[str, str]:
        """Each visited state's status at its last visit (for ``workflow.ops.graph.mermaid``)."""
        return {state.name: state.status for state in self.states}

    def as_json(self, *, deployed: bool = False) -> dict[str, Any]:
        return {
            "name": self.name,
            "executionArn": self.execution_arn,
            "stateMachineArn": self.state_machine_arn,
            "status": self.status,
            "trigger": self.trigger,
            "sourceKey": self.source_key,
            "input": self.input,
            "error": self.error,
            "cause": self.cause,
            "message": self.message,
            "startDate": iso(self.start),
            "stopDate": iso(self.stop),
            "durationMs": milliseconds(self.duration),
            "redriveCount": self.redrive_count,
            "redriveDate": iso(self.redrive_date),
            "redrivable": self.redrivable,
            "redriveReason": self.redrive_reason,
            "failedState": self.failed_state,
            "consoleUrl": self.console_url if deployed else None,
            "states": [state.as_json() for state in self.states],
            "mapRuns": [run.as_json() for run in self.map_runs],
        }


def show_run(sfn: Any, execution_arn: str, *, now: datetime | None = None) -> RunView:
    """``DescribeExecution``, the whole history of one execution, state by state, and its Map Runs."""
    described = sfn.describe_execution(executionArn=execution_arn)
    run_input = _input_of(described)
    redrivable, reason = redrive_verdict(described, aware(now or datetime.now(UTC)))
    return RunView(
        name=described["name"],
        execution_arn=described.get("executionArn", execution_arn),
        state_machine_arn=described.get("stateMachineArn"),
        status=described["status"],
        trigger=trigger_of(described["name"], run_input),
        source_key=_key_of(run_input),
        input=run_input,
        error=described.get("error"),
        cause=described.get("cause"),
        start=described["startDate"],
        stop=described.get("stopDate"),
        duration=_duration(described["startDate"], described.get("stopDate")),
        redrive_count=described.get("redriveCount"),
        redrive_date=described.get("redriveDate"),
        redrivable=redrivable,
        redrive_reason=reason,
        states=visits(read_history(sfn, execution_arn)),
        map_runs=tuple(map_runs(sfn, execution_arn)),
    )
