"""TransformRange: convert one part of a split source (a child of the second Distributed Map).

A part starts and ends on record boundaries, so the format's converter reads it as it would the
whole file, told where the part starts (line numbers, whether the header is still to come) and,
for CSV, the column types inferred once from the file's start. The part's records, rejects and
counts are staged under the run's keys for its index.

Counts are not checked here: the reject ratio and "no records" are properties of the whole file,
which CommitRanges checks once. A business error (a line that is not UTF-8, a damaged header) is
the file's, not the part's: it is staged as the part's result, and CommitRanges raises the first
one in file order, as one pass would have met it. A system error fails the child, and a redrive
of the run reruns that child alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.common.datasets import DatasetSettings, dataset_settings
from tasks.common.errors import BusinessError, StagedOutputMissing
from tasks.common.models import Compression, CsvDialect, Format
from tasks.common.records import ColumnType
from tasks.common.s3_stream import S3MultipartWriter
from tasks.common.staging import put_document
from tasks.split.layout import part_keys
from tasks.split.models import (
    CsvSchema,
    PartItem,
    PartOutcome,
    PartResult,
    RangeError,
    SplitSource,
    TransformRangeEvent,
)
from tasks.split.plan import null_markers_of
from tasks.split.staging import get_json, reading_errors
from tasks.transform.csv_converter import convert_csv
from tasks.transform.jsonl_converter import convert_jsonl
from tasks.transform.logic import TransformSettings
from tasks.transform.output import ByteSink, Lineage
from tasks.transform.readers import ByteStream, Position, open_binary

PART_ENCODING = "utf-8"
"""A part never starts with the byte order mark (the first starts after it), and must not drop a
U+FEFF that opens a record further on."""


@dataclass(frozen=True, slots=True)
class PartCounts:
    records: int
    rejected: int
    non_conforming: list[int]


def transform_part(
    stream: ByteStream,
    *,
    split: SplitSource,
    part: PartItem,
    schema: CsvSchema | None,
    data: ByteSink,
    rejects: ByteSink,
    settings: TransformSettings,
    dataset: DatasetSettings,
) -> PartCounts:
    """Convert the part's bytes, read from ``stream``, into ``data`` and ``rejects``."""
    gate = None
    if dataset.schema is not None:
        from tasks.transform.contract import ContractGate  # noqa: PLC0415 - jsonschema only where a contract is

        gate = ContractGate(dataset.schema, data=data, rejects=rejects)
    records_sink = gate or data
    position = Position(line=part.line, newline_line=part.newline_line, header=part.header)
    lineage = Lineage(split.source_key, split.source_version_id)
    binary = open_binary(stream, compression=Compression.NONE)
    if split.format is Format.CSV:
        if schema is None or split.delimiter is None:
            raise StagedOutputMissing(f"the CSV split of {split.source_key} has no staged schema")
        converted = convert_csv(
            binary,
            CsvDialect(delimiter=split.delimiter, quotechar='"', doublequote=True, header=schema.names),
            encoding=PART_ENCODING,
            lineage=lineage,
            null_markers=null_markers_of(settings, dataset),
            data=records_sink,
            rejects=rejects,
            inferred_types=[ColumnType(name) for name in schema.types],
            position=position,
        )
        counts = PartCounts(
            converted.records, converted.rejected, [column.non_conforming for column in converted.columns]
        )
    else:
        records, rejected = convert_jsonl(
            binary, encoding=PART_ENCODING, lineage=lineage, data=records_sink, rejects=rejects, position=position
        )
        counts = PartCounts(records, rejected, [])
    if gate is None:
        return counts
    return PartCounts(counts.records - gate.rejected, counts.rejected + gate.rejected, counts.non_conforming)


def transform_range(s3: Any, event: TransformRangeEvent, settings: TransformSettings) -> PartOutcome:
    """Stage one part's output and result; a business error becomes the part's result."""
    split, part = event.split, event.range
    keys = part_keys(event.execution_arn, part.index)
    schema = None
    if split.schema_key is not None:
        schema = get_json(s3, bucket=split.bucket, key=split.schema_key, model=CsvSchema)
    try:
        with reading_errors(split.bucket, split.key, split.version_id):
            body = s3.get_object(
                Bucket=split.bucket,
                Key=split.key,
                VersionId=split.version_id,
                Range=f"bytes={part.start}-{part.end - 1}",
            )["Body"]
            with (
                S3MultipartWriter(s3, bucket=split.bucket, key=keys.data, content_type="application/x-ndjson") as data,
                S3MultipartWriter(
                    s3, bucket=split.bucket, key=keys.rejects, content_type="application/x-ndjson"
                ) as rejects,
            ):
                counts = transform_part(
                    body,
                    split=split,
                    part=part,
                    schema=schema,
                    data=data,
                    rejects=rejects,
                    settings=settings,
                    dataset=dataset_settings(split.dataset) or DatasetSettings(),
                )
        result = PartResult(
            index=part.index,
            records=counts.records,
            rejected=counts.rejected,
            non_conforming=counts.non_conforming,
            data_bytes=data.bytes_written,
            rejects_bytes=rejects.bytes_written,
        )
    except BusinessError as error:
        result = PartResult(
            index=part.index,
            records=0,
            rejected=0,
            non_conforming=[],
            data_bytes=0,
            rejects_bytes=0,
            error=RangeError.of(error),
        )
    put_document(s3, bucket=split.bucket, key=keys.result, document=result)
    return PartOutcome(
        index=part.index,
        records=result.records,
        rejected=result.rejected,
        error=None if result.error is None else result.error.name,
    )
