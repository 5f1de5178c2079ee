"""A backfill of many objects on the local engine: how long, and how much CPU, per object.

``python -m benchmarks.backfill [--objects 5000] [--concurrency 10]`` seeds the objects under
``incoming/backfill-bench/`` while the S3 rule is disabled (as if uploaded before the stack
existed), backfills the prefix (one pipeline run per object), then backfills it again (no run: the
ledger has a result for each), and prints the wall and CPU time of each step and the backfill's
outcome counts. The second round must start 0 runs; the script says so and exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from workflow.executions import SUCCEEDED
from workflow.local.environment import LocalPipeline, Notification
from workflow.ops.backfill import BackfillProgress, BackfillRequest, follow, progress, start_backfill

PREFIX = "incoming/backfill-bench/"
BODY = b'{"id": 1, "name": "Ann"}\n{"id": 2, "name": "Bob"}\n'
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Timed:
    wall_s: float
    cpu_s: float

    def per(self, count: int) -> str:
        return (
            f"{self.wall_s:8.1f} s wall {self.cpu_s:8.1f} s CPU   {self.cpu_s / max(count, 1) * 1000:6.1f} ms CPU each"
        )


def timed(step: Callable[[], T]) -> tuple[T, Timed]:
    wall, cpu = time.monotonic(), time.process_time()
    result = step()
    return result, Timed(time.monotonic() - wall, time.process_time() - cpu)


def seed(pipeline: LocalPipeline, count: int) -> None:
    events = pipeline.client("events")
    rule = next(rule.logical_id for rule in pipeline.stack.rules if rule.pattern.get("source") == ["aws.s3"])
    events.disable_rule(Name=rule)
    try:
        for index in range(count):
            pipeline.upload(f"{PREFIX}{index:06d}.jsonl", BODY)
    finally:
        events.enable_rule(Name=rule)


@dataclass(frozen=True, slots=True)
class Backfilled:
    progress: BackfillProgress
    notifications: list[Notification]


def backfill(pipeline: LocalPipeline, concurrency: int) -> Backfilled:
    """Backfill ``PREFIX`` to its end, reading the runs' notifications as ``pipeline serve`` does
    while it runs (unread, they pile up in the collecting queue, and moto's SQS walks every one of
    them on each new message: 5,000 runs took quadratic time)."""
    sfn, dynamodb = pipeline.client("stepfunctions"), pipeline.client("dynamodb")
    (machine,) = [machine.arn for machine in pipeline.stack.state_machines if machine.name.endswith("-Backfill")]
    arn = start_backfill(sfn, machine, BackfillRequest(prefix=PREFIX, concurrency=concurrency))
    table = pipeline.stack.tables[0].name
    notifications: list[Notification] = []
    final = follow(
        lambda: progress(sfn, dynamodb, table, arn),
        on_progress=lambda _: notifications.extend(pipeline.notifications()),
        interval=1.0,
        timeout=7200,
    )
    return Backfilled(final, notifications + pipeline.notifications())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backfill", description=__doc__)
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args(argv)
    with LocalPipeline.from_project(log_stream=io.StringIO()) as pipeline:
        _, seeding = timed(lambda: seed(pipeline, args.objects))
        print(f"seed {args.objects:,} objects            {seeding.per(args.objects)}")
        rounds = []
        for label in ("backfill (a run each)", "backfill again (none)"):
            result, took = timed(lambda: backfill(pipeline, args.concurrency).progress)
            rounds.append(result)
            counts = ", ".join(f"{name} {count:,}" for name, count in sorted(result.outcomes.items()) if count)
            print(f"{label:<28} {took.per(args.objects)}   {result.status}: {counts}")
    first, again = rounds
    ok = (
        first.status == again.status == SUCCEEDED
        and first.count("started") == args.objects
        and again.count("started") == 0
    )
    print("the repeat started 0 runs" if ok else "UNEXPECTED: see the counts above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
