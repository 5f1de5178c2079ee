"""Which sources are split, into which ranges, and what every part shares with the file's start.

Throughput figures (README "Benchmark", one vCPU like a 1,769 MB Lambda): CSV→JSON Lines
60-75 MB/s, JSON Lines 60-88 MB/s, a JSON array 16-23 MB/s; the split's scan is ten times faster
than a transform (``python -m benchmarks.split``). S3 is taken at 50 MB/s each way per function,
an assumption to measure on AWS. The defaults keep every function far inside the 5-minute
timeout at the slowest of those figures (the arithmetic is on each default).

- CSV and JSON Lines are split: their records start after a line break, which a finite scan
  finds (``scan.py``).
- A JSON array is not: where its top-level elements end depends on the nesting depth, which no
  finite set of states holds, and a range cannot know the depth at its start without a pushdown
  scan of everything before it. Arrays stay one pass, up to ``max_json_array_bytes``; beyond,
  ``ObjectTooLarge`` names the limit and the way out (JSON Lines).
- gzip is not splittable (a range cannot be inflated without the bytes before it): a large one
  is decompressed once into staging (InflateSource), and the copy is split.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from tasks.common.datasets import DatasetSettings
from tasks.common.errors import ObjectTooLarge
from tasks.common.models import Compression, CsvDialect, Format, Route
from tasks.common.records import ColumnType
from tasks.split import _boundaries
from tasks.split.models import CsvSchema, ScanItem
from tasks.transform import _csvjson
from tasks.transform.csv_converter import CHUNK_BYTES, INFER_BYTES, infer_column_types
from tasks.transform.logic import TransformSettings
from tasks.transform.readers import ByteStream, Utf8Chunks, open_binary

MiB = 1024 * 1024
GiB = 1024 * MiB

_HEADER_BATCH = 64  # records looked at per call while looking for the header

Positive = Annotated[int, msgspec.Meta(ge=1)]


class SplitSettings(msgspec.Struct, frozen=True):
    """The split's parameters (environment variables, from the stack's context)."""

    split_threshold_bytes: Positive = 1 * GiB
    """Larger CSV and JSON Lines sources are split. One pass over 1 GiB at 60 MB/s converts in
    about 18 s and stages about 2 GiB of JSON Lines in about 43 s: about a fifth of the 300 s
    timeout. Below, the split's two extra Map states would cost more than they save."""
    range_bytes: Positive = 256 * MiB
    """Bytes per range. A range converts in about 4.5 s at 60 MB/s, and reads 256 MiB and writes
    about 512 MiB in about 16 s: about 20 s in all, 15 times inside the timeout, so a slow host or
    retried requests never reach it. 100 GB makes 373 ranges, fine for the
    Distributed Map (10,000 children at once) and for the commit's 10,000 multipart parts."""
    gzip_split_threshold_bytes: Positive = 128 * MiB
    """Larger gzip sources are decompressed to staging and split: text gzips 4 to 10 times, so
    128 MiB is 0.5 to 1.25 GiB of text, about the split threshold."""
    range_concurrency: Positive = 32
    """The most ranges transformed at once (the Maps' ``MaxConcurrency``). 100 GB (373 ranges) takes
    12 waves of about 20 s, about 4 minutes; 32 functions are a thirtieth of the default regional
    Lambda concurrency of 1,000, so other runs keep theirs."""
    max_json_array_bytes: Positive = 2 * GiB
    """Largest JSON array stored uncompressed (a gzip one is bounded by the transform's limit of
    decompressed bytes): 2 GiB at 16 MB/s is 134 s, under half the timeout."""


def route(fmt: Format, compression: Compression, size: int, settings: SplitSettings) -> Route:
    """The path a source of ``size`` stored bytes takes; ``ObjectTooLarge`` for a JSON array
    too large for one function."""
    if fmt is Format.JSON:
        if compression is Compression.NONE and size > settings.max_json_array_bytes:
            raise json_array_too_large(size, settings)
        return Route.SINGLE
    if compression is Compression.GZIP:
        return Route.INFLATE if size > settings.gzip_split_threshold_bytes else Route.SINGLE
    return Route.SPLIT if size > settings.split_threshold_bytes else Route.SINGLE


def json_array_too_large(size: int, settings: SplitSettings) -> ObjectTooLarge:
    return ObjectTooLarge(
        f"a JSON array of {size} bytes is over the {settings.max_json_array_bytes}-byte limit of JSON arrays"
        " (maxJsonArrayBytes): an array is read in one pass, as its elements cannot be found without reading"
        " all that precedes them; write the records as JSON Lines (one object per line), which is split"
    )


def content_start(encoding: str) -> int:
    """The offset of the first byte after a UTF-8 byte order mark (the only place one is one)."""
    return 3 if encoding == "utf-8-sig" else 0


def scan_items(start: int, size: int, range_bytes: int) -> list[ScanItem]:
    """The nominal ranges of [start, size), ``range_bytes`` each but the last."""
    return [
        ScanItem(index=index, start=first, end=min(first + range_bytes, size))
        for index, first in enumerate(range(start, size, range_bytes))
    ]


def null_markers_of(settings: TransformSettings, dataset: DatasetSettings) -> frozenset[str]:
    """The values written as null: the dataset's, else the function's (as one pass decides)."""
    return settings.null_marker_set() if dataset.null_markers is None else frozenset(dataset.null_markers)


def max_reject_ratio_of(settings: TransformSettings, dataset: DatasetSettings) -> float:
    """The share of rejects above which the file fails: the dataset's, else the function's."""
    return settings.max_reject_ratio if dataset.max_reject_ratio is None else dataset.max_reject_ratio


def plan_csv(
    head: ByteStream,
    *,
    encoding: str,
    dialect: CsvDialect,
    null_values: frozenset[str],
    start: int,
    size: int,
) -> tuple[CsvSchema, int]:
    """What the parts of a CSV share: the schema, and where the header ends (absolute).

    ``head`` reads the file from its first byte, at least ``CHUNK_BYTES`` of it when it has
    them; ``start`` is the content's first byte and ``size`` the file's. A header that does not
    end within the head ends, for the split, at ``size``: the file is then one part.
    """
    chunks = Utf8Chunks(open_binary(head, compression=Compression.NONE), encoding=encoding)
    types, text = head_column_types(chunks, dialect, null_values)
    end = header_end(text, complete=start + len(text) >= size, dialect=dialect)
    schema = CsvSchema(names=dialect.header, types=[column.value for column in types])
    return schema, size if end is None else start + end


def head_column_types(
    chunks: Utf8Chunks, dialect: CsvDialect, null_values: frozenset[str]
) -> tuple[list[ColumnType], bytes]:
    """The column types ``convert_csv`` infers, and the bytes it infers them from.

    ``chunks`` reads the file from its first byte, so the byte order mark is dropped as one pass
    drops it.
    """
    nulls = tuple(marker.encode() for marker in sorted(null_values))
    head = b""
    while True:
        chunk = chunks.read(CHUNK_BYTES)
        final = not chunk
        head += chunk
        if final or len(head) >= INFER_BYTES:
            return infer_column_types(head, dialect, nulls, complete=final), head


def header_end(head: bytes, *, complete: bool, dialect: CsvDialect) -> int | None:
    """Where the header record ends in ``head`` (the file's first bytes after any byte order
    mark), or None if it does not end there.

    The header is the first record the converter does not skip as blank; the converter itself
    says which, record by record, so blank lines before it are judged as one pass judges them.
    A header the converter cannot read ends there too: the first part then fails as one pass does.
    """
    view = memoryview(head)
    columns = len(dialect.header)
    names, kinds = (b'"":',) * columns, b"s" * columns
    start = 0
    while start < len(head):
        ends = _boundaries.record_ends(view[start:], dialect.delimiter, _HEADER_BATCH, complete)
        if not ends:
            return None
        for end in [start + relative for relative in ends]:
            record = bytes(view[start:end])
            converted = _csvjson.convert(record, 0, True, dialect.delimiter, names, kinds, (), b"", 1, True)
            if not converted.header or converted.header_problem is not None:
                return end
            start = end
    return None
