"""PlanRanges: cut a large source into nominal byte ranges and fix what every part shares.

The ranges are arithmetic ([start, start + rangeBytes) from the first byte after a byte order
mark); they become the scan's items, a JSON array in S3 for the Distributed Map's ItemReader.
For CSV, the decisions one pass takes from the file's first bytes are taken here, once, from
those same bytes: the column types (so that every part types its values alike) and where the
header record ends (so that only the first part reads it). The dialect is Fetch's.
"""

from __future__ import annotations

import io
from typing import Any

import msgspec

from tasks.common.datasets import DatasetSettings, dataset_settings
from tasks.common.errors import ValidationError
from tasks.common.models import Compression, CsvDialect, Format
from tasks.common.staging import get_document, put_document
from tasks.split.layout import scan_items_key, schema_key
from tasks.split.models import PlanRangesEvent, ScanPlan, SplitSource, StagedSource
from tasks.split.plan import SplitSettings, content_start, json_array_too_large, null_markers_of, plan_csv, scan_items
from tasks.split.staging import reading_errors
from tasks.transform.csv_converter import CHUNK_BYTES
from tasks.transform.logic import TransformSettings
from tasks.transform.readers import check_encoding


def plan_ranges(s3: Any, event: PlanRangesEvent, settings: SplitSettings, transform: TransformSettings) -> ScanPlan:
    source, profile = event.source, event.profile
    if source.format is Format.JSON:
        raise json_array_too_large(source.size, settings)
    if source.compression is Compression.GZIP and event.staged is None:
        raise ValidationError("a gzip source is split from its decompressed copy (InflateSource), which is missing")
    check_encoding(profile.encoding)
    read = event.staged or StagedSource(
        bucket=source.bucket, key=source.key, version_id=source.version_id, size=source.size
    )
    start = content_start(profile.encoding)
    split = SplitSource(
        bucket=read.bucket,
        key=read.key,
        version_id=read.version_id,
        size=read.size,
        format=source.format,
        content_start=start,
        header_end=start,
        delimiter=None,
        source_key=source.key,
        source_version_id=source.version_id,
        dataset=source.dataset,
    )
    if source.format is Format.CSV:
        split = _plan_csv(s3, event, split, transform)
    items = scan_items(start, read.size, settings.range_bytes)
    key = scan_items_key(event.execution_arn)
    put_document(s3, bucket=read.bucket, key=key, document=items)
    return ScanPlan(split=split, ranges=len(items), items_key=key, max_concurrency=settings.range_concurrency)


def _plan_csv(s3: Any, event: PlanRangesEvent, split: SplitSource, transform: TransformSettings) -> SplitSource:
    """The CSV split with its header's end and its staged schema (the types one pass would infer)."""
    dialect_key = event.profile.csv_dialect_key
    if dialect_key is None:
        raise ValidationError("a CSV split needs the dialect that Fetch sniffed")
    dialect = get_document(s3, bucket=event.source.bucket, key=dialect_key, kind=CsvDialect)
    dataset = dataset_settings(split.dataset) or DatasetSettings()
    with reading_errors(split.bucket, split.key, split.version_id):
        head = (
            s3.get_object(
                Bucket=split.bucket, Key=split.key, VersionId=split.version_id, Range=f"bytes=0-{CHUNK_BYTES - 1}"
            )["Body"]
            if split.size
            else io.BytesIO()
        )
        schema, header = plan_csv(
            head,
            encoding=event.profile.encoding,
            dialect=dialect,
            null_values=null_markers_of(transform, dataset),
            start=split.content_start,
            size=split.size,
        )
    key = schema_key(event.execution_arn)
    put_document(s3, bucket=split.bucket, key=key, document=schema)
    return msgspec.structs.replace(split, header_end=header, delimiter=dialect.delimiter, schema_key=key)
