"""Inspecting runs: list a state machine's executions, show one state by state.

Everything here works against any Step Functions client (a boto3 ``stepfunctions`` client): the
deployed service, the embedded environment (``LocalPipeline.client("stepfunctions")``) or a client
whose ``endpoint_url`` points at ``pipeline serve``. Functions return typed results; the
``render_*`` functions turn them into text for a person, ``as_json`` into JSON for a program.

Redrive follows AWS's rules (an execution that FAILED, TIMED_OUT or was ABORTED, stopped less than
14 days ago) plus this pipeline's: a run that ended in the ``Rejected`` Fail state on a business
error would fail again at that same state, so it is reported as not worth redriving.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tasks.common.errors import BUSINESS_ERRORS
from workflow.local.trace import FAILED, RUNNING, trace_from_history
from workflow.report import error_message, one_line

EXECUTION_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
REDRIVABLE_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
REDRIVE_WINDOW = timedelta(days=14)
BUSINESS_ERROR_NAMES = frozenset(error.__name__ for error in BUSINESS_ERRORS)
_NOT_STOPPED = {"SUCCEEDED": "succeeded", "RUNNING": "still running", "PENDING_REDRIVE": "a redrive is already pending"}
TRIGGER_S3 = "S3"
TRIGGER_API = "API"
_TRIGGERS = {"s3": TRIGGER_S3, "api": TRIGGER_API}
_NAME_PREFIXES = (("s3-", TRIGGER_S3), ("api-", TRIGGER_API))
_LIST_PAGE_MAX = 1000  # ListExecutions' largest maxResults
_HISTORY_PAGE_MAX = 1000  # GetExecutionHistory's largest maxResults

# -- durations -----------------------------------------------------------------------------

_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_DURATION_TEXT = re.compile(r"(?:\d+[smhdw])+")


def parse_duration(text: str) -> timedelta:
    """``30m``, ``2h``, ``7d`` (or combined, ``1h30m``) as a timedelta; units s, m, h, d, w.

    Raises ``ValueError`` with a message that says what is accepted.
    """
    compact = text.strip().lower()
    if not _DURATION_TEXT.fullmatch(compact):
        raise ValueError(
            f"invalid duration {text!r}: use a whole number and a unit, e.g. 30m, 2h, 7d or 1h30m"
            " (units: s seconds, m minutes, h hours, d days, w weeks)"
        )
    duration = timedelta()
    for amount, unit in _DURATION_PART.findall(compact):
        duration += timedelta(**{_DURATION_UNITS[unit]: int(amount)})
    if duration <= timedelta():
        raise ValueError(f"invalid duration {text!r}: it must be longer than zero")
    return duration


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
    elif status not in REDRIVABLE_STATUSES:
        reason = f"status {status} cannot be redriven"
    elif error in BUSINESS_ERROR_NAMES:
        reason = f"business error {error}: fix the input and upload it again"
    elif stop_date is not None and _aware(now) - _aware(stop_date) > REDRIVE_WINDOW:
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


def _aware(moment: datetime) -> datetime:
    """A datetime with a time zone (naive ones are taken as UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
    return None if stop is None else _aware(stop) - _aware(start)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _aware(moment).astimezone(UTC).isoformat()


def _ms(duration: timedelta | None) -> int | None:
    return None if duration is None else round(duration.total_seconds() * 1000)


def format_time(moment: datetime | None) -> str:
    """``2026-01-31 14:05:09`` in UTC, ``-`` for none."""
    return "-" if moment is None else _aware(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_duration(duration: timedelta | None) -> str:
    """``850 ms``, ``4.2 s``, ``3 min 5 s``, ``2 h 10 min``, ``3 d 4 h``; ``-`` for none."""
    if duration is None:
        return "-"
    seconds = duration.total_seconds()
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def format_bytes(size: int | None) -> str:
    """``512 B``, ``1.5 KiB``, ``2.0 MiB``; ``-`` for unknown."""
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def console_url(execution_arn: str) -> str:
    """The execution's page in the Step Functions console (region taken from the ARN)."""
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[0] != "arn" or parts[2] != "states" or parts[5] != "execution" or not parts[3]:
        raise ValueError(f"not a Step Functions execution ARN: {execution_arn!r}")
    region = parts[3]
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


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
            "startDate": _iso(self.start),
            "stopDate": _iso(self.stop),
            "durationMs": _ms(self.duration),
            "error": self.error,
            "redrivable": self.redrivable,
            "redriveReason": self.redrive_reason,
        }


def normalize_status(status: str | None) -> str | None:
    """An execution status filter, case-insensitive; ``ValueError`` names the valid ones."""
    if status is None:
        return None
    upper = status.strip().upper().replace("-", "_")
    if upper not in EXECUTION_STATUSES:
        raise ValueError(f"unknown status {status!r}: use one of {', '.join(EXECUTION_STATUSES)}")
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
    moment = _aware(now or datetime.now(UTC))
    cutoff = None if since is None else moment - since
    request: dict[str, Any] = {"stateMachineArn": state_machine_arn, "maxResults": min(limit, _LIST_PAGE_MAX)}
    if status_filter is not None:
        request["statusFilter"] = status_filter
    runs: list[RunSummary] = []
    while True:
        page = sfn.list_executions(**request)
        older_seen = False
        for item in page.get("executions", []):
            if cutoff is not None and _aware(item["startDate"]) < cutoff:
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


def render_runs(runs: list[RunSummary]) -> str:
    """An aligned table, one run a line; times in UTC."""
    if not runs:
        return "no executions"
    header = ("name", "trigger", "key", "status", "start (UTC)", "duration", "redrivable")
    rows = [
        (
            run.name,
            run.trigger,
            run.source_key or "-",
            run.status,
            format_time(run.start),
            "running" if run.duration is None and run.status == "RUNNING" else format_duration(run.duration),
            "yes" if run.redrivable else f"no: {run.redrive_reason}",
        )
        for run in runs
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    right = {5}  # durations read best right-aligned

    def line(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(widths[index]) if index in right else cell.ljust(widths[index]) for index, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), line(tuple("-" * width for width in widths)), *(line(row) for row in rows)])


# -- one run -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateView:
    """One visit of a state: the trace's view of it, plus payload sizes and whether the
    execution failed here."""

    name: str
    type: str
    status: str
    attempts: int
    duration_ms: int | None
    error: str | None
    cause: str | None
    input_bytes: int | None
    output_bytes: int | None
    failed_execution: bool
    redrive: int = 0  # how many redrives came before this visit: 0 in the original run

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
    states: tuple[StateView, ...]

    @property
    def message(self) -> str | None:
        return error_message(self.cause)

    @property
    def failed_state(self) -> str | None:
        """The state that failed the execution (where a redrive restarts), if it failed."""
        failed = [state for state in self.states if state.failed_execution]
        return failed[-1].name if failed else None

    @property
    def console_url(self) -> str:
        return console_url(self.execution_arn)

    def state_statuses(self) -> dict[str, str]:
        """Each visited state's status at its last visit (for ``workflow.graph.mermaid``)."""
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
            "startDate": _iso(self.start),
            "stopDate": _iso(self.stop),
            "durationMs": _ms(self.duration),
            "redriveCount": self.redrive_count,
            "redriveDate": _iso(self.redrive_date),
            "redrivable": self.redrivable,
            "redriveReason": self.redrive_reason,
            "failedState": self.failed_state,
            "consoleUrl": self.console_url if deployed else None,
            "states": [state.as_json() for state in self.states],
        }


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of the execution, oldest first, across all pages, with inputs and outputs."""
    events: list[dict[str, Any]] = []
    request: dict[str, Any] = {
        "executionArn": execution_arn,
        "maxResults": _HISTORY_PAGE_MAX,
        "includeExecutionData": True,
    }
    while True:
        page = sfn.get_execution_history(**request)
        events.extend(page.get("events", []))
        token = page.get("nextToken")
        if not token:
            return events
        request["nextToken"] = token


def _details(event: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    """The event's details: under ``key``, else under whichever ``...EventDetails`` key it has."""
    for name, value in event.items():
        if (name == key if key else name.endswith("EventDetails")) and isinstance(value, dict):
            return value
    return {}


def _size(text: Any) -> int | None:
    return len(text.encode("utf-8")) if isinstance(text, str) else None


@dataclass
class _Visit:
    input_bytes: int | None = None
    output_bytes: int | None = None
    redrive: int = 0
    exited: bool = False
    # set when the execution timed out or was aborted while this state ran (the trace leaves it RUNNING)
    ended_at: datetime | None = None
    end_error: str | None = None
    end_cause: str | None = None


def _visits(events: list[dict[str, Any]]) -> list[_Visit]:
    """Per state visit, in the order ``trace_from_history`` lists them: payload sizes, the redrive
    it belongs to, and how an execution that timed out or was aborted left the state that ran."""
    visits: list[_Visit] = []
    redrives = 0
    for event in events:
        kind: str = event["type"]
        if kind == "ExecutionRedriven":
            redrives = _details(event).get("redriveCount") or redrives + 1
        elif kind.endswith("StateEntered"):
            entered = _details(event, "stateEnteredEventDetails")
            visits.append(_Visit(input_bytes=_size(entered.get("input")), redrive=redrives))
        elif not visits:
            continue
        elif kind.endswith("StateExited"):
            visits[-1].output_bytes = _size(_details(event, "stateExitedEventDetails").get("output"))
            visits[-1].exited = True
        elif kind in {"ExecutionTimedOut", "ExecutionAborted"} and not visits[-1].exited:
            details = _details(event)
            default_error = "States.Timeout" if kind == "ExecutionTimedOut" else "States.Aborted"
            visits[-1].ended_at = event["timestamp"]
            visits[-1].end_error = details.get("error") or default_error
            visits[-1].end_cause = details.get("cause")
    return visits


def _state_views(events: list[dict[str, Any]], execution_status: str) -> tuple[StateView, ...]:
    traces = trace_from_history(events).states
    visits = _visits(events)
    views: list[StateView] = []
    for trace, visit in zip(traces, visits, strict=True):
        status, error, cause, duration_ms = trace.status, trace.error, trace.cause, trace.duration_ms
        if status == RUNNING and visit.ended_at is not None:
            status, error, cause = FAILED, error or visit.end_error, cause or visit.end_cause
            if trace.entered is not None:
                duration_ms = round((visit.ended_at - trace.entered).total_seconds() * 1000)
        views.append(
            StateView(
                name=trace.name,
                type=trace.type,
                status=status,
                attempts=trace.attempts,
                duration_ms=duration_ms,
                error=error,
                cause=cause,
                input_bytes=visit.input_bytes,
                output_bytes=visit.output_bytes,
                failed_execution=False,
                redrive=visit.redrive,
            )
        )
    if execution_status in REDRIVABLE_STATUSES:
        last_failed = max((index for index, view in enumerate(views) if view.status == FAILED), default=None)
        if last_failed is not None:
            views[last_failed] = replace(views[last_failed], failed_execution=True)
    return tuple(views)


def show_run(sfn: Any, execution_arn: str, *, now: datetime | None = None) -> RunView:
    """``DescribeExecution`` and the whole history of one execution, state by state."""
    described = sfn.describe_execution(executionArn=execution_arn)
    events = execution_history(sfn, execution_arn)
    run_input = _input_of(described)
    redrivable, reason = redrive_verdict(described, _aware(now or datetime.now(UTC)))
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
        states=_state_views(events, described["status"]),
    )


def render_run(view: RunView, *, deployed: bool) -> str:
    """The run for a person: header, error and redrive verdict, then one line per state visit.

    The state that failed the execution is marked ``>`` and labelled. The console link is shown
    only for a deployed run (``deployed``): a local ARN has no console page.
    """
    duration = "running" if view.duration is None else format_duration(view.duration)
    lines = [
        f"{view.status}  {view.name}  ({duration})",
        f"  execution  {view.execution_arn}",
        f"  trigger    {view.trigger}  {view.source_key or '-'}",
        f"  started    {format_time(view.start)} UTC",
    ]
    if view.stop is not None:
        lines.append(f"  stopped    {format_time(view.stop)} UTC")
    if view.error or view.cause:
        lines.append(f"  error      {view.error or '-'}: {one_line(view.message)}")
    if view.failed_state:
        lines.append(f"  failed at  {view.failed_state}")
    if view.redrivable:
        restart = f" (restarts at {view.failed_state})" if view.failed_state else ""
        lines.append(f"  redrive    yes{restart}")
    else:
        lines.append(f"  redrive    no: {view.redrive_reason}")
    if view.redrive_count:
        lines.append(f"  redriven   {view.redrive_count} time(s), last {format_time(view.redrive_date)} UTC")
    if deployed:
        lines.append(f"  console    {view.console_url}")
    lines.append("")
    width = max([18, *(len(state.name) for state in view.states)])
    lines.append(
        f"  {'state':<{width}} {'type':<8} {'status':<10} {'attempts':>8} {'duration':>10} {'input':>10} {'output':>10}"
    )
    for index, state in enumerate(view.states):
        if state.redrive and (index == 0 or view.states[index - 1].redrive != state.redrive):
            lines.append(f"  -- redrive {state.redrive} --")
        marker = ">" if state.failed_execution else " "
        attempts = str(state.attempts) if state.attempts else "-"
        state_duration = "" if state.duration_ms is None else f"{state.duration_ms} ms"
        row = (
            f"{marker} {state.name:<{width}} {state.type:<8} {state.status:<10} {attempts:>8} {state_duration:>10}"
            f" {format_bytes(state.input_bytes):>10} {format_bytes(state.output_bytes):>10}"
        )
        lines.append(row + ("   <- failed the execution" if state.failed_execution else ""))
        if state.error:
            lines.append(f"  {'':<{width}} {state.error}: {one_line(state.message)}")
    if not view.states:
        lines.append("  (no state entered yet)")
    return "\n".join(lines)
