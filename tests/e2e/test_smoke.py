"""``pipeline smoke`` against ``pipeline serve``: the command an operator runs after a deploy, run here
so that it cannot rot before the first one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import BIN, Served, serving
from workflow.deployment import SMOKE_FOLDER, STACK_NAME, smoke_queue_prefix

STEPS = (
    "listen on the runs and alarms topics",
    "S3 upload runs to SUCCEEDED and notifies",
    "malformed upload is rejected and notifies",
    "API: signed POST 202, GET 200",
    "API: unsigned POST 403",
    "API: bad body 400 with a JSON body",
    "alarm state change reaches the alarms topic",
)


def traces(served: Served) -> dict[str, list[str]]:
    """What a smoke may leave behind: its queues, their subscriptions, its objects (every version)."""
    queues = served.client("sqs").list_queues(QueueNamePrefix=smoke_queue_prefix(STACK_NAME)).get("QueueUrls", [])
    subscriptions = [
        subscription["SubscriptionArn"]
        for subscription in served.client("sns").list_subscriptions()["Subscriptions"]
        if smoke_queue_prefix(STACK_NAME) in subscription["Endpoint"]
    ]
    objects = []
    for prefix in (f"incoming/{SMOKE_FOLDER}/", f"processed/{SMOKE_FOLDER}/"):
        listed = served.client("s3").list_object_versions(Bucket=served.bucket, Prefix=prefix)
        objects += [item["Key"] for kind in ("Versions", "DeleteMarkers") for item in listed.get(kind, [])]
    return {"queues": queues, "subscriptions": subscriptions, "objects": objects}


def smoke(served: Served, *options: str) -> tuple[int, dict[str, Any]]:
    result = served.run_cli(str(BIN / "pipeline"), "smoke", "--timeout", "60", "--json", *options)
    return result.returncode, json.loads(result.stdout or "{}") | {"stderr": result.stderr}


def test_every_step_holds_against_serve_and_nothing_is_left_behind(served: Served) -> None:
    # When the smoke runs against the served stack
    code, report = smoke(served)

    # Then what it created is gone, every step held, and the command exits 0
    assert traces(served) == {"queues": [], "subscriptions": [], "objects": []}
    assert {step["step"]: step["held"] for step in report["steps"]} == dict.fromkeys(STEPS, True), report
    assert code == 0, report


def test_the_text_report_is_a_table_of_what_held_with_timings(served: Served) -> None:
    result = served.run_cli(str(BIN / "pipeline"), "smoke", "--timeout", "60")
    lines = result.stdout.splitlines()
    for step in STEPS:
        (line,) = [line for line in lines if line.startswith(step)]
        assert line.split()[len(step.split())] in {"held", "FAILED"}, line
    assert lines[-1].startswith("smoke: ")


@pytest.fixture(scope="module")
def failing() -> Iterator[Served]:
    # Every CSV transform fails with a system error.
    with serving("--fail", "TransformCsv:InjectedFault:1000") as server:
        yield server


def test_a_step_that_does_not_hold_fails_the_smoke_and_keep_leaves_its_traces(failing: Served) -> None:
    # When the smoke runs, keeping what it creates, against a stack whose CSV runs fail
    code, report = smoke(failing, "--keep")

    # Then the S3 run step did not hold and says why, the others still ran, and the command exits 1
    steps = {step["step"]: step for step in report["steps"]}
    assert steps["S3 upload runs to SUCCEEDED and notifies"]["held"] is False
    assert "FAILED: InjectedFault" in steps["S3 upload runs to SUCCEEDED and notifies"]["detail"]
    assert steps["malformed upload is rejected and notifies"]["held"] is True
    assert steps["API: unsigned POST 403"]["held"] is True
    assert code == 1

    # And with --keep its queues, subscriptions and objects are still there, named in the report
    left = traces(failing)
    assert len(left["queues"]) == 2
    assert len(left["subscriptions"]) == 2
    assert any(key.startswith(f"incoming/{SMOKE_FOLDER}/{report['runId']}/") for key in left["objects"])
    assert sum(line.startswith("kept ") for line in report["cleaned"]) == 6
