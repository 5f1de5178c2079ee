"""Lambda entry points of the three Transform steps (CSV, JSON array, JSON Lines), and their S3 part.

The pinned object version streams from S3 through decompression, decoding and the format's
converter (``logic.transform_stream``); records and rejects stream back to S3 as run-scoped
staged objects. Memory is bounded by the buffers and the largest single record, never by the
file. What is read is bounded too: decompressed bytes, the decompression ratio and the function's
remaining time (``TransformSettings.read_budget``). A CSV run reads its dialect from, and stages
its column summaries to, the run's ``staging/`` prefix: one entry per column, so never in the
state. The three handlers differ only by the format they accept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.common.aws import s3_client, s3_errors
from tasks.common.datasets import dataset_settings
from tasks.common.errors import ValidationError
from tasks.common.layout import COLUMNS_FILE, staging_key, staging_keys
from tasks.common.models import (
    CsvDialect,
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
from tasks.common.staging import get_document, put_document
from tasks.transform.logic import TransformSettings, transform_stream
from tasks.transform.output import Lineage

# Read once per cold start: a missing or malformed variable fails the deployment's first invoke.
SETTINGS = from_environ(TransformSettings)


def transform(
    s3: Any, event: TransformEvent, settings: TransformSettings, *, remaining_ms: Callable[[], int]
) -> StagedOutput:
    """Stream the source into the run's staging keys, within the read budget of ``settings``
    and the function's ``remaining_ms``."""
    source, staged_profile = event.source, event.profile
    dialect = None
    if staged_profile.csv_dialect_key is not None:
        dialect = get_document(s3, bucket=source.bucket, key=staged_profile.csv_dialect_key, kind=CsvDialect)
    profile = ObjectProfile(
        version_id=staged_profile.version_id, etag=staged_profile.etag, encoding=staged_profile.encoding, csv=dialect
    )
    budget = settings.read_budget(stored_bytes=source.size, compression=source.compression, remaining_ms=remaining_ms)
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
                dataset=dataset_settings(source.dataset),
                budget=budget,
            )
    columns_key = None
    if result.columns:
        columns_key = staging_key(event.execution_arn, COLUMNS_FILE)
        put_document(s3, bucket=source.bucket, key=columns_key, document=result.columns)
    return StagedOutput(
        bucket=source.bucket,
        data_key=data_key,
        rejects_key=rejects_key,
        records=result.records,
        rejected=result.rejected,
        columns_key=columns_key,
    )


def build_handler(fmt: Format) -> Handler:
    """The Lambda handler of the transform step for ``fmt``: the same steps, only the format differs."""

    @observed
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = decode_event(event, TransformEvent)
        if request.source.format is not fmt:
            raise ValidationError(f"the {fmt.value} transform was given a {request.source.format.value} source")
        staged = transform(s3_client(), request, SETTINGS, remaining_ms=context.get_remaining_time_in_millis)
        logger.info("records staged", records=staged.records, rejected=staged.rejected)
        metrics.add_metric(name="RecordsProcessed", unit="Count", value=staged.records)
        metrics.add_metric(name="RecordsRejected", unit="Count", value=staged.rejected)
        return to_payload(staged)

    return lambda_handler


csv_handler = build_handler(Format.CSV)
json_handler = build_handler(Format.JSON)
jsonl_handler = build_handler(Format.JSONL)
