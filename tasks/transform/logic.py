"""The Transform steps' logic: one source stream to JSON Lines records and rejects, without S3.

Pure (no AWS, no Powertools), so the benchmark and the tests run exactly this, and handler.py
only adds the S3 streams and the Lambda handlers around it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from tasks.common.datasets import DatasetSettings
from tasks.common.errors import ValidationError
from tasks.common.models import ColumnSummary, Compression, Format, ObjectProfile
from tasks.transform.csv_converter import convert_csv
from tasks.transform.json_converter import read_json_array, write_records
from tasks.transform.jsonl_converter import convert_jsonl
from tasks.transform.output import ByteSink, Lineage, check_counts
from tasks.transform.readers import ByteStream, ReadBudget, open_binary, open_text


class TransformSettings(msgspec.Struct, frozen=True):
    max_reject_ratio: float = 0.1
    null_markers: str = "NULL,null,N/A,n/a"
    """Comma-separated CSV values written as null, besides the empty value."""
    max_decompressed_bytes: int = 8 * 1024**3
    """What a source may decompress to (the stack sets it from ``maxDecompressedBytes``)."""
    max_compression_ratio: float = 100.0
    """How many times its stored size a gzip source may decompress to (``maxCompressionRatio``)."""
    stop_margin_ms: int = 20_000
    """The time a transform keeps to stop cleanly: the chunk being converted, the abort of its
    uploads, and one slow S3 read."""

    def null_marker_set(self) -> frozenset[str]:
        return frozenset(marker for marker in self.null_markers.split(",") if marker)

    def read_budget(
        self, *, stored_bytes: int, compression: Compression, remaining_ms: Callable[[], int]
    ) -> ReadBudget:
        """What one source of ``stored_bytes`` may be read for: the tighter of the size limits, and time."""
        max_bytes, limit = self.max_decompressed_bytes, f"maxDecompressedBytes ({self.max_decompressed_bytes} bytes)"
        expandable = int(self.max_compression_ratio * stored_bytes)
        if compression is Compression.GZIP and expandable < max_bytes:
            max_bytes = expandable
            limit = (
                f"maxCompressionRatio ({self.max_compression_ratio:g} times the {stored_bytes} stored bytes), "
                "the mark of a decompression bomb"
            )
        return ReadBudget(max_bytes=max_bytes, limit=limit, remaining_ms=remaining_ms, margin_ms=self.stop_margin_ms)


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
    budget: ReadBudget | None = None,
) -> TransformResult:
    """Turn one source stream into JSON Lines records and rejects, then check the counts.

    A dataset's settings replace the function's null markers and reject ratio, and its schema
    contract gates every record. The source is read within ``budget``, if given.
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
            open_binary(stream, compression=compression, budget=budget),
            profile.csv,
            encoding=profile.encoding,
            lineage=lineage,
            null_markers=null_markers,
            data=records_sink,
            rejects=rejects,
        )
        result = TransformResult(converted.records, converted.rejected, converted.columns)
    elif fmt is Format.JSONL:
        binary = open_binary(stream, compression=compression, budget=budget)
        counts = convert_jsonl(binary, encoding=profile.encoding, lineage=lineage, data=records_sink, rejects=rejects)
        result = TransformResult(*counts)
    else:
        text = open_text(stream, compression=compression, encoding=profile.encoding, budget=budget)
        items = read_json_array(text)
        result = TransformResult(*write_records(items, lineage=lineage, data=records_sink, rejects=rejects))
    if gate is not None:
        result = TransformResult(result.records - gate.rejected, result.rejected + gate.rejected, result.columns)
    max_reject_ratio = settings.max_reject_ratio if dataset.max_reject_ratio is None else dataset.max_reject_ratio
    check_counts(result.records, result.rejected, max_reject_ratio=max_reject_ratio)
    return result
