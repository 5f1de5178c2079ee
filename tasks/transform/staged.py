"""The S3 side of the three Transform steps: the pinned source in, the run's staged objects out.

The pinned object version streams from S3 through decompression, decoding and the format's
converter (``logic.transform_stream``); records and rejects stream back to S3 as run-scoped
staged objects. Memory is bounded by the buffers and the largest single record, never by the
file. What is read is bounded too: decompressed bytes, the decompression ratio and the function's
remaining time (``TransformSettings.read_budget``). A CSV run reads its dialect from, and stages
its column summaries to, the run's ``staging/`` prefix: one entry per column, so never in the
state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.common.aws import s3_errors
from tasks.common.datasets import dataset_settings
from tasks.common.layout import COLUMNS_FILE, staging_key, staging_keys
from tasks.common.models import CsvDialect, ObjectProfile, StagedOutput, TransformEvent
from tasks.common.s3_stream import S3MultipartWriter
from tasks.common.staging import get_document, put_document
from tasks.transform.logic import TransformSettings, transform_stream
from tasks.transform.output import Lineage


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
