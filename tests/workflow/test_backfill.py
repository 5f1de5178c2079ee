"""The backfill state machine on the local engine, with the real definitions: a Distributed Map over
the bucket's listing that starts one pipeline run per object version the ledger has no result for.

Objects are "seeded before the stack existed" by uploading them while the S3 rule is disabled, so
that nothing but the backfill starts their runs. (5,000 objects, backfilled then backfilled again,
are ``test_backfill_at_scale.py``.)
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.s3.models import S3Backend

from tasks.common.layout import INCOMING_PREFIX
from tests.scenarios import SOURCES, as_csv, backfill_machine, before_the_stack, ledger_item
from workflow.executions import FAILED, SUCCEEDED
from workflow.ledger import REJECTED
from workflow.ledger import SUCCEEDED as LEDGER_SUCCEEDED
from workflow.local.environment import LocalPipeline
from workflow.ops.backfill import BackfillProgress, BackfillRequest, follow, progress, start_backfill

PREFIX = INCOMING_PREFIX + "seeded/"


def seed(pipeline: LocalPipeline, names: list[str], body: bytes = SOURCES["people.csv"]) -> dict[str, str]:
    """Upload ``names`` under the seeded prefix before the stack existed; key -> version id."""
    with before_the_stack(pipeline):
        return {PREFIX + name: pipeline.upload(PREFIX + name, body) for name in names}


def run_backfill(pipeline: LocalPipeline, request: BackfillRequest, now: datetime | None = None) -> BackfillProgress:
    sfn, dynamodb = pipeline.client("stepfunctions"), pipeline.client("dynamodb")
    arn = start_backfill(sfn, backfill_machine(pipeline), request, now=now)
    table = pipeline.stack.tables[0].name
    return follow(lambda: progress(sfn, dynamodb, table, arn), on_progress=lambda _: None, interval=0.1, timeout=120)


def pipeline_runs(pipeline: LocalPipeline) -> list[dict[str, Any]]:
    pages = pipeline.client("stepfunctions").get_paginator("list_executions")
    return [
        run for page in pages.paginate(stateMachineArn=pipeline.stack.state_machine_arn) for run in page["executions"]
    ]


def outcomes(result: BackfillProgress) -> dict[str, int]:
    return {name: count for name, count in result.outcomes.items() if count}


def test_a_backfill_runs_each_unprocessed_object_once_and_a_repeat_starts_nothing(pipeline: LocalPipeline) -> None:
    # Given 12 objects seeded before the stack existed, and one uploaded since (its run has ended)
    seeded = seed(pipeline, [f"{index:02d}.csv" for index in range(12)])
    live = PREFIX + "live.csv"
    pipeline.upload(live, SOURCES["people.csv"])
    pipeline.wait(pipeline.started[0], timeout=30)

    # When the prefix is backfilled
    first = run_backfill(pipeline, BackfillRequest(prefix=PREFIX, concurrency=4))

    # Then every seeded object got one run, the live one none, and all succeeded
    assert (first.status, first.listed, first.in_flight) == (SUCCEEDED, 13, 0)
    assert outcomes(first) == {"started": 12, "succeeded": 12, "skipped": 1}
    assert len(pipeline_runs(pipeline)) == 13
    for key, version in seeded.items():
        item = ledger_item(pipeline, key, version)
        assert item is not None
        assert item.status == LEDGER_SUCCEEDED, key
        assert [entry.trigger for entry in item.runs] == ["backfill"], key

    # When the same backfill runs again
    again = run_backfill(pipeline, BackfillRequest(prefix=PREFIX, concurrency=4))

    # Then it starts no run: the ledger has a result for every version
    assert (again.status, outcomes(again)) == (SUCCEEDED, {"skipped": 13})
    assert len(pipeline_runs(pipeline)) == 13


def test_overlapping_backfills_start_each_version_once(pipeline: LocalPipeline) -> None:
    # Given 8 seeded objects
    seeded = seed(pipeline, [f"{index}.csv" for index in range(8)])

    # When two backfills whose prefixes both cover them run at the same time
    results: list[BackfillProgress] = []
    threads = [
        threading.Thread(
            target=lambda prefix=prefix: results.append(
                run_backfill(pipeline, BackfillRequest(prefix=prefix, concurrency=3))
            )
        )
        for prefix in (PREFIX, INCOMING_PREFIX)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # Then both succeed, and each version was run once, under the one name derived from it
    assert [result.status for result in results] == [SUCCEEDED, SUCCEEDED]
    assert results[0].execution_arn != results[1].execution_arn
    runs = pipeline_runs(pipeline)
    assert len(runs) == len(seeded)
    assert all(run["name"].startswith("bf-") and run["status"] == SUCCEEDED for run in runs)
    for key, version in seeded.items():
        item = ledger_item(pipeline, key, version)
        assert item is not None
        assert len(item.executions) == 1, key
    # And each backfill accounts for every object it listed: started (or joined), found started, or skipped
    for result in results:
        assert result.count("started") + result.count("alreadyStarted") + result.count("skipped") == result.listed


def test_a_dry_run_counts_what_would_run_and_starts_nothing(pipeline: LocalPipeline) -> None:
    # Given 5 seeded objects
    seed(pipeline, [f"{index}.jsonl" for index in range(5)], SOURCES["people.jsonl"])

    # When a dry run of the backfill runs
    result = run_backfill(pipeline, BackfillRequest(prefix=PREFIX, dry_run=True))

    # Then it counts them and no pipeline run exists
    assert (result.status, outcomes(result)) == (SUCCEEDED, {"wouldStart": 5})
    assert pipeline_runs(pipeline) == []


def test_objects_older_than_since_are_left_alone(pipeline: LocalPipeline) -> None:
    # Given 3 seeded objects
    seed(pipeline, ["a.csv", "b.csv", "c.csv"])

    # When a backfill asks for objects of the last hour, two hours from now
    later = datetime.now(UTC) + timedelta(hours=2)
    result = run_backfill(pipeline, BackfillRequest(prefix=PREFIX, since=timedelta(hours=1)), now=later)

    # Then all are too old and nothing runs
    assert outcomes(result) == {"tooOld": 3}
    assert pipeline_runs(pipeline) == []


def test_rejections_are_outcomes_but_system_failures_past_the_tolerance_fail_the_backfill(
    pipeline: LocalPipeline,
) -> None:
    # Given two seeded files the pipeline rejects and two it accepts
    seed(pipeline, ["notes.txt", "readme.md"], b"plain text")
    seed(pipeline, ["good-1.csv", "good-2.csv"], as_csv([{"id": "1"}]))

    # When they are backfilled with no tolerance for failures
    result = run_backfill(pipeline, BackfillRequest(prefix=PREFIX, tolerated_percent=0))

    # Then the rejections are counted and the backfill succeeds
    assert (result.status, outcomes(result)) == (SUCCEEDED, {"started": 4, "succeeded": 2, "rejected": 2})
    item = ledger_item(
        pipeline,
        PREFIX + "notes.txt",
        pipeline.client("s3").head_object(Bucket=pipeline.stack.bucket_name, Key=PREFIX + "notes.txt")["VersionId"],
    )
    assert item is not None
    assert item.status == REJECTED

    # Given then two new files whose transform fails on a system error every time
    seed(pipeline, ["broken-1.csv", "broken-2.csv"], as_csv([{"id": "2"}]))
    pipeline.lambdas.inject_fault(pipeline.function_for_state("TransformCsv"), error="InjectedFault", times=100)

    # When the prefix is backfilled again with no tolerance
    failed = run_backfill(pipeline, BackfillRequest(prefix=PREFIX, tolerated_percent=0))

    # Then the backfill fails on the threshold, the failed runs stay redrivable, the rest is skipped
    assert (failed.status, failed.error) == (FAILED, "States.ExceedToleratedFailureThreshold")
    assert outcomes(failed) == {"skipped": 4, "started": 2, "failed": 2}
    sfn = pipeline.client("stepfunctions")
    errors = sorted(
        sfn.describe_execution(executionArn=run["executionArn"]).get("error", "")
        for run in pipeline_runs(pipeline)
        if run["status"] == FAILED
    )
    assert errors == ["InjectedFault", "InjectedFault", "UnsupportedFormat", "UnsupportedFormat"]


def test_a_tolerated_share_of_failed_runs_lets_the_backfill_finish(pipeline: LocalPipeline) -> None:
    # Given four seeded files, one of which fails on a system error every time
    seed(pipeline, ["1.csv", "2.csv", "3.csv"], as_csv([{"id": "1"}]))
    seed(pipeline, ["4.jsonl"], SOURCES["people.jsonl"])
    pipeline.lambdas.inject_fault(pipeline.function_for_state("TransformJsonl"), error="InjectedFault", times=100)

    # When they are backfilled tolerating 30 % of failures
    result = run_backfill(pipeline, BackfillRequest(prefix=PREFIX, tolerated_percent=30))

    # Then the backfill succeeds with the failure counted
    assert (result.status, outcomes(result)) == (SUCCEEDED, {"started": 4, "succeeded": 3, "failed": 1})


def deleted_once_listed(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """Delete ``key`` right after the backfill's listing of ``PREFIX`` names it: before its
    ``FindVersion``, as an object deleted while a backfill runs."""
    original = S3Backend.list_objects_v2

    def listing(backend: S3Backend, bucket: Any, prefix: str | None, *args: Any, **kwargs: Any) -> Any:
        listed = original(backend, bucket, prefix, *args, **kwargs)
        if prefix == PREFIX and any(getattr(item, "name", None) == key for item in listed[0]):
            backend.delete_object(bucket.name, key)
        return listed

    monkeypatch.setattr(S3Backend, "list_objects_v2", listing)


def test_an_object_deleted_after_the_listing_is_counted_as_gone(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two seeded objects, one of them deleted once the backfill has listed it
    seed(pipeline, ["kept.csv", "deleted.csv"], as_csv([{"id": "1"}]))
    deleted_once_listed(monkeypatch, PREFIX + "deleted.csv")

    # When they are backfilled with no tolerance for failures
    result = run_backfill(pipeline, BackfillRequest(prefix=PREFIX, tolerated_percent=0))

    # Then the deleted one is counted as gone, not failed, and the backfill succeeds
    assert (result.status, outcomes(result)) == (SUCCEEDED, {"gone": 1, "started": 1, "succeeded": 1})
    assert [run["name"] for run in pipeline_runs(pipeline) if run["status"] != SUCCEEDED] == []
    assert pipeline.access.denials == []


def test_under_s3_s_strict_reading_an_object_deleted_after_the_listing_is_still_gone(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given S3 judging a read of a missing key by a listing of the whole bucket, which the
    # backfill's role may not make (it lists under incoming/ only): its HeadObject gets 403
    pipeline.access.key_is_listing_prefix = False
    seed(pipeline, ["kept.csv", "deleted.csv"], as_csv([{"id": "1"}]))
    deleted_once_listed(monkeypatch, PREFIX + "deleted.csv")

    # When they are backfilled with no tolerance for failures
    result = run_backfill(pipeline, BackfillRequest(prefix=PREFIX, tolerated_percent=0))

    # Then S3 answered the HeadObject and its 3 retries 403, hiding the absence; the listing under
    # the key told it, and the object is counted as gone
    assert (result.status, outcomes(result)) == (SUCCEEDED, {"gone": 1, "started": 1, "succeeded": 1})
    concealed = [denial for denial in pipeline.access.denials if ":assumed-role/Backfill" in denial.principal]
    assert [(denial.operation, denial.action, denial.code) for denial in concealed] == [
        ("HeadObject", "s3:ListBucket", "AccessDenied")
    ] * 4
