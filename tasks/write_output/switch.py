"""The commit point of an output: the manifest, switched atomically, never back to an older run's.

A run copies its staged objects over the output keys of its source version (``data.jsonl`` or
``data.parquet``, ``rejects.jsonl``): each copy is a new version of the object, and the manifest,
written last, names the versions it describes. Replacing the manifest is one conditional PUT
(``If-Match`` the ETag read, or ``If-None-Match: *`` for the first), so a reader that follows the
manifest sees the earlier output or the new one, never a mix, and the earlier output stays as
noncurrent versions (the bucket keeps those 30 days). A replay's output thus replaces the previous
one only when it commits; one that is rejected or fails before never touches it.

Which run's output stands: the one that started last. A run that started earlier than the run
named by the current manifest (a redrive of an old run, days after a replay) raises
``OutputSuperseded`` before copying anything; the same run committing again (a retried step)
replaces its own manifest. Manifests without a start time (older runs) are replaced as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tasks.common.aws import error_code
from tasks.common.errors import OutputSuperseded, TransientError

# CopyObject copies up to 5 GB in one request; past that, a multipart upload of UploadPartCopy parts.
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html
COPY_OBJECT_LIMIT = 5 * 1024**3
COPY_PART_SIZE = 1024**3
SWITCH_ATTEMPTS = 5
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
# Another write changed the manifest between our read and our conditional write (412), or raced
# ours on the same key (409): read it again and decide again.
_RACED = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


@dataclass(frozen=True, slots=True)
class RunStamp:
    """The run committing: its execution and when it started (``None``: unknown, never superseding)."""

    execution_arn: str
    started_at: str | None


@dataclass(frozen=True, slots=True)
class CurrentManifest:
    etag: str
    run: RunStamp


def read_manifest(s3: Any, bucket: str, key: str) -> CurrentManifest | None:
    """The manifest now at ``key`` (its ETag and the run that wrote it), None when there is none."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in _NOT_FOUND:
            return None
        raise
    body = json.loads(response["Body"].read())
    run = body.get("run") or {}
    return CurrentManifest(
        etag=response["ETag"],
        run=RunStamp(execution_arn=str(body.get("executionArn", "")), started_at=run.get("startedAt")),
    )


def check_not_superseded(current: CurrentManifest | None, run: RunStamp, where: str) -> None:
    """``OutputSuperseded`` when the current manifest is a later run's."""
    if current is None or current.run.execution_arn == run.execution_arn:
        return
    if run.started_at is None or current.run.started_at is None:
        return
    if current.run.started_at > run.started_at:
        raise OutputSuperseded(
            f"{where} was committed by {current.run.execution_arn}, which started at {current.run.started_at}, "
            f"after this run ({run.started_at}): its output stands"
        )


def copy_versioned(s3: Any, bucket: str, source_key: str, key: str, extra: dict[str, Any]) -> str:
    """Copy ``source_key`` to ``key`` in ``bucket``; the version id of the copy.

    ``extra``: what CopyObject takes besides the keys (content type, metadata with
    ``MetadataDirective: REPLACE``, encryption).
    """
    size = int(s3.head_object(Bucket=bucket, Key=source_key)["ContentLength"])
    copy_source = {"Bucket": bucket, "Key": source_key}
    if size <= COPY_OBJECT_LIMIT:
        version: str = s3.copy_object(Bucket=bucket, Key=key, CopySource=copy_source, **extra)["VersionId"]
        return version
    upload_args = {name: value for name, value in extra.items() if name != "MetadataDirective"}
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **upload_args)["UploadId"]
    try:
        parts = []
        for number, start in enumerate(range(0, size, COPY_PART_SIZE), start=1):
            end = min(start + COPY_PART_SIZE, size) - 1
            copied = s3.upload_part_copy(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=copy_source,
                CopySourceRange=f"bytes={start}-{end}",
            )
            parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
        completed = s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    multipart_version: str = completed["VersionId"]
    return multipart_version


def switch_manifest(
    s3: Any,
    *,
    bucket: str,
    key: str,
    body: bytes,
    extra: dict[str, Any],
    current: CurrentManifest | None,
    run: RunStamp,
) -> None:
    """Replace the manifest at ``key`` with ``body`` if it is still ``current``, else decide again."""
    for _ in range(SWITCH_ATTEMPTS):
        check_not_superseded(current, run, f"s3://{bucket}/{key}")
        condition = {"IfMatch": current.etag} if current is not None else {"IfNoneMatch": "*"}
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, **extra, **condition)
            return
        except ClientError as exc:
            if error_code(exc) not in _RACED:
                raise
        current = read_manifest(s3, bucket, key)
    raise TransientError(f"s3://{bucket}/{key} kept changing while this run committed")
