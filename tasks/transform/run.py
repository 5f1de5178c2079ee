"""The S3 → S3 part shared by the three transform steps.

The pinned object version streams from S3 through decompression, decoding and the format's
converter; records and rejects stream back to S3 as run-scoped staged objects. Memory is
bounded by the buffers and the largest single record, never by the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from tasks.common.aws import s3_client, s3_errors
from tasks.common.datasets import DatasetSettings, dataset_settings
from tasks.common.errors import ValidationError
from tasks.common.layout import staging_keys
from tasks.common.models import (
    ColumnSummary,
    Compression,
    Format,
    ObjectProfile,
    StagedOutput,
    TransformEvent,
    decode_event,
    to_payload,
)
from tasks.common.observability import Handler, logger, metrics, observed
from tasks.common.s3_stream import S3MultipartWriter
from tasks.common.settings import from_environ
from tasks.transform.csv_converter import convert_csv
from tasks.transform.jsonl_converter import convert_jsonl
from tasks.transform.logic import ByteSink, Lineage, check_counts, write_records
from tasks.transform.readers import ByteStream, open_binary, open_text, read_json_array


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


def transform(s3: Any, event: TransformEvent, settings: TransformSettings) -> StagedOutput:
    """Stream the source into the run's staging keys."""
    source, profile = event.source, event.profile
    data_key, rejects_key = staging_keys(event.execution_arn)
    with s3_errors(f"s3://{source.bucket}/{source.key} (version {source.version_id})"):
        body = s3.get_object(Bucket=source.bucket, Key=source.key, VersionId=profile.version_id, IfMatch=profile.etag)[
            "Body"
        ]
        with (
            S3MultipartWriter(s3, bucket=source.bucket, key=data_key, content_type="application/x-ndjson") as data,
            S3MultipartWriter(
                s3, bucket=source.bucket, key=rejects_key, content_type="application/x-ndjson"
            ) as rejects,
        ):
            result = transform_stream(
                body,
                fmt=source.format,
                compression=source.compression,
                profile=profile,
                lineage=Lineage(source.key, profile.version_id),
                data=data,
                rejects=rejects,
                settings=settings,
                dataset=dataset_settings(source.dataset) if source.dataset is not None else None,
            )
    return StagedOutput(
        bucket=source.bucket,
        data_key=data_key,
        rejects_key=rejects_key,
        records=result.records,
        rejected=result.rejected,
        columns=result.columns,
    )


def build_handler(fmt: Format) -> Handler:
    """The Lambda handler of the transform step for ``fmt``: the same steps, only the format differs."""

    # Called at module import, so the settings are read once per cold start.
    settings = from_environ(TransformSettings)

    @observed
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = decode_event(event, TransformEvent)
        if request.source.format is not fmt:
            raise ValidationError(f"the {fmt.value} transform was given a {request.source.format.value} source")
        staged = transform(s3_client(), request, settings)
        logger.info("records staged", records=staged.records, rejected=staged.rejected)
        metrics.add_metric(name="RecordsProcessed", unit="Count", value=staged.records)
        metrics.add_metric(name="RecordsRejected", unit="Count", value=staged.rejected)
        return to_payload(staged)

    return lambda_handler
