"""Throttling: with the account's Lambda concurrency at 10, 1,000 files dropped at once all succeed.

Every execution invokes its functions; with ten concurrent invocations allowed, most invokes are
throttled (``Lambda.TooManyRequestsException``) and must be retried by the definition until the
backlog clears. What decides the outcome is how long the retrier waits compared with how long the
burst takes to drain. On AWS, ``tests/infra/test_stack.py`` budgets the drain at
``LAMBDA_SECONDS_PER_RUN`` a run and checks the capacity retrier's window is twice that. Here the
engine's speed depends on the machine and its load, so the definition's clock is scaled to it: a
calibration burst of 50 files at the same concurrency (at a tenth of real time) measures how long
this machine takes to drain, and the scale makes the 1,000-file burst take, in the definition's
time, the drain AWS is budgeted for (never less than a tenth of real time). What the calibration
measures includes the throttled retries' own cost here (each is an invoke the engine answers with
a 429, work AWS does for free), so the ratio is close to AWS's, not exact. A retrier too weak for
it still fails: at a fixed tenth, a loaded machine failed 178 of 1,000 runs.

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

from tests.capacity import CONCURRENCY, LAMBDA_SECONDS_PER_RUN
from tests.scenarios import as_csv
from workflow.deployment import STACK_NAME
from workflow.local.environment import LocalPipeline
from workflow.local.synth import template_path
from workflow.local.template import StackModel, load_stack

FILES = int(os.environ.get("PIPELINE_THROTTLE_FILES", "1000"))
CALIBRATION_FILES = 50
MIN_TIME_SCALE = 0.1
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


def drop_at_once(stack: StackModel, files: int, time_scale: float) -> Outcome:
    """Upload ``files`` files under incoming/ at once and wait for every run."""
    with LocalPipeline(stack, log_stream=io.StringIO(), concurrency=CONCURRENCY, time_scale=time_scale) as pipeline:
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


def calibrated_time_scale(stack: StackModel, files: int) -> float:
    """The clock's scale at which a burst of ``files`` drains here in the time it drains on AWS."""
    calibration = drop_at_once(stack, CALIBRATION_FILES, MIN_TIME_SCALE)
    assert calibration.statuses == Counter({"SUCCEEDED": CALIBRATION_FILES}), calibration.summary()
    local_drain = calibration.seconds * files / CALIBRATION_FILES
    aws_drain = files * LAMBDA_SECONDS_PER_RUN / CONCURRENCY
    return max(MIN_TIME_SCALE, local_drain / aws_drain)


def test_a_thousand_files_dropped_at_once_at_concurrency_ten_all_succeed(
    stack_model: StackModel, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an account allowing 10 concurrent Lambda invocations, and the definition's clock scaled
    # so that the burst drains here in the time it drains on AWS
    time_scale = calibrated_time_scale(stack_model, FILES)

    # When 1,000 files are dropped under incoming/ at once
    outcome = drop_at_once(stack_model, FILES, time_scale)

    # Then invokes were throttled, retried, and every run succeeded
    with capsys.disabled():
        print(f"\nthrottling (time scale {time_scale:.3f}): {outcome.summary()}")
    assert outcome.throttles > 0, "the concurrency limit never throttled: the test does not test it"
    assert outcome.statuses == Counter({"SUCCEEDED": FILES}), outcome.summary()


def main(argv: list[str]) -> int:
    files = int(argv[0]) if argv else FILES
    stack = load_stack(template_path(), STACK_NAME)
    time_scale = calibrated_time_scale(stack, files)
    outcome = drop_at_once(stack, files, time_scale)
    print(f"time scale {time_scale:.3f}: {outcome.summary()}")
    return 0 if outcome.statuses == Counter({"SUCCEEDED": files}) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
