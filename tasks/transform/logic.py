"""The Transform steps' logic: one source stream to JSON Lines records and rejects, without S3.

Pure (no AWS, no Powertools), so the benchmark and the tests run exactly this, and handler.py
only adds the S3 streams and the Lambda handlers around it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from tasks.common.datasets import DatasetSettings
from tasks.common.errors import ValidationError
from tasks.common.models import ColumnSummary, Compression, Format, ObjectProfile
from tasks.transform.csv_converter import convert_csv
from tasks.transform.json_converter import read_json_array, write_records
from tasks.transform.jsonl_converter import convert_jsonl
from tasks.transform.output import ByteSink, Lineage, check_counts
from tasks.transform.readers import ByteStream, open_binary, open_text


class TransformSettings(msgspec.Struct, frozen=True):
    max_reject_ratio: float = 0.1
    null_markers: str = "NULL,null,N/A,n/a"
    """Comma-separated CSV values written as null, besides the empty value."""

    def null_marker_set(self) -> frozenset[str]:
        return frozenset(marker for marker in self.null_markers.split(",") if marker)


@dataclass(frozen=True, slots=True)
class TransformResult:
    records: int
    rejected: int
    columns: list[ColumnSummary] = field(default_factory=list)


def transform_stream(
    stream: ByteStream,
    *,
    fmt: Format,
    compression: Compression,
    profile: ObjectProfile,
    lineage: Lineage,
    data: ByteSink,
    rejects: ByteSink,
    settings: TransformSettings,
    dataset: DatasetSettings | None = None,
) -> TransformResult:
    """Turn one source stream into JSON Lines records and rejects, then check the counts.

    A dataset's settings replace the function's null markers and reject ratio, and its schema
    contract gates every record.
    """
    dataset = dataset or DatasetSettings()
    gate = None
    if dataset.schema is not None:
        from tasks.transform.contract import ContractGate  # noqa: PLC0415 - jsonschema only where a contract is

        gate = ContractGate(dataset.schema, data=data, rejects=rejects)
    records_sink = gate or data
    null_markers = settings.null_marker_set() if dataset.null_markers is None else frozenset(dataset.null_markers)
    if fmt is Format.CSV:
        if profile.csv is None:
            raise ValidationError("a CSV transform needs the dialect that Fetch sniffed")
        converted = convert_csv(
            open_binary(stream, compression=compression),
            profile.csv,
            encoding=profile.encoding,
            lineage=lineage,
            null_markers=null_markers,
            data=records_sink,
            rejects=rejects,
        )
        result = TransformResult(converted.records, converted.rejected, converted.columns)
    elif fmt is Format.JSONL:
        binary = open_binary(stream, compression=compression)
        counts = convert_jsonl(binary, encoding=profile.encoding, lineage=lineage, data=records_sink, rejects=rejects)
        result = TransformResult(*counts)
    else:
        text = open_text(stream, compression=compression, encoding=profile.encoding)
        items = read_json_array(text)
        result = TransformResult(*write_records(items, lineage=lineage, data=records_sink, rejects=rejects))
    if gate is not None:
        result = TransformResult(result.records - gate.rejected, result.rejected + gate.rejected, result.columns)
    max_reject_ratio = settings.max_reject_ratio if dataset.max_reject_ratio is None else dataset.max_reject_ratio
    check_counts(result.records, result.rejected, max_reject_ratio=max_reject_ratio)
    return result
