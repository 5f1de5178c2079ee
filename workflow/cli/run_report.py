"""What ``pipeline run`` reports about one local execution (as text or JSON), and the copy of its
committed output into a folder."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.common.layout import MANIFEST_FILE, REJECTS_FILE
from tasks.common.models import OutputLocation, decode_event, to_payload
from workflow.cli.text import alarm_line, headline, one_line, state_table
from workflow.executions import StateVisit, error_message
from workflow.local.alarms import AlarmNotification
from workflow.local.environment import Execution, LocalPipeline, Notification
from workflow.ops.runs import MapRunSummary


def output_of(execution_output: dict[str, Any] | None) -> OutputLocation | None:
    """The committed output a successful run reports (WriteOutput's result), if any."""
    location = (execution_output or {}).get("output")
    return None if location is None else decode_event(location, OutputLocation)


@dataclass(frozen=True, slots=True)
class RunReport:
    execution: Execution
    states: tuple[StateVisit, ...]
    map_runs: tuple[MapRunSummary, ...]
    output: OutputLocation | None
    notifications: list[Notification]
    alarms: list[AlarmNotification]
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
            "states": [state.as_json() for state in self.states],
            "mapRuns": [run.as_json() for run in self.map_runs],
            "output": to_payload(self.output) if self.output else None,
            "notifications": [notification.as_json() for notification in self.notifications],
            "alarms": [alarm.as_json() for alarm in self.alarms],
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
            *state_table(self.states, self.map_runs),
            "",
        ]
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
            lines.append(f"    {headline(notification.subject, notification.message)}  [{attributes}]")
            lines.append(f"      {one_line(notification.message)}")
        lines.append(f"  alarms ({len(self.alarms)})")
        for alarm in self.alarms:
            lines.append(f"    {alarm_line(alarm.alarm_name, alarm.old_state, alarm.new_state)}")
            lines.append(f"      {one_line(alarm.reason)}")
        if self.log_file:
            lines.append(f"  logs       {self.log_file}")
        return "\n".join(lines)

    def to_json_text(self) -> str:
        return json.dumps(self.as_json(), indent=2, default=str)


def copy_output(pipeline: LocalPipeline, output: OutputLocation, folder: Path) -> list[Path]:
    """Write data (``data.jsonl`` or ``data.parquet``), rejects and manifest into ``folder``; each file
    appears whole or not at all."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for key, name in (
        (output.key, output.key.rsplit("/", 1)[-1]),
        (output.rejects_key, REJECTS_FILE),
        (output.manifest_key, MANIFEST_FILE),
    ):
        target = folder / name
        handle, scratch = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(handle, "wb") as stream:
            pipeline.client("s3").download_fileobj(pipeline.stack.bucket_name, key, stream)
        os.replace(scratch, target)
        written.append(target)
    return written
