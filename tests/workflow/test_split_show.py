"""What an operator reads about a split run: ``pipeline show`` and ``pipeline run --json`` list its two
Map Runs with their ranges' counts, and a single-pass run gets no Map Run section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tasks.common.layout import INCOMING_PREFIX
from tests.scenarios import RANGES, as_csv, quoted_breaks_csv, run_upload, split_below
from workflow.cli.main import EXIT_SUCCEEDED, main
from workflow.cli.text import render_run
from workflow.executions import FAILED, SUCCEEDED
from workflow.local.environment import LocalPipeline
from workflow.local.template import StackModel
from workflow.ops.runs import show_run


def map_run_rows(text: str) -> dict[str, list[str]]:
    """The Map Run lines of a rendered run: Map state -> [status, ranges, ARN]."""
    lines = text.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("  map run"))
    rows: dict[str, list[str]] = {}
    for row, arn in zip(lines[header + 1 :: 2], lines[header + 2 :: 2], strict=False):
        state, status, ranges = row.split(maxsplit=2)
        rows[state] = [status, ranges, arn.strip()]
    return rows


def test_show_lists_a_split_run_s_map_runs_with_the_failed_range_and_a_small_run_none(
    pipeline: LocalPipeline,
) -> None:
    # Given a small CSV run in one pass
    small = run_upload(pipeline, "small.csv", as_csv([{"id": "1", "name": "Ann"}]))
    assert small.status == SUCCEEDED
    # And a CSV split in ranges whose first transformed part fails on a system error
    body = quoted_breaks_csv(600)
    split_below(pipeline, len(body))
    transform_range = pipeline.function_for_state("TransformRange")
    pipeline.lambdas.inject_fault(transform_range, error="InjectedFault")
    pipeline.upload(INCOMING_PREFIX + "split.csv", body)
    split = pipeline.wait(pipeline.started[-1], timeout=120)
    assert (split.status, split.error) == (FAILED, "States.ExceedToleratedFailureThreshold")
    parts = [call.function for call in pipeline.lambdas.invocations].count(transform_range)

    # When the operator shows each
    sfn = pipeline.client("stepfunctions")
    small_view = show_run(sfn, small.arn)
    split_view = show_run(sfn, split.arn)
    split_text = render_run(split_view, deployed=False)

    # Then the split run lists both Map Runs in order: every range scanned, one part failed
    rows = map_run_rows(split_text)
    assert list(rows) == ["ScanRanges", "TransformRanges"]
    assert rows["ScanRanges"][:2] == [SUCCEEDED, f"{RANGES} succeeded, 0 failed, 0 running, 0 pending of {RANGES}"]
    assert rows["TransformRanges"][:2] == [FAILED, f"{parts - 1} succeeded, 1 failed, 0 running, 0 pending of {parts}"]
    listed = sfn.list_map_runs(executionArn=split.arn)["mapRuns"]
    assert sorted(row[2] for row in rows.values()) == sorted(run["mapRunArn"] for run in listed)
    assert [run["state"] for run in split_view.as_json()["mapRuns"]] == ["ScanRanges", "TransformRanges"]
    # And the single-pass run has no Map Run, and no section for it
    assert small_view.map_runs == ()
    assert "map run" not in render_run(small_view, deployed=False)


def test_run_json_reports_the_ranges_of_a_split_run(
    stack_model: StackModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a CSV over the split threshold `pipeline run` is given (lowered as in test_split_runs)
    body = quoted_breaks_csv(600)
    source = tmp_path / "split.csv"
    source.write_bytes(body)
    entered: list[LocalPipeline] = []

    class SplittingPipeline(LocalPipeline):
        def __enter__(self) -> LocalPipeline:
            started = super().__enter__()
            split_below(started, len(body))
            entered.append(started)
            return started

    def from_project(**settings: Any) -> LocalPipeline:
        return SplittingPipeline(stack_model, **settings)

    monkeypatch.setattr(LocalPipeline, "from_project", from_project)

    # When it runs with --json
    code = main(["run", str(source), "--json"])

    # Then the report lists both Map Runs, every range and part succeeded
    assert code == EXIT_SUCCEEDED
    report = json.loads(capsys.readouterr().out)
    (pipeline,) = entered
    parts = [call.function for call in pipeline.lambdas.invocations].count(
        pipeline.function_for_state("TransformRange")
    )
    assert [(run["state"], run["status"]) for run in report["mapRuns"]] == [
        ("ScanRanges", SUCCEEDED),
        ("TransformRanges", SUCCEEDED),
    ]
    scan, transform = (run["items"] for run in report["mapRuns"])
    assert scan == {
        "total": RANGES,
        "succeeded": RANGES,
        "failed": 0,
        "running": 0,
        "pending": 0,
        "timedOut": 0,
        "aborted": 0,
    }
    assert (transform["total"], transform["succeeded"], transform["failed"]) == (parts, parts, 0)
    assert all(":mapRun:" in run["mapRunArn"] for run in report["mapRuns"])
