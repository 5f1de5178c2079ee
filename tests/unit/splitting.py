"""One file transformed two ways, without S3: in one pass, and split into ranges as the split steps do.

``split_pass`` runs the split steps' pure logic in their order (plan, scan every range, cut,
transform every part, merge) on bytes in memory; the Lambda handlers add only S3 around the
same calls. Both return an ``Outcome``, so a test compares them whole.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from tasks.commit_ranges.logic import merge_results
from tasks.common.datasets import DatasetSettings
from tasks.common.errors import BusinessError
from tasks.common.models import ColumnSummary, Compression, Format, ObjectProfile
from tasks.split.cuts import cut_parts
from tasks.split.models import CsvSchema, PartItem, PartResult, RangeError, RangeSummary, SplitSource
from tasks.split.plan import content_start, null_markers_of, plan_csv, scan_items
from tasks.split.scan import scan_range
from tasks.transform.csv_converter import CHUNK_BYTES
from tasks.transform.logic import TransformSettings, transform_stream
from tasks.transform.output import Lineage
from tasks.transform_range.logic import transform_part

LINEAGE = Lineage("incoming/test.csv", "v1")
SETTINGS = TransformSettings()


@dataclass(frozen=True)
class Outcome:
    data: bytes
    rejects: bytes
    records: int
    rejected: int
    columns: list[ColumnSummary]
    error: tuple[str, str] | None = None
    """(error class, message) when the file fails as a business error; the rest is then empty."""


def failed(error: BusinessError) -> Outcome:
    return Outcome(b"", b"", 0, 0, [], (type(error).__name__, str(error)))


def single_pass(
    data: bytes,
    fmt: Format,
    profile: ObjectProfile,
    *,
    settings: TransformSettings = SETTINGS,
    lineage: Lineage = LINEAGE,
    compression: Compression = Compression.NONE,
) -> Outcome:
    records, rejects = io.BytesIO(), io.BytesIO()
    try:
        result = transform_stream(
            io.BytesIO(data),
            fmt=fmt,
            compression=compression,
            profile=profile,
            lineage=lineage,
            data=records,
            rejects=rejects,
            settings=settings,
        )
    except BusinessError as error:
        return failed(error)
    return Outcome(records.getvalue(), rejects.getvalue(), result.records, result.rejected, result.columns)


@dataclass(frozen=True)
class Split:
    """The plan of one file: what PlanRanges and CutRanges stage."""

    source: SplitSource
    schema: CsvSchema | None
    summaries: list[RangeSummary]
    parts: list[PartItem]


def plan_split(
    data: bytes, fmt: Format, profile: ObjectProfile, *, range_bytes: int, settings: TransformSettings = SETTINGS
) -> Split:
    """PlanRanges, every ScanRange and CutRanges on ``data``."""
    dataset = DatasetSettings()
    start = content_start(profile.encoding)
    schema, header_end, delimiter = None, start, None
    if fmt is Format.CSV:
        assert profile.csv is not None
        schema, header_end = plan_csv(
            io.BytesIO(data[:CHUNK_BYTES]),
            encoding=profile.encoding,
            dialect=profile.csv,
            null_values=null_markers_of(settings, dataset),
            start=start,
            size=len(data),
        )
        delimiter = profile.csv.delimiter
    source = SplitSource(
        bucket="bucket",
        key=LINEAGE.source_key,
        version_id=LINEAGE.source_version,
        size=len(data),
        format=fmt,
        content_start=start,
        header_end=header_end,
        delimiter=delimiter,
        source_key=LINEAGE.source_key,
        source_version_id=LINEAGE.source_version,
    )
    summaries = [
        # The range and the byte after it, as ScanRange reads them.
        scan_range(
            io.BytesIO(data[item.start : item.end + 1]),
            delimiter=delimiter,
            index=item.index,
            start=item.start,
            end=item.end,
        )
        for item in scan_items(start, len(data), range_bytes)
    ]
    parts = cut_parts(summaries, start=start, size=len(data), header_end=header_end)
    return Split(source, schema, summaries, parts)


def split_pass(
    data: bytes, fmt: Format, profile: ObjectProfile, *, range_bytes: int, settings: TransformSettings = SETTINGS
) -> Outcome:
    """The file split into ranges of ``range_bytes``, each part transformed alone, then merged."""
    try:
        split = plan_split(data, fmt, profile, range_bytes=range_bytes, settings=settings)
    except BusinessError as error:  # PlanRanges reads the file's first bytes, as one pass does first
        return failed(error)
    outputs: list[tuple[bytes, bytes]] = []
    results: list[PartResult] = []
    for part in split.parts:
        records, rejects = io.BytesIO(), io.BytesIO()
        try:
            counts = transform_part(
                io.BytesIO(data[part.start : part.end]),
                split=split.source,
                part=part,
                schema=split.schema,
                data=records,
                rejects=rejects,
                settings=settings,
                dataset=DatasetSettings(),
            )
        except BusinessError as error:
            error_result = RangeError(name=type(error).__name__, message=str(error))
            results.append(PartResult(part.index, 0, 0, [], 0, 0, error_result))
            continue
        outputs.append((records.getvalue(), rejects.getvalue()))
        results.append(
            PartResult(
                part.index, counts.records, counts.rejected, counts.non_conforming, records.tell(), rejects.tell()
            )
        )
    try:
        records_count, rejected, columns = merge_results(
            results, split.schema, max_reject_ratio=settings.max_reject_ratio
        )
    except BusinessError as error:
        return failed(error)
    return Outcome(
        b"".join(data for data, _ in outputs),
        b"".join(rejects for _, rejects in outputs),
        records_count,
        rejected,
        columns,
    )
