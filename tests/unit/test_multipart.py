"""The parts a large object is copied in: within S3's limits of 10,000 parts of at most 5 GiB."""

from __future__ import annotations

import pytest

from tasks.common.multipart import MAX_PART_BYTES, MAX_PARTS, part_ranges


def test_parts_are_the_part_size_each_but_the_last() -> None:
    # Given 13 bytes in parts of 5 / Then two full parts and the rest, end to end
    assert part_ranges(13, 5) == [(0, 5), (5, 10), (10, 13)]
    assert part_ranges(10, 5) == [(0, 5), (5, 10)]
    assert part_ranges(4, 5) == [(0, 4)]
    assert part_ranges(0, 5) == []


def test_parts_grow_rather_than_pass_10000() -> None:
    # Given an object that would need 10,001 parts of the size asked for
    ranges = part_ranges(MAX_PARTS + 1, 1)
    # Then its parts are twice as large, and there are 5,001 of them
    assert len(ranges) == 5001
    assert ranges[0] == (0, 2)
    assert ranges[-1] == (MAX_PARTS, MAX_PARTS + 1)
    # And the largest object S3 holds, 5 TiB, fits in 10,000 parts of 256 MiB or more
    assert len(part_ranges(5 * 1024**4, 256 * 1024**2)) == MAX_PARTS


def test_an_object_that_would_need_parts_over_5_gib_is_refused() -> None:
    with pytest.raises(ValueError, match="over S3's 5368709120-byte limit"):
        part_ranges(MAX_PARTS * MAX_PART_BYTES + 1, 1)
