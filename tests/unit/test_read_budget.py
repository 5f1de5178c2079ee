"""A transform's read budget (deploy review finding 7): every format's reader stops at it.

The budget counts decompressed bytes and watches the function's remaining time; the limits come
from ``TransformSettings`` (the stack's context parameters), the tighter one named in the error.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator

import pytest

from tasks.common.errors import ObjectTooLarge
from tasks.common.models import Compression, CsvDialect, Format, ObjectProfile
from tasks.transform.logic import TransformSettings, transform_stream
from tasks.transform.output import Lineage
from tasks.transform.readers import ReadBudget

ROWS = 20_000
SOURCES = {
    Format.CSV: ("a\n" + "".join(f"{n}\n" for n in range(ROWS))).encode(),
    Format.JSON: json.dumps([{"a": n} for n in range(ROWS)]).encode(),
    Format.JSONL: "".join(json.dumps({"a": n}) + "\n" for n in range(ROWS)).encode(),
}
PROFILES = {
    fmt: ObjectProfile(
        version_id="v1",
        etag="e",
        encoding="utf-8",
        csv=CsvDialect(delimiter=",", quotechar='"', doublequote=True, header=["a"]) if fmt is Format.CSV else None,
    )
    for fmt in Format
}


def transform(fmt: Format, compression: Compression, budget: ReadBudget) -> None:
    data = SOURCES[fmt]
    stored = gzip.compress(data) if compression is Compression.GZIP else data
    transform_stream(
        io.BytesIO(stored),
        fmt=fmt,
        compression=compression,
        profile=PROFILES[fmt],
        lineage=Lineage("incoming/a", "v1"),
        data=io.BytesIO(),
        rejects=io.BytesIO(),
        settings=TransformSettings(),
        budget=budget,
    )


def plenty_of_time() -> int:
    return 3_600_000


@pytest.mark.parametrize("compression", list(Compression))
@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_stops_past_its_byte_budget(fmt: Format, compression: Compression) -> None:
    # Given a budget of fewer decompressed bytes than the source holds
    budget = ReadBudget(
        max_bytes=len(SOURCES[fmt]) - 1, limit="the test's limit", remaining_ms=plenty_of_time, margin_ms=0
    )

    # When it is transformed
    # Then the read stops as ObjectTooLarge naming the limit
    with pytest.raises(ObjectTooLarge, match="over the test's limit"):
        transform(fmt, compression, budget)


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_reads_a_source_that_fits_its_budget_exactly(fmt: Format) -> None:
    budget = ReadBudget(max_bytes=len(SOURCES[fmt]), limit="the test's limit", remaining_ms=plenty_of_time, margin_ms=0)
    transform(fmt, Compression.NONE, budget)
    assert budget.spent == len(SOURCES[fmt])


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_stops_when_the_function_runs_short_of_time(fmt: Format) -> None:
    # Given a function whose remaining time falls under the margin after the first read
    clock: Iterator[int] = iter([60_000, 5_000])

    budget = ReadBudget(max_bytes=10**9, limit="unused", remaining_ms=lambda: next(clock, 0), margin_ms=10_000)

    # When a source is transformed
    # Then it stops cleanly, saying how much time was left
    with pytest.raises(ObjectTooLarge, match="within the function's timeout: 5000 ms were left"):
        transform(fmt, Compression.GZIP, budget)


def test_the_tighter_limit_is_the_one_applied_and_named() -> None:
    settings = TransformSettings(max_decompressed_bytes=1_000_000, max_compression_ratio=10)

    # A gzip source of 1,000 stored bytes may expand 10 times: 10,000 bytes, tighter than 1 MB
    gzipped = settings.read_budget(stored_bytes=1_000, compression=Compression.GZIP, remaining_ms=plenty_of_time)
    assert gzipped.max_bytes == 10_000
    assert gzipped.limit.startswith("maxCompressionRatio (10 times the 1000 stored bytes)")
    # An uncompressed source, or a gzip source large enough, is bounded by the decompressed limit
    for compression, stored in ((Compression.NONE, 1_000), (Compression.GZIP, 500_000)):
        budget = settings.read_budget(stored_bytes=stored, compression=compression, remaining_ms=plenty_of_time)
        assert (budget.max_bytes, budget.limit) == (1_000_000, "maxDecompressedBytes (1000000 bytes)")
