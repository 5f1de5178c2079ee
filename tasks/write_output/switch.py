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

from tasks.common.aws import error_code, refusal_hides_absence
from tasks.common.errors import OutputSuperseded, TransientError
from tasks.common.multipart import COPY_CONCURRENCY, part_ranges, send_parts

# Objects of more than one part are copied in parts of this size, COPY_CONCURRENCY at once; the rest
# by one CopyObject (which takes up to 5 GiB: https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html).
# Small parts keep the rounds even: a copy takes its size / (32 x the rate of a copy request), plus
# one part (about 2.7 s at the 100 MB/s docs/cost.md assumes) at most. 10,000 parts of 256 MiB are
# 2.5 TiB; part_ranges makes the parts larger for a larger object (S3 holds up to 5 TiB).
COPY_PART_SIZE = 256 * 1024**2
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
        if error_code(exc) in _NOT_FOUND or refusal_hides_absence(s3, exc, bucket, key):
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


def copy_versioned(
    s3: Any,
    bucket: str,
    source_key: str,
    key: str,
    extra: dict[str, Any],
    *,
    part_size: int = COPY_PART_SIZE,
    workers: int = COPY_CONCURRENCY,
) -> str:
    """Copy ``source_key`` to ``key`` in ``bucket``; the version id of the copy.

    ``extra``: what CopyObject takes besides the keys (content type, metadata with
    ``MetadataDirective: REPLACE``, encryption). An object of one part is one CopyObject; a larger
    one a multipart upload of ``part_size`` parts, ``workers`` copied at once.
    """
    size = int(s3.head_object(Bucket=bucket, Key=source_key)["ContentLength"])
    copy_source = {"Bucket": bucket, "Key": source_key}
    ranges = part_ranges(size, part_size)
    if len(ranges) <= 1:
        version: str = s3.copy_object(Bucket=bucket, Key=key, CopySource=copy_source, **extra)["VersionId"]
        return version

    def copy(upload_id: str, number: int) -> str:
        start, end = ranges[number - 1]
        copied = s3.upload_part_copy(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            CopySource=copy_source,
            CopySourceRange=f"bytes={start}-{end - 1}",
        )
        etag: str = copied["CopyPartResult"]["ETag"]
        return etag

    upload_args = {name: value for name, value in extra.items() if name != "MetadataDirective"}
    completed = send_parts(
        s3, bucket=bucket, key=key, create=upload_args, parts=len(ranges), send=copy, workers=workers
    )
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
