"""``pipeline serve``: run the embedded environment as a long-lived local AWS endpoint."""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from workflow.cli.text import alarm_line, headline, one_line
from workflow.local.alarms import AlarmNotification
from workflow.local.environment import LocalPipeline, Notification
from workflow.local.server import LocalServer

# How often the serving process's threads are made to hand the GIL over (``serve``).
SWITCH_INTERVAL_SECONDS = 0.02
# How soon serve notices a stop signal that reached one of its other threads.
STOP_POLL_SECONDS = 0.1


def print_notification(notification: Notification, out: TextIO = sys.stdout) -> None:
    attributes = " ".join(f"{name}={value}" for name, value in sorted(notification.attributes.items()))
    stamp = datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] notification: {headline(notification.subject, notification.message)}  [{attributes}]", file=out)
    print(f"           {one_line(notification.message)}", file=out, flush=True)


def print_alarm(alarm: AlarmNotification, out: TextIO = sys.stdout) -> None:
    stamp = datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] alarm: {alarm_line(alarm.alarm_name, alarm.old_state, alarm.new_state)}", file=out)
    print(f"           {one_line(alarm.reason)}", file=out, flush=True)


def banner(server: LocalServer, log_file: Path) -> str:
    stack = server.pipeline.stack
    exports = " ".join(f"{name}={value}" for name, value in server.environment().items())
    return "\n".join(
        [
            "Serving the pipeline locally (Ctrl-C to stop).",
            f"  AWS endpoint   {server.endpoint_url}   (S3, Step Functions, SNS, SQS, EventBridge, CloudFormation)",
            f"  HTTP API       {server.api_url}   (POST executions, GET executions/NAME; SigV4, service execute-api)",
            f"  bucket         s3://{stack.bucket_name}",
            f"  state machine  {stack.state_machine_arn}",
            f"  function logs  {log_file}",
            "",
            "In another shell:",
            f"  export {exports}",
            f"  aws s3 cp FILE s3://{stack.bucket_name}/incoming/FILE     # the S3 rule starts a run",
            "  .venv/bin/pipeline submit FILE                             # a run through the API",
            "",
            "Notifications appear here as they are published (run and alarm messages).",
        ]
    )


def serve(*, host: str, port: int, log_file: Path, concurrency: int, prepare: Callable[[LocalPipeline], None]) -> None:
    """Serve until SIGINT or SIGTERM; ``prepare`` sets up the entered environment (faults)."""
    # Request lines of the endpoint would drown the notifications.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Under load, dozens of the engine's threads (the interpreter's, the endpoints') want the GIL
    # at once; handing it over every 5 ms (Python's default) spent more on the handovers than it
    # saved in waiting: 200 files end at 6.7-7.6 runs/s with 20 ms, 6.3-6.4 with 5 ms.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    # The kernel hands a signal sent to the process to any of its threads, and Python runs the
    # handler in the main thread only, once that thread runs again: the main thread polls, never
    # blocks without a timeout (blocked in Event.wait(), it missed a SIGINT that reached another
    # thread, for good). The handler only records the signal: Event.set() from a handler can
    # deadlock on the event's lock, held by the interrupted main thread.
    stop_signals: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda received, _frame: stop_signals.append(received))
    with (
        log_file.open("w", encoding="utf-8") as log_stream,
        LocalPipeline.from_project(log_stream=log_stream, concurrency=concurrency) as pipeline,
    ):
        prepare(pipeline)
        server = LocalServer(pipeline, host=host, port=port, on_notification=print_notification, on_alarm=print_alarm)
        server.start()
        print(banner(server, log_file), flush=True)
        while not stop_signals:
            time.sleep(STOP_POLL_SECONDS)
        server.stop()
    print("Stopped.", flush=True)
