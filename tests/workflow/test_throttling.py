"""Throttling: with the account's Lambda concurrency at 10, 1,000 files dropped at once all succeed.

Every execution invokes five functions; with ten concurrent invocations allowed, most invokes are
throttled (``Lambda.TooManyRequestsException``) and must be retried by the definition until the
backlog clears. Locally the handlers run faster than on Lambda while the engine's work runs at
its own speed, so retries wait a tenth of AWS's time here (``TIME_SCALE``), not the thousandth
of the other scenarios: the retry windows shrink about as much as the work does.

    .venv/bin/python -m tests.workflow.test_throttling [FILES]   # prints the figures
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from tests.scenarios import as_csv
from workflow.deployment import STACK_NAME
from workflow.local.environment import LocalPipeline
from workflow.local.synth import template_path
from workflow.local.template import StackModel, load_stack

FILES = int(os.environ.get("PIPELINE_THROTTLE_FILES", "1000"))
CONCURRENCY = 10
TIME_SCALE = 0.1
DEADLINE_SECONDS = 3600


@dataclass(frozen=True)
class Outcome:
    files: int
    seconds: float
    statuses: Counter[str]
    throttles: int
    errors: Counter[str]

    def summary(self) -> str:
        return (
            f"{self.files} files at concurrency {CONCURRENCY}: all ended in {self.seconds:.0f} s; "
            f"statuses {dict(self.statuses)}; {self.throttles} throttled invokes; failures {dict(self.errors)}"
        )


def drop_at_once(stack: StackModel, files: int) -> Outcome:
    """Upload ``files`` files under incoming/ at once and wait for every run."""
    with LocalPipeline(stack, log_stream=io.StringIO(), concurrency=CONCURRENCY, time_scale=TIME_SCALE) as pipeline:
        started = time.monotonic()
        for index in range(files):
            pipeline.upload(f"incoming/drop-{index:04d}.csv", as_csv([{"id": str(index), "name": "n", "city": "c"}]))
        assert len(pipeline.started) == files, "every upload starts one run"
        executions = [pipeline.wait(arn, timeout=DEADLINE_SECONDS) for arn in pipeline.started]
        seconds = time.monotonic() - started
        throttles = sum(1 for invocation in pipeline.lambdas.invocations if invocation.throttled)
    return Outcome(
        files=files,
        seconds=seconds,
        statuses=Counter(execution.status for execution in executions),
        throttles=throttles,
        errors=Counter(str(execution.error) for execution in executions if execution.status != "SUCCEEDED"),
    )


def test_a_thousand_files_dropped_at_once_at_concurrency_ten_all_succeed(
    stack_model: StackModel, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an account allowing 10 concurrent Lambda invocations
    # When 1,000 files are dropped under incoming/ at once
    outcome = drop_at_once(stack_model, FILES)

    # Then invokes were throttled, retried, and every run succeeded
    with capsys.disabled():
        print(f"\nthrottling: {outcome.summary()}")
    assert outcome.throttles > 0, "the concurrency limit never throttled: the test does not test it"
    assert outcome.statuses == Counter({"SUCCEEDED": FILES}), outcome.summary()


def main(argv: list[str]) -> int:
    files = int(argv[0]) if argv else FILES
    outcome = drop_at_once(load_stack(template_path(), STACK_NAME), files)
    print(outcome.summary())
    return 0 if outcome.statuses == Counter({"SUCCEEDED": files}) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
