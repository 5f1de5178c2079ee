"""What ``pipeline run`` reports about one execution, as text for a person or as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tasks.common.models import OutputLocation, decode_event, to_payload

if TYPE_CHECKING:
    from workflow.local.environment import Execution, Notification
    from workflow.local.trace import RunTrace


def output_of(execution_output: dict[str, Any] | None) -> OutputLocation | None:
    """The committed output a successful run reports (WriteOutput's result), if any."""
    location = (execution_output or {}).get("output")
    return None if location is None else decode_event(location, OutputLocation)


@dataclass(frozen=True, slots=True)
class RunReport:
    execution: Execution
    trace: RunTrace
    output: OutputLocation | None
    notifications: list[Notification]
    retry_delays: list[float]
    duration_ms: int
    log_file: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "executionArn": self.execution.arn,
            "name": self.execution.name,
            "status": self.execution.status,
            "error": self.execution.error,
            "cause": self.execution.cause,
            "input": self.execution.input,
            "durationMs": self.duration_ms,
            "states": [state.as_json() for state in self.trace.states],
            "output": to_payload(self.output) if self.output else None,
            "notifications": [notification.as_json() for notification in self.notifications],
            "retryDelaysRequested": self.retry_delays,
            "logFile": self.log_file,
        }

    def as_text(self) -> str:
        execution = self.execution
        lines = [
            f"{execution.status}  {execution.name}  ({self.duration_ms / 1000:.1f} s)",
            f"  execution  {execution.arn}",
            f"  source     s3://{execution.input.get('bucket')}/{execution.input.get('key')}"
            f" (version {execution.input.get('versionId')})",
            "",
        ]
        # The state column as wide as the longest state name, so the other columns line up.
        width = max([len("state"), *(len(state.name) for state in self.trace.states)])
        lines.append(f"  {'state':<{width}} {'status':<10} {'attempts':>8} {'duration':>10}")
        for state in self.trace.states:
            duration = "" if state.duration_ms is None else f"{state.duration_ms} ms"
            attempts = str(state.attempts) if state.attempts else "-"
            lines.append(f"  {state.name:<{width}} {state.status:<10} {attempts:>8} {duration:>10}")
            if state.error:
                lines.append(f"  {'':<{width}} {state.error}: {one_line(error_message(state.cause))}")
        lines.append("")
        if execution.error:
            lines.append(f"  error      {execution.error}: {one_line(error_message(execution.cause))}")
        if self.retry_delays:
            delays = ", ".join(f"{delay:.2f} s" for delay in self.retry_delays)
            lines.append(f"  retries    backoff asked for {delays} (scaled down locally)")
        if self.output:
            lines.append(f"  output     s3://{self.output.bucket}/{self.output.key}")
            lines.append(f"  records    {self.output.records} written, {self.output.rejected} rejected")
            lines.append(f"  manifest   s3://{self.output.bucket}/{self.output.manifest_key}")
        lines.append(f"  notifications ({len(self.notifications)})")
        for notification in self.notifications:
            attributes = " ".join(f"{name}={value}" for name, value in sorted(notification.attributes.items()))
            lines.append(f"    {headline(notification)}  [{attributes}]")
            lines.append(f"      {one_line(notification.message)}")
        if self.log_file:
            lines.append(f"  logs       {self.log_file}")
        return "\n".join(lines)

    def to_json_text(self) -> str:
        return json.dumps(self.as_json(), indent=2, default=str)


def headline(notification: Notification) -> str:
    """The subject, or for a subject-less message (the failure announcement) its summary."""
    if notification.subject:
        return notification.subject
    try:
        summary = json.loads(notification.message).get("summary")
    except (ValueError, AttributeError):
        summary = None
    return str(summary) if summary else "(no subject)"


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


def one_line(text: str | None, limit: int = 300) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
