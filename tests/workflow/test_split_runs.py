"""A source above the split threshold runs by byte ranges through the real definition's
Distributed Maps, the real handlers in their sandboxes, and commits what one pass commits.

Each test runs a source once in one pass (the stack's defaults), then the same object version
again (a replay) with the split's thresholds lowered on Fetch and PlanRanges, as the context
parameters would set them, so that the two outputs carry the same lineage and compare byte for byte.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any

from tasks.transform.csv_converter import CHUNK_BYTES
from tests.scenarios import CSV_TO_JSONL_STATES, RANGES, as_csv, quoted_breaks_csv, run_upload, split_below
from workflow.executions import FAILED, SUCCEEDED
from workflow.local.environment import Execution, LocalPipeline

SPLIT_PATH = [
    "Validate",
    "RecordStart",
    "HasDataset",
    "Fetch",
    "RouteByFormat",
    "SplitAsStored",
    "PlanRanges",
    "ScanRanges",
    "CutRanges",
    "TransformRanges",
    "CommitRanges",
    "RouteByOutputFormat",
    "WriteOutput",
    "RecordSucceeded",
    "Notify",
]


@dataclass(frozen=True)
class Committed:
    """What a run committed: the data and rejects bytes, and the manifest's counts."""

    data: bytes
    rejects: bytes
    counts: dict[str, Any]


def committed(pipeline: LocalPipeline, execution: Execution) -> Committed:
    assert execution.output is not None, execution.cause
    manifest = json.loads(pipeline.read_object(execution.output["output"]["manifestKey"]))
    data_key = execution.output["output"]["key"]
    rejects_key = data_key.rsplit("/", 1)[0] + "/rejects.jsonl"
    counts = {"counts": manifest["counts"], "columns": manifest.get("columns")}
    return Committed(pipeline.read_object(data_key), pipeline.read_object(rejects_key), counts)


def run_again(pipeline: LocalPipeline, execution: Execution, name: str) -> Execution:
    """The same source version run again, as ``pipeline replay`` starts it."""
    request = {**{key: execution.input[key] for key in ("bucket", "key")}, "trigger": "replay", "reason": "split"}
    request["versionId"] = pipeline.client("s3").head_object(Bucket=request["bucket"], Key=request["key"])["VersionId"]
    arn = pipeline.client("stepfunctions").start_execution(
        stateMachineArn=pipeline.stack.state_machine_arn, name=name, input=json.dumps(request)
    )["executionArn"]
    return pipeline.wait(arn, timeout=120)


def map_runs(pipeline: LocalPipeline, execution_arn: str) -> dict[str, dict[str, Any]]:
    """The execution's Map Runs, described, by their Map state's label."""
    sfn = pipeline.client("stepfunctions")
    described = [
        sfn.describe_map_run(mapRunArn=run["mapRunArn"])
        for run in sfn.list_map_runs(executionArn=execution_arn)["mapRuns"]
    ]
    return {run["mapRunArn"].split(":")[-2].split("/")[-1]: run for run in described}


def data_versions(pipeline: LocalPipeline, execution: Execution) -> int:
    """How many versions of the run's committed data.jsonl exist (one per commit)."""
    assert execution.output is not None
    listed = pipeline.client("s3").list_object_versions(
        Bucket=pipeline.stack.bucket_name, Prefix=execution.output["output"]["key"]
    )
    return len(listed.get("Versions", []))


def failed_invocations(pipeline: LocalPipeline) -> list[tuple[str, str]]:
    """(function, error) of every invocation that failed: what a failed Map Run's children met."""
    return [(call.function, call.error_type) for call in pipeline.lambdas.invocations if call.error_type]


def names(pipeline: LocalPipeline, execution: Execution) -> list[str]:
    return [visit.name for visit in pipeline.visits(execution.arn)]


def assert_split_gives_one_pass_output(pipeline: LocalPipeline, name: str, body: bytes, **gzip_args: int) -> Execution:
    single = run_upload(pipeline, name, body)
    assert single.status == SUCCEEDED, single.cause
    expected = committed(pipeline, single)
    split_below(pipeline, len(body), **gzip_args)
    split = run_again(pipeline, single, "split-run")
    assert split.status == SUCCEEDED, split.cause
    assert committed(pipeline, split) == expected
    return split


def test_a_csv_with_quoted_line_breaks_split_in_ranges_commits_the_single_pass_output(pipeline: LocalPipeline) -> None:
    # Given a CSV whose quoted values hold line breaks, with some rows rejected
    body = quoted_breaks_csv(600)

    # When it runs in one pass, then split into ranges (the same version)
    split = assert_split_gives_one_pass_output(pipeline, "quoted.csv", body)

    # Then (asserted above) the data, rejects and manifest counts are byte-identical; the run went
    # by ranges: both Distributed Maps, each child one range, and every one succeeded
    assert names(pipeline, split) == SPLIT_PATH
    counts = committed(pipeline, split).counts["counts"]
    assert counts["rejected"] > 0
    assert counts["input"] == counts["records"] + counts["rejected"] == 600
    runs = map_runs(pipeline, split.arn)
    assert set(runs) == {"ScanRanges", "TransformRanges"}
    assert runs["ScanRanges"]["itemCounts"]["total"] == RANGES
    assert runs["TransformRanges"]["itemCounts"]["total"] >= 4
    for run in runs.values():
        assert run["status"] == SUCCEEDED
        assert run["maxConcurrency"] == 3
        assert run["itemCounts"]["succeeded"] == run["itemCounts"]["total"]


def test_a_json_lines_source_split_in_ranges_commits_the_single_pass_output(pipeline: LocalPipeline) -> None:
    # Given JSON Lines with a bad line and blank lines among the records
    lines = [json.dumps({"id": index, "text": f"value\r{index}"}) for index in range(800)]
    lines[400] = "{not json"
    lines[200] = ""
    body = ("\n".join(lines) + "\n").encode()

    # When it runs in one pass, then split into ranges
    split = assert_split_gives_one_pass_output(pipeline, "lines.jsonl", body)

    # Then the outputs matched (above), through the split path
    assert names(pipeline, split) == SPLIT_PATH
    assert map_runs(pipeline, split.arn)["TransformRanges"]["itemCounts"]["total"] >= 4


def test_a_large_gzip_source_is_decompressed_once_then_split(pipeline: LocalPipeline) -> None:
    # Given a gzip CSV over the gzip threshold
    text = quoted_breaks_csv(500)
    body = gzip.compress(text)

    # When it runs in one pass, then by ranges of its decompressed copy
    single = run_upload(pipeline, "quoted.csv.gz", body)
    assert single.status == SUCCEEDED, single.cause
    expected = committed(pipeline, single)
    split_below(pipeline, len(text), gzip_size=len(body))
    split = run_again(pipeline, single, "split-gzip")

    # Then InflateSource ran instead of the as-stored step, and the output is one pass's
    assert split.status == SUCCEEDED, split.cause
    assert names(pipeline, split)[4:7] == ["RouteByFormat", "InflateSource", "PlanRanges"]
    assert committed(pipeline, split) == expected
    assert map_runs(pipeline, split.arn)["ScanRanges"]["itemCounts"]["total"] == RANGES


def test_a_small_file_keeps_today_s_states_and_starts_no_map_run(pipeline: LocalPipeline) -> None:
    # Given the stack's split settings, and a small CSV
    # When it runs
    execution = run_upload(pipeline, "small.csv", as_csv([{"id": "1", "name": "Ann"}]))

    # Then it enters exactly the single-pass states, and no Map Run exists
    assert execution.status == SUCCEEDED
    assert names(pipeline, execution) == CSV_TO_JSONL_STATES
    assert map_runs(pipeline, execution.arn) == {}


def test_a_business_error_deep_in_a_range_rejects_the_run_as_one_pass_does(pipeline: LocalPipeline) -> None:
    # Given a CSV with a byte that is not UTF-8 past the first bytes Fetch and PlanRanges read
    # (4 MiB), in its fifth range
    body = quoted_breaks_csv(100_000)
    assert len(body) > 5 * CHUNK_BYTES // 4
    position = len(body) * 4 // 5
    position = body.index(b"\r\n", position) + 2
    body = body[:position] + b"9,\xff\xfe,x\r\n" + body[position:]

    # When it runs in one pass, then by ranges
    single = run_upload(pipeline, "bad.csv", body)
    split_below(pipeline, len(body))
    split = run_again(pipeline, single, "split-bad")

    # Then both are rejected with the same error and message (the same line), by CommitRanges
    assert (single.status, single.error) == (FAILED, "UnsupportedEncoding")
    assert (split.status, split.error, split.cause) == (single.status, single.error, single.cause), failed_invocations(
        pipeline
    )
    assert "line" in str(split.cause)
    assert "CommitRanges" in names(pipeline, split)
    assert "WriteOutput" not in names(pipeline, split)


def test_a_range_failing_on_a_system_error_fails_the_run_at_its_map_and_a_redrive_commits_one_pass_s_output(
    pipeline: LocalPipeline,
) -> None:
    # Given a CSV run in one pass, then by ranges, one of which fails with a system error
    body = quoted_breaks_csv(600)
    single = run_upload(pipeline, "fails.csv", body)
    expected = committed(pipeline, single)
    split_below(pipeline, len(body))
    pipeline.lambdas.inject_fault(pipeline.function_for_state("TransformRange"), error="InjectedFault")

    # When the split run fails
    split = run_again(pipeline, single, "split-fails")

    # Then it failed at TransformRanges (not caught as a rejection), its Map Run failed on the one range
    assert (split.status, split.error) == (FAILED, "States.ExceedToleratedFailureThreshold")
    last = pipeline.visits(split.arn)[-1]
    assert (last.name, last.status) == ("TransformRanges", FAILED)
    transform = map_runs(pipeline, split.arn)["TransformRanges"]
    assert (transform["status"], transform["itemCounts"]["failed"]) == (FAILED, 1)
    assert data_versions(pipeline, single) == 1

    # And when it is redriven, it restarts at TransformRanges and commits one pass's output
    pipeline.redrive(split.arn)
    redriven = pipeline.wait(split.arn, timeout=120)
    assert redriven.status == SUCCEEDED, redriven.cause
    assert committed(pipeline, redriven) == expected
    visited = [(visit.name, visit.status) for visit in pipeline.visits(split.arn)]
    assert visited[visited.index(("TransformRanges", FAILED)) + 1] == ("TransformRanges", SUCCEEDED)
    assert [name for name, _ in visited].count("PlanRanges") == 1
    assert data_versions(pipeline, single) == 2
    # Locally the Map Run starts again whole (moto cannot redrive a Map Run): every range is
    # scanned once, and transformed again; AWS would rerun the failed range only.
    invoked = [invocation.function for invocation in pipeline.lambdas.invocations]
    assert invoked.count(pipeline.function_for_state("ScanRange")) == RANGES
