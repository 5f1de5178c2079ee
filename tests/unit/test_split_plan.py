"""The split's pure decisions: which sources are split, the nominal ranges, the reduce's checks,
and the parts of the multipart upload that joins the parts' outputs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.common.errors import ObjectTooLarge, StagedOutputMissing
from tasks.common.models import Compression, Format, Route
from tasks.split.cuts import cut_parts
from tasks.split.models import FirstStart, RangeSummary
from tasks.split.parts import plan_parts
from tasks.split.plan import GiB, MiB, SplitSettings, route, scan_items
from tasks.split.scan import State

PROPERTY = settings(max_examples=300, deadline=None)
SETTINGS = SplitSettings()


@pytest.mark.parametrize(
    ("fmt", "compression", "size", "expected"),
    [
        (Format.CSV, Compression.NONE, SETTINGS.split_threshold_bytes, Route.SINGLE),
        (Format.CSV, Compression.NONE, SETTINGS.split_threshold_bytes + 1, Route.SPLIT),
        (Format.JSONL, Compression.NONE, 50 * GiB, Route.SPLIT),
        (Format.CSV, Compression.GZIP, SETTINGS.gzip_split_threshold_bytes, Route.SINGLE),
        (Format.JSONL, Compression.GZIP, SETTINGS.gzip_split_threshold_bytes + 1, Route.INFLATE),
        (Format.JSON, Compression.NONE, SETTINGS.max_json_array_bytes, Route.SINGLE),
        (Format.JSON, Compression.GZIP, 10 * GiB, Route.SINGLE),
    ],
)
def test_large_csv_and_json_lines_are_split_and_large_gzips_inflated_first(
    fmt: Format, compression: Compression, size: int, expected: Route
) -> None:
    # Given a source of a format and size; When it is routed; Then it takes the expected path
    assert route(fmt, compression, size, SETTINGS) is expected


def test_a_json_array_over_its_limit_is_refused_naming_the_limit_and_the_way_out() -> None:
    # Given a JSON array one byte over its limit; When it is routed; Then it is refused, saying why
    with pytest.raises(ObjectTooLarge, match=r"2147483648-byte limit of JSON arrays \(maxJsonArrayBytes\).*JSON Lines"):
        route(Format.JSON, Compression.NONE, SETTINGS.max_json_array_bytes + 1, SETTINGS)


def test_nominal_ranges_tile_the_content_after_a_byte_order_mark() -> None:
    # Given content after a byte order mark; When it is cut into ranges of 1 MiB
    items = scan_items(3, 3 + 2 * MiB + 5, MiB)
    # Then they tile it from the byte after the mark, the last one shorter; empty content has none
    assert [(item.index, item.start, item.end) for item in items] == [
        (0, 3, 3 + MiB),
        (1, 3 + MiB, 3 + 2 * MiB),
        (2, 3 + 2 * MiB, 3 + 2 * MiB + 5),
    ]
    assert scan_items(3, 3, MiB) == []


# --- the reduce ---------------------------------------------------------------------------------


def summary(index: int, start: int, end: int, *, first: int | None) -> RangeSummary:
    """A range where, from any start state, the next record starts at ``first`` and ends RECORD."""
    start_at = None if first is None else FirstStart(first, first - start, first - start)
    return RangeSummary(
        index=index,
        start=start,
        end=end,
        ends=[State.RECORD] * len(State),
        first=[start_at] * len(State),
        breaks=end - start,
        newlines=end - start,
    )


def test_a_range_without_a_record_start_joins_the_part_before_it() -> None:
    # Given a middle range in which no record starts (inside one long value)
    summaries = [summary(0, 0, 10, first=0), summary(1, 10, 20, first=None), summary(2, 20, 30, first=25)]
    # When the ranges are cut
    parts = cut_parts(summaries, start=0, size=30, header_end=0)
    # Then its bytes belong to the part before, and lines count every break before each cut
    assert [(part.start, part.end, part.line, part.header) for part in parts] == [(0, 25, 1, True), (25, 30, 26, False)]


def test_cuts_inside_the_header_are_dropped() -> None:
    # Given a header ending at byte 15 and a record start found at 12 (a blank line before it)
    summaries = [summary(0, 0, 10, first=0), summary(1, 10, 20, first=12), summary(2, 20, 30, first=22)]
    # When the ranges are cut; Then the first part holds the whole header
    parts = cut_parts(summaries, start=0, size=30, header_end=15)
    assert [(part.start, part.end) for part in parts] == [(0, 22), (22, 30)]


@pytest.mark.parametrize(
    "summaries",
    [
        [summary(0, 0, 10, first=0), summary(1, 11, 20, first=12)],  # a gap
        [summary(0, 0, 10, first=0), summary(2, 10, 20, first=12)],  # another plan's index
        [summary(0, 0, 10, first=0)],  # ends before the object
    ],
    ids=["gap", "index", "short"],
)
def test_summaries_of_another_plan_are_a_missing_staged_output(summaries: list[RangeSummary]) -> None:
    # Given summaries that do not tile the object; When they are cut; Then it is a system error
    with pytest.raises(StagedOutputMissing):
        cut_parts(summaries, start=0, size=20, header_end=0)


# --- the multipart upload's parts ---------------------------------------------------------------

MIN, MAX = 10, 35  # small stand-ins for S3's 5 MiB and 5 GiB


@PROPERTY
@given(sizes=st.lists(st.one_of(st.integers(0, 12), st.integers(0, 120)), max_size=12))
def test_the_parts_rebuild_the_objects_and_each_part_but_the_last_has_s3s_minimum(sizes: list[int]) -> None:
    # Given objects of any size, some small, some over the largest part; When they are joined
    parts = plan_parts(sizes, min_part=MIN, max_part=MAX)
    # Then the parts hold every byte of every object, in order, exactly once
    stream = [
        (segment.piece, offset)
        for part in parts
        for segment in part.segments
        for offset in range(segment.start, segment.end)
    ]
    assert stream == [(piece, offset) for piece, size in enumerate(sizes) for offset in range(size)]
    # Sizes S3 accepts; a copy is one stretch of one object; what is uploaded fits in memory
    assert all(MIN <= part.size <= MAX for part in parts[:-1])
    assert all(0 < part.size <= MAX for part in parts)
    assert all(len(part.segments) == 1 for part in parts if part.copied)
    assert all(part.size <= MIN for part in parts if not part.copied)


def test_large_objects_are_copied_and_only_small_ones_are_read() -> None:
    # Given two large objects around a small and an empty one; When they are joined
    parts = plan_parts([100, 3, 0, 100], min_part=MIN, max_part=MAX)
    # Then S3 copies all but what surrounds the small one; empty objects make no part at all
    copied = sum(part.size for part in parts if part.copied)
    assert copied >= 200 - 2 * MIN
    assert plan_parts([0, 0], min_part=MIN, max_part=MAX) == []
