"""InflateSource: decompress a large gzip source once into staging, so that the copy can be split.

A gzip stream cannot be read from the middle, so no range of it can be transformed alone. One
function streams it through decompression into a staged object (a multipart upload, in bounded
memory), which the split then reads by byte ranges like any uncompressed source. What it may
expand to is bounded twice, as a business error naming the limit: by ``max_decompressed_bytes``
(a gzip bomb stops there) and by the function's remaining time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import msgspec

from tasks.common.aws import s3_errors, staged_errors
from tasks.common.errors import ObjectTooLarge
from tasks.common.models import Compression
from tasks.common.s3_stream import S3MultipartWriter
from tasks.split.layout import inflated_key
from tasks.split.models import InflateSourceEvent, StagedSource
from tasks.transform.output import ByteSink
from tasks.transform.readers import STREAM_ERRORS, ByteStream, open_binary, stream_failure

CHUNK_BYTES = 8 * 1024 * 1024


class InflateSettings(msgspec.Struct, frozen=True):
    max_decompressed_bytes: Annotated[int, msgspec.Meta(ge=1)] = 16 * 1024**3
    """The most a source may expand to (a gzip bomb stops there): 16 GiB, about what one function
    stages in its 270 s at 60 MB/s (S3 uploads in one stream; the time check below stops a slower one)."""
    time_margin_seconds: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    """Stop, with a business error, when less than this is left of the function's time: enough to
    abort the upload and answer, so the run is rejected with a reason instead of timing out."""


def inflate_stream(
    stream: ByteStream,
    sink: ByteSink,
    *,
    settings: InflateSettings,
    seconds_left: Callable[[], float],
) -> int:
    """Copy the decompressed ``stream`` into ``sink``; return the bytes copied."""
    copied = newlines = 0
    while True:
        try:
            chunk = stream.read(CHUNK_BYTES)
        except STREAM_ERRORS as exc:
            raise stream_failure(exc, 1 + newlines) from exc
        if not chunk:
            return copied
        copied += len(chunk)
        newlines += chunk.count(b"\n")
        if copied > settings.max_decompressed_bytes:
            raise ObjectTooLarge(
                f"the gzip source expands to more than {settings.max_decompressed_bytes} bytes,"
                " the limit of decompressed bytes (maxDecompressedBytes)"
            )
        if seconds_left() < settings.time_margin_seconds:
            raise ObjectTooLarge(
                f"the gzip source was still expanding after {copied} bytes when the function's time ran"
                " out: it is larger than one function can decompress"
            )
        sink.write(chunk)


def inflate(
    s3: Any, event: InflateSourceEvent, settings: InflateSettings, *, seconds_left: Callable[[], float]
) -> StagedSource:
    """Stage the decompressed source of ``event``; the staged copy's version pins it for the split."""
    source = event.source
    key = inflated_key(event.execution_arn, source.key)
    with s3_errors(f"s3://{source.bucket}/{source.key} (version {source.version_id})"):
        body = s3.get_object(Bucket=source.bucket, Key=source.key, VersionId=source.version_id, IfMatch=source.etag)[
            "Body"
        ]
        with S3MultipartWriter(s3, bucket=source.bucket, key=key, content_type="application/octet-stream") as copy:
            inflate_stream(
                open_binary(body, compression=Compression.GZIP),
                copy,
                settings=settings,
                seconds_left=seconds_left,
            )
    with staged_errors(f"the decompressed copy s3://{source.bucket}/{key}"):
        head = s3.head_object(Bucket=source.bucket, Key=key)
    return StagedSource(bucket=source.bucket, key=key, version_id=head["VersionId"], size=head["ContentLength"])
