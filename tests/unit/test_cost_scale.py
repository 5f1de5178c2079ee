"""The cost model's file size: the path a run of a given size takes, its steps' times and requests, and
their price. Every expected value is worked out by hand in the test from the assumptions it sets."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

from tasks.common.errors import ObjectTooLarge
from tasks.common.models import Compression, Format, Route
from tasks.split.plan import SplitSettings
from workflow.cli.main import EXIT_SUCCEEDED, EXIT_USAGE, main
from workflow.cost.prices import US_EAST_1
from workflow.cost.scale import (
    SPLIT_PARENT_STATES,
    ChildType,
    InvalidFileSize,
    Requests,
    ScaleAssumptions,
    Source,
    convert_seconds,
    copy_output,
    express_gb_seconds,
    join_requests,
    join_seconds,
    parse_size,
    price_run,
    range_sizes,
    scan_seconds,
    size_run,
    upload_requests,
    waves,
)
from workflow.definition import definition_text

MIB = 1024**2
GIB = 1024**3
# Round figures, so that every expected value below is plain arithmetic.
A = ScaleAssumptions(
    csv_mb_s=100.0,
    scan_mb_s=500.0,
    output_ratio=2.0,
    s3_mb_s=50.0,
    copy_mb_s=100.0,
    request_seconds=0.0,
    gzip_ratio=5.0,
    inflate_mb_s=200.0,
    staging_days=15.0,
)
P = US_EAST_1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10GB", 10_000_000_000),
        ("100 gb", 100_000_000_000),
        ("1.5GiB", 1_610_612_736),
        ("256MiB", 268_435_456),
        ("2kb", 2000),
        ("123", 123),
        ("7B", 7),
    ],
)
def test_a_size_is_a_number_and_an_optional_decimal_or_binary_unit(text: str, expected: int) -> None:
    # Given a size as a person writes it / When parsed / Then its bytes
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["10XB", "", "GB", "-1GB", "1e9", "ten GB", "0", "0.0001B"])
def test_a_bad_size_is_refused_with_what_a_size_looks_like(text: str) -> None:
    # Given text that is no size of a file / When parsed / Then a named error says why
    with pytest.raises(InvalidFileSize, match="is not a file size"):
        parse_size(text)


def test_ranges_are_range_bytes_each_but_the_last() -> None:
    # Given sizes on and off a multiple of the range / Then whole ranges and the rest
    assert range_sizes(10, 4) == [4, 4, 2]
    assert range_sizes(8, 4) == [4, 4]
    assert range_sizes(3, 4) == [3]


def test_a_map_runs_its_children_in_waves_of_the_concurrency() -> None:
    assert (waves(38, 40), waves(40, 40), waves(41, 40), waves(373, 40)) == (1, 1, 2, 10)


def test_a_range_is_read_then_scanned_and_a_part_read_converted_and_written() -> None:
    # Given 100 MB at 50 MB/s from S3, a scan of 500 MB/s, a conversion of 100 MB/s writing 2 bytes a byte
    # Then the scan takes 2 + 0.2 s and the conversion 2 + 1 + 200/50 s
    assert scan_seconds(100 * 10**6, A) == pytest.approx(2.2)
    assert convert_seconds(100 * 10**6, Format.CSV, A) == pytest.approx(7.0)
    # JSON arrays convert at their own rate: 100 MB at 16 MB/s
    assert convert_seconds(100 * 10**6, Format.JSON, A) == pytest.approx(2 + 100 / 16 + 4)


def test_uploads_are_one_put_below_a_part_else_a_multipart_upload_of_8_mib_parts() -> None:
    assert upload_requests(0) == Requests(puts=1)
    assert upload_requests(8 * MIB - 1) == Requests(puts=1)
    assert upload_requests(8 * MIB) == Requests(puts=3)  # create, one part, complete
    assert upload_requests(20 * MIB) == Requests(puts=5)  # create, three parts, complete


def test_the_commit_copies_large_parts_and_reads_the_small_ones_to_upload_them() -> None:
    # Two parts of 100 MiB: create, two UploadPartCopy, complete; nothing read
    assert join_requests([100 * MIB, 100 * MIB]) == Requests(puts=4, gets=0)
    # One small part: read and written by one PutObject; no part at all: an empty object
    assert join_requests([1024]) == Requests(puts=1, gets=1)
    assert join_requests([]) == Requests(puts=1, gets=0)
    # Forty copies of 100 MB, 32 at a time at 100 MB/s: two rounds of one second
    assert join_seconds([100 * 10**6] * 40, A) == pytest.approx(2.0)
    assert join_seconds([100 * 10**6] * 32, A) == pytest.approx(1.0)


def test_write_output_copies_one_part_in_one_request_else_256_mib_parts_32_at_once() -> None:
    # One part: one CopyObject of 268.435456 MB at 100 MB/s (and the HeadObject before)
    seconds, requests = copy_output(256 * MIB, A)
    assert seconds == pytest.approx(2.68435456)
    assert requests == Requests(puts=1, gets=1)
    # 10^9 bytes: four parts (three of 256 MiB), all at once: as long as one full part
    seconds, requests = copy_output(10**9, A)
    assert seconds == pytest.approx(2.68435456)
    assert requests == Requests(puts=2 + 4, gets=1)
    # 9 GiB: 36 parts of 256 MiB, 32 then 4: two rounds of a full part
    seconds, requests = copy_output(9 * GIB, A)
    assert seconds == pytest.approx(2 * 2.68435456)
    assert requests == Requests(puts=2 + 36, gets=1)


def test_below_the_threshold_a_source_takes_one_pass_whose_time_grows_with_its_size() -> None:
    # Given 500 MB of CSV
    run = size_run(Source(500 * 10**6), A)
    # Then one pass: read 10 s, convert 5 s, write 1,000 MB in 20 s; WriteOutput copies 1,000 MB in
    # four parts at once, as long as one of 268.435456 MB
    assert run.route is Route.SINGLE
    assert (run.ranges, run.parent_states_added, run.staged_bytes) == (0, 0, 10**9)
    assert [step.state for step in run.steps] == ["Transform", "WriteOutput (copy)"]
    assert [duration for step in run.steps for duration in step.durations] == pytest.approx([35.0, 2.68435456])
    assert run.wall_seconds == pytest.approx(35 + 2.68435456)
    # The GET of the source, a multipart upload of ceil(10^9 / 8 MiB) = 120 parts; the copy's HeadObject
    # and its multipart upload of four parts
    assert sum((step.requests for step in run.steps), Requests()) == Requests(puts=2 + 120 + 2 + 4, gets=1 + 1)
    assert run.warnings == ()


def test_above_the_threshold_a_source_is_split_and_its_wall_time_is_the_waves_of_each_map() -> None:
    # Given 10 GB of CSV: 37 ranges of 256 MiB and 10^10 - 37 x 2^28 = 67,888,128 bytes, 32 at a time
    run = size_run(Source(10**10), A)
    assert run.route is Route.SPLIT
    assert (run.ranges, run.waves, run.parent_states_added) == (38, 2, 5)
    steps = {step.state: step for step in run.steps}
    assert list(steps) == [
        "PlanRanges",
        "ScanRanges",
        "CutRanges",
        "TransformRanges",
        "CommitRanges",
        "WriteOutput (copy)",
    ]
    full, last = 268.435456, 67.888128  # MB
    # Plan: 4 MiB read and inferred; scan: read at 50 and scanned at 500 MB/s; a part: read at 50,
    # converted at 100, twice its bytes written at 50 MB/s
    assert steps["PlanRanges"].durations == pytest.approx((4.194304 / 50 + 4.194304 / 100,))
    assert steps["ScanRanges"].durations == pytest.approx((full * 0.022,) * 37 + (last * 0.022,))
    assert steps["TransformRanges"].durations == pytest.approx((full * 0.07,) * 37 + (last * 0.07,))
    # Two waves each (32 children, then 6), each as long as its longest child: a full range
    assert steps["ScanRanges"].wall_seconds == pytest.approx(2 * full * 0.022)
    assert steps["TransformRanges"].wall_seconds == pytest.approx(2 * full * 0.07)
    # The commit copies 38 parts (37 of 2 x 2^28 bytes), 32 at a time: 2 rounds of a full part at 100 MB/s
    assert steps["CommitRanges"].durations == pytest.approx((2 * 536.870912 / 100,))
    # WriteOutput copies 2 x 10^10 bytes in ceil(2 x 10^10 / 2^28) = 75 parts, 32 at a time: 3 rounds
    # of a full part of 268.435456 MB at 100 MB/s
    assert steps["WriteOutput (copy)"].durations == pytest.approx((3 * 2.68435456,))
    assert steps["WriteOutput (copy)"].requests == Requests(puts=2 + 75, gets=1)
    transform = 4.194304 / 50 + 4.194304 / 100 + 2 * full * 0.022 + 2 * full * 0.07 + 2 * 536.870912 / 100
    assert run.transform_wall_seconds == pytest.approx(transform)
    assert run.wall_seconds == pytest.approx(transform + 3 * 2.68435456)
    # Staged: the parts and their join, 2 x 2 x 10^10 bytes
    assert run.staged_bytes == 4 * 10**10


def test_the_split_requests_per_range() -> None:
    # Given 10 GB in 38 ranges
    steps = {step.state: step for step in size_run(Source(10**10), A).steps}
    # Then each scan child GETs its range and PUTs its summary; the Map's item reader GETs the items
    assert steps["ScanRanges"].requests == Requests(puts=38, gets=38 + 1)
    # Each part GETs the schema and its range, uploads 2 x 2^28 bytes in 64 parts of 8 MiB (+ create and
    # complete), PUTs its empty rejects and its result; the 37 full parts and the last one of
    # ceil(135,776,256 / 8 MiB) = 17 parts; the item reader's GET
    assert steps["TransformRanges"].requests == Requests(puts=37 * (66 + 2) + (19 + 2), gets=38 * 2 + 1)
    # The cut GETs every summary and PUTs the parts' items; the commit GETs every result and the schema,
    # copies 38 parts (create, 38 copies, complete), PUTs the empty rejects and the columns
    assert steps["CutRanges"].requests == Requests(puts=1, gets=38)
    assert steps["CommitRanges"].requests == Requests(puts=40 + 1 + 1, gets=38 + 1)


def test_a_large_gzip_is_inflated_once_then_split() -> None:
    # Given 1 GiB of gzip that holds 5 GiB of CSV
    run = size_run(Source(GIB, Format.CSV, Compression.GZIP), A)
    # Then InflateSource reads 1 GiB at 50, inflates 5 GiB at 200 and writes it at 50 MB/s, and the copy is split
    assert run.route is Route.INFLATE
    assert (run.text_bytes, run.ranges, run.parent_states_added) == (5 * GIB, 20, 5)
    inflate = run.steps[0]
    assert inflate.state == "InflateSource"
    assert inflate.durations == pytest.approx((GIB / 10**6 / 50 + 5 * GIB / 10**6 / 200 + 5 * GIB / 10**6 / 50,))
    assert run.staged_bytes == 5 * GIB + 2 * 2 * 5 * GIB


def test_a_small_gzip_is_read_inflated_and_converted_in_one_pass() -> None:
    # Given 100 MB of gzip (500 MB of CSV), under the 128 MiB gzip threshold
    run = size_run(Source(100 * 10**6, Format.CSV, Compression.GZIP), A)
    # Then one pass reads 100 MB, inflates and converts 500 MB, writes 1,000 MB
    assert run.route is Route.SINGLE
    assert run.steps[0].durations == pytest.approx((2 + 500 / 200 + 5 + 20,))


def test_a_json_array_too_large_for_one_function_is_refused_as_the_runtime_refuses_it() -> None:
    with pytest.raises(ObjectTooLarge, match="JSON Lines"):
        size_run(Source(3 * 10**9, Format.JSON), A)


def test_100_gb_is_split_in_12_waves_and_every_step_fits_the_lambda_timeout() -> None:
    # Given 100 GB: 373 ranges, 32 at a time
    run = size_run(Source(10**11), A)
    assert (run.ranges, run.waves) == (373, 12)
    steps = {step.state: step for step in run.steps}
    # Then each Map takes twelve times its longest child
    assert steps["ScanRanges"].wall_seconds == pytest.approx(12 * 268.435456 * 0.022)
    assert steps["TransformRanges"].wall_seconds == pytest.approx(12 * 268.435456 * 0.07)
    # The commit copies 373 parts in 12 rounds of a full part of 536.870912 MB; WriteOutput 2 x 10^11
    # bytes in 746 parts of 256 MiB (the last 15,585,280 bytes), 24 rounds of a full one
    assert steps["CommitRanges"].durations == pytest.approx((12 * 5.36870912,))
    assert steps["WriteOutput (copy)"].durations == pytest.approx((24 * 2.68435456,))
    assert run.warnings == ()


def test_a_step_modeled_past_the_lambda_timeout_is_warned_about() -> None:
    # Given 100 GB whose copies run at 10 MB/s a request: the commit takes 12 x 53.6870912 s and
    # WriteOutput 24 x 26.8435456 s, both 644 s, past the 300 s timeout
    run = size_run(Source(10**11), dataclasses.replace(A, copy_mb_s=10.0))
    assert run.warnings == (
        "CommitRanges: 644 s modeled, over the 300 s Lambda timeout",
        "WriteOutput (copy): 644 s modeled, over the 300 s Lambda timeout",
    )


def test_the_threshold_and_range_size_are_the_runtime_settings() -> None:
    # Given a split threshold of 1 MB and ranges of 300 kB
    settings = SplitSettings(split_threshold_bytes=10**6, range_bytes=300_000)
    run = size_run(Source(10**6 + 1), dataclasses.replace(A, split=settings, concurrency=2))
    # Then 1,000,001 bytes make 4 ranges, two waves of two
    assert (run.route, run.ranges, run.waves) == (Route.SPLIT, 4, 2)


def test_standard_children_cost_two_transitions_each_and_the_split_five_more_parent_states() -> None:
    # Given 10 GB split in 38 ranges, two Maps of Standard children
    run = size_run(Source(10**10), A)
    lines = {line.item: line for line in price_run(run, A, P)}
    # Then each child is the transition the Map bills for starting it and its one Task state
    assert lines["state transitions (Map children)"].quantity == 2 * 2 * 38
    assert lines["state transitions (parent)"].quantity == 5
    assert "Express requests" not in lines
    # Lambda: 1 + 38 + 1 + 38 + 1 invocations; each duration billed in whole milliseconds at 1,769 MB
    assert lines["requests"].quantity == 79
    full, last = 268.435456, 67.888128
    milliseconds = (
        math.ceil(4.194304 / 50 * 1000 + 4.194304 / 100 * 1000)
        + 37 * math.ceil(full * 22)
        + math.ceil(last * 22)
        + 0
        + 37 * math.ceil(full * 70)
        + math.ceil(last * 70)
        + math.ceil(2 * 536.870912 / 100 * 1000)
    )
    assert lines["duration"].quantity == pytest.approx(milliseconds / 1000 * 1769 / 1024)
    assert lines["duration"].unit_price == P.lambda_gb_second_arm64
    # WriteOutput's copy of 3 x 2.68435456 s, billed as 8,054 ms at 256 MB
    assert lines["duration (WriteOutput's copy)"].quantity == pytest.approx(8.054 * 256 / 1024)
    # 4 x 10^10 bytes staged for 15 of the month's 730/24 days
    assert lines["staging storage"].quantity == pytest.approx(4 * 10**10 / GIB * 15 / (730 / 24))
    assert lines["staging storage"].cost == pytest.approx(4 * 10**10 / GIB * 15 / (730 / 24) * 0.023)


def parent_path(states: dict[str, Any], first: str, last: str) -> list[str]:
    """The states a parent execution goes through from ``first`` to ``last``, following ``Next``."""
    path = [first]
    while path[-1] != last:
        assert len(path) <= len(states), f"no path from {first} to {last}"
        path.append(states[path[-1]]["Next"])
    return path


@pytest.mark.parametrize(
    ("source", "entry"),
    [(Source(10**10), "SplitAsStored"), (Source(GIB, Format.CSV, Compression.GZIP), "InflateSource")],
)
def test_the_split_s_extra_parent_states_are_the_definition_s(source: Source, entry: str) -> None:
    # Given the definition's paths from the format's routing to the output's: one pass through one
    # transform state, the split through its entry state and its five
    states = json.loads(definition_text())["States"]
    choices = {choice["Next"] for choice in states["RouteByFormat"]["Choices"]}
    assert {entry, "TransformCsv"} <= choices
    one_pass = parent_path(states, "TransformCsv", "RouteByOutputFormat")
    split = parent_path(states, entry, "RouteByOutputFormat")
    # When the model prices a split run
    run = size_run(source, A)
    # Then it adds the transitions the split's path takes beyond one pass's
    assert split[1:-1] == list(SPLIT_PARENT_STATES)
    assert run.parent_states_added == len(split) - len(one_pass) == 5
    lines = {line.item: line for line in price_run(run, A, P)}
    assert lines["state transitions (parent)"].basis.startswith(f"{entry} + PlanRanges")


def test_express_children_cost_a_transition_a_request_and_their_duration_in_100_ms_and_64_mb_steps() -> None:
    # Given the same run with Express children
    express = dataclasses.replace(A, child_type=ChildType.EXPRESS)
    lines = {line.item: line for line in price_run(size_run(Source(10**10), express), express, P)}
    assert lines["state transitions (Map children)"].quantity == 2 * 38
    assert lines["Express requests"].quantity == 2 * 38
    # Scan children of 5.9055... s (60 steps) and 1.4935... s (15); parts of 18.790... s (188) and 4.752... s (48)
    steps = 37 * 60 + 15 + 37 * 188 + 48
    assert lines["Express duration"].quantity == pytest.approx(steps * 0.1 * 64 / 1024)
    assert lines["Express duration"].unit_price == P.sfn_express_gb_second


def test_express_duration_rounds_each_execution_up_to_100_ms() -> None:
    assert express_gb_seconds([0.1, 0.1001, 2.0]) == pytest.approx((1 + 2 + 20) * 0.1 * 64 / 1024)


def test_one_pass_pays_no_transition_for_its_size() -> None:
    lines = {line.item for line in price_run(size_run(Source(500 * 10**6), A), A, P)}
    assert not any(item.startswith("state transitions") for item in lines)


# The command -----------------------------------------------------------------------------------------


def test_cost_with_a_file_size_prints_the_path_the_times_and_the_price(capsys: pytest.CaptureFixture[str]) -> None:
    # When the command is asked about 10 GB of CSV
    code = main(["cost", "--file-size", "10GB"])
    # Then it prints the split's ranges, the wall time and the price, without measuring anything
    out = capsys.readouterr().out
    assert code == EXIT_SUCCEEDED
    assert "split into 38 ranges" in out
    assert "wall time on AWS" in out
    assert "total" in out


def test_cost_with_a_file_size_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["cost", "--file-size", "100GB", "--concurrency", "100", "--child-type", "express", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == EXIT_SUCCEEDED
    assert (report["path"], report["ranges"], report["waves"], report["childType"]) == ("split", 373, 4, "EXPRESS")
    assert report["costPerRun"] == pytest.approx(sum(line["monthlyCost"] for line in report["lines"]), abs=1e-5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--file-size", "10XB"], "'10XB' is not a file size"),
        (["--file-size", "0"], "at least one byte"),
        (["--file-size", "10GB", "--concurrency", "0"], "--concurrency must be at least 1"),
        (["--file-size", "3GB", "--format", "json"], "write the records as JSON Lines"),
        (["--file-size", "1GB", "--child-type", "batch"], "invalid choice"),
    ],
)
def test_a_bad_file_size_question_is_a_usage_error_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # When the command gets a bad value / Then exit status 2 and one line that says why, no traceback
    code = main(["cost", *argv])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert message in err
    assert "Traceback" not in err
    assert err.count("\n") == 1
