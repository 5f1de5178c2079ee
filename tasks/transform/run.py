"""The S3 → S3 part shared by the three transform steps.

The pinned object version streams from S3 through decompression, decoding and the format's
reader; records and rejects stream back to S3 as run-scoped staged objects. Memory is bounded
by the writers' part size and the largest single record, never by the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TextIO

import msgspec

from tasks.common.aws import s3_client, s3_errors
from tasks.common.layout import staging_keys
from tasks.common.models import ObjectProfile, StagedOutput, TransformEvent, decode_event, to_payload
from tasks.common.observability import Handler, logger, metrics, observed
from tasks.common.s3_stream import S3MultipartWriter
from tasks.common.settings import from_environ
from tasks.transform.logic import write_records
from tasks.transform.readers import Record, Reject, open_text

Reader = Callable[[TextIO, ObjectProfile], Iterator[Record | Reject]]


class TransformSettings(msgspec.Struct, frozen=True):
    max_reject_ratio: float = 0.1


def transform(s3: Any, event: TransformEvent, reader: Reader, settings: TransformSettings) -> StagedOutput:
    """Stream the source through ``reader`` into the run's staging keys."""
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
            text = open_text(body, compression=source.compression, encoding=profile.encoding)
            records, rejected = write_records(
                reader(text, profile), data=data, rejects=rejects, max_reject_ratio=settings.max_reject_ratio
            )
    return StagedOutput(
        bucket=source.bucket, data_key=data_key, rejects_key=rejects_key, records=records, rejected=rejected
    )


def build_handler(reader: Reader) -> Handler:
    """The Lambda handler of one transform step: the same steps, only the reader differs."""

    # Called at module import, so the settings are read once per cold start.
    settings = from_environ(TransformSettings)

    @observed
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = decode_event(event, TransformEvent)
        staged = transform(s3_client(), request, reader, settings)
        logger.info("records staged", records=staged.records, rejected=staged.rejected)
        metrics.add_metric(name="RecordsProcessed", unit="Count", value=staged.records)
        metrics.add_metric(name="RecordsRejected", unit="Count", value=staged.rejected)
        return to_payload(staged)

    return lambda_handler
