"""What the handler tests share: a run's ARN, sources uploaded to moto's S3, Validate's view of them,
and a run's staged output."""

from __future__ import annotations

from typing import Any

from tasks.common.layout import staging_keys
from tasks.common.models import (
    Compression,
    Format,
    ProcessingType,
    SourceObject,
    StagedOutput,
    Trigger,
    WriteOutputEvent,
)
from tasks.validate.logic import ValidateSettings, validate
from tests.handlers.conftest import BUCKET

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:Pipeline:run-1"
SETTINGS = ValidateSettings(bucket_name=BUCKET, max_object_bytes=1024)


def put(s3: Any, key: str, body: bytes, **extra: Any) -> str:
    version: str = s3.put_object(Bucket=BUCKET, Key=key, Body=body, **extra)["VersionId"]
    return version


def source(
    s3: Any, key: str, body: bytes, fmt: Format = Format.JSONL, compression: Compression = Compression.NONE
) -> SourceObject:
    version = put(s3, key, body)
    head = s3.head_object(Bucket=BUCKET, Key=key)
    return SourceObject(
        bucket=BUCKET,
        key=key,
        version_id=version,
        etag=head["ETag"],
        size=len(body),
        format=fmt,
        compression=compression,
        processing_type=ProcessingType.STANDARD,
        trigger=Trigger.S3,
    )


def validated(s3: Any, request: dict[str, Any]) -> SourceObject:
    """What Validate describes for ``request``, in the run ``EXECUTION``."""
    return validate(s3, request, SETTINGS, execution_arn=EXECUTION)


def staged_run(s3: Any, described: SourceObject, data: bytes, rejects: bytes) -> WriteOutputEvent:
    data_key, rejects_key = staging_keys(EXECUTION)
    s3.put_object(Bucket=BUCKET, Key=data_key, Body=data)
    s3.put_object(Bucket=BUCKET, Key=rejects_key, Body=rejects)
    staged = StagedOutput(bucket=BUCKET, data_key=data_key, rejects_key=rejects_key, records=2, rejected=1)
    return WriteOutputEvent(execution_arn=EXECUTION, source=described, staged=staged)
