"""What a person reads of the ledger: sources, replays, reconciliation and backfill progress."""

from __future__ import annotations

from collections.abc import Sequence

from workflow.ledger import LedgerItem
from workflow.ops.backfill import BackfillProgress
from workflow.ops.reconcile import Report
from workflow.ops.replay import ReplayStart


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: frozenset[int] = frozenset()) -> str:
    """An aligned table: the header, a rule, one line a row; columns in ``right`` right-aligned."""
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)])


def _when(iso: str | None) -> str:
    """``2026-11-30 10:08:25`` from the ledger's ISO 8601 UTC times; ``-`` for none."""
    return "-" if not iso else iso.replace("T", " ")[:19]


def _outcome(item: LedgerItem) -> str:
    if item.output is not None:
        counts = f"{item.output.get('records', '?')} records, {item.output.get('rejected', '?')} rejected"
        return counts if item.status != "REJECTED" else f"{item.error}; earlier output kept ({counts})"
    return item.error or ("from " + item.unchanged_from if item.unchanged_from else "-")


def render_sources(items: Sequence[LedgerItem]) -> str:
    """One source version a line: key, version, status, dataset, last update, runs, outcome."""
    if not items:
        return "no sources in the ledger match"
    rows = [
        (
            item.key + (" (as S3 sent it)" if item.key_url_encoded else ""),
            item.version_id[:12],
            item.status,
            item.dataset or "-",
            _when(item.updated_at),
            str(len(item.executions)),
            _outcome(item),
        )
        for item in items
    ]
    header = ("key", "version", "status", "dataset", "updated (UTC)", "runs", "outcome")
    return table(header, rows, right=frozenset({5}))


def render_replays(starts: Sequence[ReplayStart], *, dry_run: bool) -> str:
    if not starts:
        return "nothing to replay"
    if dry_run:
        rows = [(start.key, start.version_id[:12], "would replay") for start in starts]
        return table(("key", "version", "run"), rows)
    rows = [
        (start.key, start.version_id[:12], start.execution_arn or f"not started: {start.error}") for start in starts
    ]
    return table(("key", "version", "run"), rows)


def render_progress(progress: BackfillProgress) -> str:
    """One line: the backfill's status, what it listed, and each outcome so far."""
    counts = [f"listed {progress.listed}", f"in flight {progress.in_flight}"]
    counts += [f"{label} {progress.count(outcome)}" for outcome, label in _OUTCOME_LABELS if progress.count(outcome)]
    line = f"{progress.status:<9} " + ", ".join(counts)
    if progress.error:
        line += f"\n  error  {progress.error}: {progress.cause or ''}"
    return line


_OUTCOME_LABELS = (
    ("skipped", "skipped (the ledger has a result)"),
    ("tooOld", "older than --since"),
    ("gone", "deleted since listed"),
    ("wouldStart", "would start"),
    ("started", "started"),
    ("alreadyStarted", "started by another backfill"),
    ("succeeded", "succeeded"),
    ("rejected", "rejected"),
    ("failed", "failed"),
)


def render_reconcile(report: Report) -> str:
    """What reconcile found, section by section, then what it started."""
    lines = []
    if report.clean:
        lines.append("every upload under the prefix is accounted for: nothing unrecorded, stuck or undelivered")
    if report.unrecorded:
        lines.append(f"unrecorded: {len(report.unrecorded)} object version(s) with no ledger item")
        lines += [f"  {found.key}  {found.version_id}" for found in report.unrecorded]
    if report.stuck:
        lines.append(f"stuck: {len(report.stuck)} source version(s) RUNNING that no run will end")
        lines += [f"  {stuck.item.key}  {stuck.item.version_id}: {stuck.why}" for stuck in report.stuck]
    if report.undelivered:
        lines.append(f"undelivered: {len(report.undelivered)} event(s) in the dead-letter queue")
        for message in report.undelivered:
            what = (
                f"start of {message.run_input['key']}" if message.run_input else "not a trigger event (reported only)"
            )
            lines.append(f"  {message.message_id}  {what}: {message.error}")
    if report.fixed:
        lines.append("fixed:")
        lines += [
            f"  {fix.what:<11} {fix.key}  -> {fix.execution_arn or 'not started: ' + str(fix.error)}"
            for fix in report.fixed
        ]
    return "\n".join(lines)
