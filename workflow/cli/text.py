"""What a person reads: durations, times and sizes, the runs table, and ONE table of a run's states
(and of its Map Runs), used by ``pipeline run`` and ``pipeline show`` alike."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from workflow.executions import StateVisit, aware
from workflow.ops.runs import MapRunSummary, RunSummary, RunView

_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_DURATION_TEXT = re.compile(r"(?:\d+[smhdw])+")
_MIN_STATE_WIDTH = 18


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


def format_time(moment: datetime | None) -> str:
    """``2026-01-31 14:05:09`` in UTC, ``-`` for none."""
    return "-" if moment is None else aware(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


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


def one_line(text: str | None, limit: int = 300) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def headline(subject: str | None, message: str) -> str:
    """A notification's subject, or for a subject-less message (the failure announcement) its summary."""
    if subject:
        return subject
    try:
        summary = json.loads(message).get("summary")
    except (ValueError, AttributeError):
        summary = None
    return str(summary) if summary else "(no subject)"


def alarm_line(alarm_name: str, old_state: str, new_state: str) -> str:
    """An alarm message in one line: ``ALARM  AlertsExecutionsFailed0B2EDAFC  (was OK)``."""
    return f"{new_state}  {alarm_name}  (was {old_state})"


def state_table(states: Sequence[StateVisit], map_runs: Sequence[MapRunSummary]) -> list[str]:
    """One line per state visit: type, status, attempts, duration, input and output sizes; the state
    that failed the execution marked ``>`` and labelled; a visit's error under it; redrives apart.
    Then, after a blank line, its Map Runs (none: nothing), in the same first column."""
    names = [*(state.name for state in states), *(run.state for run in map_runs)]
    width = max([_MIN_STATE_WIDTH, *map(len, names)])
    lines = [
        f"  {'state':<{width}} {'type':<8} {'status':<10} {'attempts':>8} {'duration':>10} {'input':>10} {'output':>10}"
    ]
    for index, state in enumerate(states):
        if state.redrive and (index == 0 or states[index - 1].redrive != state.redrive):
            lines.append(f"  -- redrive {state.redrive} --")
        marker = ">" if state.failed_execution else " "
        attempts = str(state.attempts) if state.attempts else "-"
        duration = "" if state.duration_ms is None else f"{state.duration_ms} ms"
        row = (
            f"{marker} {state.name:<{width}} {state.type:<8} {state.status:<10} {attempts:>8} {duration:>10}"
            f" {format_bytes(state.input_bytes):>10} {format_bytes(state.output_bytes):>10}"
        )
        lines.append(row + ("   <- failed the execution" if state.failed_execution else ""))
        if state.error:
            lines.append(f"  {'':<{width}} {state.error}: {one_line(state.message)}")
    if not states:
        lines.append("  (no state entered yet)")
    lines.extend(_map_run_lines(map_runs, width))
    return lines


def _map_run_lines(runs: Sequence[MapRunSummary], width: int) -> list[str]:
    """A blank line, then per Map Run its Map state, status and ranges (its items) by status, its
    ARN under it."""
    if not runs:
        return []
    lines = ["", f"  {'map run':<{width}} {'status':<10} ranges"]
    for run in runs:
        items = run.items
        # Timed-out and aborted items are rare: named only when there are some.
        rare = ((items.timed_out, "timed out"), (items.aborted, "aborted"))
        counts = [
            f"{items.succeeded} succeeded",
            f"{items.failed} failed",
            *(f"{count} {label}" for count, label in rare if count),
            f"{items.running} running",
            f"{items.pending} pending",
        ]
        lines.append(f"  {run.state:<{width}} {run.status:<10} {', '.join(counts)} of {items.total}")
        lines.append(f"  {'':<{width}} {run.map_run_arn}")
    return lines


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


def render_run(view: RunView, *, deployed: bool) -> str:
    """The run for a person: header, error and redrive verdict, then its state table.

    The console link is shown only for a deployed run (``deployed``): a local ARN has no console page.
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
    lines.extend(state_table(view.states, view.map_runs))
    return "\n".join(lines)
