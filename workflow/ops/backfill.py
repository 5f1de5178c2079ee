"""``pipeline backfill``: start the pipeline for the objects of a prefix that the ledger has no result for.

The work is the backfill state machine's (``workflow/backfill.asl.json``): a Distributed Map lists
the prefix, each child looks the current version up in the ledger and, when no run settled it,
starts one pipeline run named after the version (so a repeated or overlapping backfill starts
nothing twice) and waits for its end, so that ``concurrency`` bounds the runs in flight. A share of
children failing on system errors above ``tolerated_percent`` fails the backfill. This module
starts it and reads its progress: the Map Run's item counts and the outcome counters the children
keep in the ledger table (``sourceId`` ``#backfill``, ``versionId`` the backfill's name).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tasks.common.layout import INCOMING_PREFIX
from workflow.executions import RUNNING
from workflow.ledger import PARTITION_KEY, SORT_KEY, plain_value

BACKFILL_NAME_PREFIX = "backfill-"
PROGRESS_SOURCE = "#backfill"
DEFAULT_CONCURRENCY = 10
DEFAULT_TOLERATED_PERCENT = 5.0
MAX_CONCURRENCY = 1000  # a Distributed Map runs at most 10,000 children at once; runs are what is bounded here
OUTCOMES = (
    "skipped",
    "tooOld",
    "gone",
    "wouldStart",
    "started",
    "alreadyStarted",
    "succeeded",
    "rejected",
    "failed",
)


class BackfillError(ValueError):
    """The backfill cannot be asked for as it is (a prefix outside incoming/, a bad bound)."""


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    prefix: str
    since: timedelta | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    tolerated_percent: float = DEFAULT_TOLERATED_PERCENT
    dry_run: bool = False

    def check(self) -> None:
        if not self.prefix.startswith(INCOMING_PREFIX):
            raise BackfillError(f"--prefix must start with {INCOMING_PREFIX!r} (the sources S3 events start runs for)")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise BackfillError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
        if not 0 <= self.tolerated_percent <= 100:
            raise BackfillError("--tolerate must be a percentage between 0 and 100")

    def execution_input(self, now: datetime) -> dict[str, Any]:
        """The backfill's input: ``since`` as epoch seconds (0: no bound), as the listing gives times."""
        since = 0 if self.since is None else int((now - self.since).timestamp())
        return {
            "prefix": self.prefix,
            "since": since,
            "concurrency": self.concurrency,
            "toleratedFailurePercentage": float(self.tolerated_percent),
            "dryRun": self.dry_run,
        }

    def name(self, now: datetime) -> str:
        digest = hashlib.sha256(self.prefix.encode()).hexdigest()[:8]
        mode = "dry-" if self.dry_run else ""
        return f"{BACKFILL_NAME_PREFIX}{mode}{now.astimezone(UTC):%Y%m%dT%H%M%S}-{digest}"


def start_backfill(sfn: Any, state_machine_arn: str, request: BackfillRequest, *, now: datetime | None = None) -> str:
    request.check()
    moment = now or datetime.now(UTC)
    arn: str = sfn.start_execution(
        stateMachineArn=state_machine_arn,
        name=request.name(moment),
        input=json.dumps(request.execution_input(moment)),
    )["executionArn"]
    return arn


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    """Where a backfill stands: its status, the Map Run's item counts and the children's outcomes."""

    execution_arn: str
    status: str
    items: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    cause: str | None = None

    @property
    def listed(self) -> int:
        return self.items.get("total", 0)

    @property
    def in_flight(self) -> int:
        return self.items.get("running", 0)

    def count(self, outcome: str) -> int:
        return self.outcomes.get(outcome, 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "executionArn": self.execution_arn,
            "status": self.status,
            "listed": self.listed,
            "inFlight": self.in_flight,
            "items": self.items,
            "outcomes": {outcome: self.count(outcome) for outcome in OUTCOMES},
            "error": self.error,
            "cause": self.cause,
        }


def progress(sfn: Any, dynamodb: Any, table: str, execution_arn: str) -> BackfillProgress:
    described = sfn.describe_execution(executionArn=execution_arn)
    items: dict[str, int] = {}
    runs = sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
    if runs:
        items = dict(sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])["itemCounts"])
    found = dynamodb.get_item(
        TableName=table,
        Key={PARTITION_KEY: {"S": PROGRESS_SOURCE}, SORT_KEY: {"S": described["name"]}},
        ConsistentRead=True,
    ).get("Item", {})
    outcomes = {name: int(plain_value(value)) for name, value in found.items() if name in OUTCOMES}
    return BackfillProgress(
        execution_arn=execution_arn,
        status=described["status"],
        items=items,
        outcomes=outcomes,
        error=described.get("error"),
        cause=described.get("cause"),
    )


def follow(
    read: Callable[[], BackfillProgress],
    *,
    on_progress: Callable[[BackfillProgress], None],
    interval: float,
    timeout: float,
) -> BackfillProgress:
    """Read the progress every ``interval`` seconds until the backfill ends; ``TimeoutError`` past ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        current = read()
        on_progress(current)
        if current.status != RUNNING:
            return current
        if time.monotonic() > deadline:
            raise TimeoutError(f"{current.execution_arn} still running after {timeout:.0f} s (it goes on)")
        time.sleep(interval)
