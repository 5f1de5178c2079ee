"""Multipart uploads whose parts are sent at once: the server-side copies of WriteOutput and CommitRanges.

A part copied by S3 (``UploadPartCopy``) moves no bytes through the function: it waits on S3 for
as long as S3 takes to copy the part. One such wait after another made a 277 GB copy take about
2,770 s at the 100 MB/s a copy request is assumed to run at (docs/cost.md), far past Lambda's
300 s; ``COPY_CONCURRENCY`` waits at once make it about 90 s. The object appears only when the
upload completes, its parts listed in order whatever order they finished in; on any failure the
upload is aborted, so no part is left to pay for and no version of the key is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
MAX_PARTS = 10_000
MAX_PART_BYTES = 5 * 1024**3
"""The largest part S3 accepts (UploadPart and UploadPartCopy alike)."""

COPY_CONCURRENCY = 32
"""Parts in flight at once. A copied part costs the function one idle thread and one connection
(the S3 client's pool is sized to match: tasks/common/aws.py), no bandwidth and no memory, so the
bound is S3's, not the function's: 32 requests of about 2.7 s each (256 MiB at the assumed
100 MB/s) are about 12 COPY requests a second, far under the 3,500 a second S3 sustains per
partitioned prefix (https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html),
and 32 threads far under Lambda's 1,024 per execution environment
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). 32 also matches the
Maps' default concurrency (``rangeConcurrency``): the commit joins a wave's worth of parts at once.
More would buy little: at 32 a 100 GB source's 277 GB of JSON Lines copies in about 90 s."""

SendPart = Callable[[str, int], str]
"""Sends part ``number`` (from 1) of upload ``upload_id``; returns the part's ETag."""


def part_ranges(size: int, part_size: int) -> list[tuple[int, int]]:
    """The byte ranges [start, end) of the parts of an object of ``size`` bytes: ``part_size``
    each but the last, larger when ``part_size`` would need more than S3's 10,000 parts."""
    if size == 0:
        return []
    part = max(part_size, math.ceil(size / MAX_PARTS))
    if part > MAX_PART_BYTES:
        raise ValueError(f"{size} bytes need parts of {part} bytes, over S3's {MAX_PART_BYTES}-byte limit")
    return [(start, min(start + part, size)) for start in range(0, size, part)]


def send_parts(
    s3: Any,
    *,
    bucket: str,
    key: str,
    create: dict[str, Any],
    parts: int,
    send: SendPart,
    workers: int = COPY_CONCURRENCY,
) -> dict[str, Any]:
    """Write ``key`` as one multipart upload of ``parts`` parts, ``workers`` sent at once.

    ``create``: what CreateMultipartUpload takes besides the keys (content type, metadata,
    encryption). Returns CompleteMultipartUpload's response (its ``VersionId``). On any failure,
    the parts not yet started are not sent, the ones in flight are waited for, and the upload is
    aborted: S3 may keep a part that completes after the abort ("it might be necessary to abort a
    given multipart upload multiple times",
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html).
    """
    upload_id: str = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    try:
        etags = _send_all(upload_id, parts, send, workers)
        completed: dict[str, Any] = s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]},
        )
    except BaseException as failure:
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except (BotoCoreError, ClientError) as abort_failure:
            # The cause decides how the workflow reacts; the bucket's lifecycle rule removes the rest.
            failure.add_note(f"aborting the multipart upload of s3://{bucket}/{key} failed too ({abort_failure})")
        raise
    return completed


def _send_all(upload_id: str, parts: int, send: SendPart, workers: int) -> list[str]:
    """The parts' ETags in part order; the first failure (in part order) once none is in flight."""
    with ThreadPoolExecutor(max_workers=max(1, min(workers, parts))) as pool:
        futures = [pool.submit(send, upload_id, number) for number in range(1, parts + 1)]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            future.cancel()  # those not started yet; leaving the block waits for those running
    for future in futures:
        if not future.cancelled() and future.exception() is not None:
            future.result()
    return [future.result() for future in futures]
