"""What ``pipeline preflight`` and ``pipeline smoke`` print: one line per check or step, the fix or
the detail under it, and a last line that says whether the whole held."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from workflow.cli.text import format_duration
from workflow.ops.preflight import PreflightReport, Status
from workflow.ops.smoke import SmokeReport

_CDK_CLI_VERSION = re.compile(r"^CDK_CLI_VERSION\s*:?=\s*(\S+)\s*$", re.MULTILINE)


def pinned_cdk_cli(makefile: Path) -> str:
    """The CDK CLI version the Makefile pins (``CDK_CLI_VERSION``), or ``latest`` if it pins none."""
    try:
        match = _CDK_CLI_VERSION.search(makefile.read_text(encoding="utf-8"))
    except OSError:
        match = None
    return match.group(1) if match else "latest"


def render_preflight(report: PreflightReport) -> str:
    width = max(len(check.name) for check in report.checks)
    lines = []
    for check in report.checks:
        lines.append(f"{check.status.value:<5} {check.name:<{width}}  {check.detail}")
        if check.fix:
            lines.append(f"{'':<5} {'':<{width}}  fix: {check.fix}")
    counts = {status: sum(check.status is status for check in report.checks) for status in Status}
    verdict = "not ready: fix what failed, then run it again" if report.failed else "ready to deploy"
    tally = ", ".join(f"{count} {status.value}" for status, count in counts.items())
    lines.append(f"\n{len(report.checks)} checks ({tally}): {verdict}")
    return "\n".join(lines)


def render_smoke(report: SmokeReport) -> str:
    width = max([len("step"), *(len(step.name) for step in report.steps)])
    lines = [f"smoke run {report.run_id}", "", f"{'step':<{width}}  {'result':<6}  {'time':>8}  detail"]
    for step in report.steps:
        result = "held" if step.held else "FAILED"
        lines.append(f"{step.name:<{width}}  {result:<6}  {format_duration_s(step.seconds):>8}  {step.detail}")
    lines.append("")
    lines.extend(f"cleanup: {line}" for line in report.cleaned)
    lines.extend(f"cleanup FAILED: {line}" for line in report.leftovers)
    held = sum(step.held for step in report.steps)
    total = format_duration_s(sum(step.seconds for step in report.steps))
    if report.held:
        lines.append(f"\nsmoke: all {held} steps held ({total})")
    else:
        failed = len(report.steps) - held
        tail = f"; {len(report.leftovers)} cleanup failures" if report.leftovers else ""
        lines.append(f"\nsmoke: {failed} of {len(report.steps)} steps FAILED{tail} ({total})")
    return "\n".join(lines)


def format_duration_s(seconds: float) -> str:
    return format_duration(timedelta(seconds=seconds))
