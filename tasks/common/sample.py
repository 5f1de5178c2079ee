"""The first bytes of an object, decompressed: what Validate and Fetch inspect."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from tasks.common.aws import s3_errors
from tasks.common.errors import MalformedInput
from tasks.common.models import Compression

SAMPLE_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class Sample:
    raw: bytes  # the object's first bytes as stored
    text_bytes: bytes  # the same, decompressed when the object is gzip
    complete: bool  # True when text_bytes is the whole (decompressed) content


def read_sample(
    s3: Any,
    *,
    bucket: str,
    key: str,
    version_id: str,
    compression: Compression,
    etag: str | None = None,
    size: int = SAMPLE_BYTES,
) -> Sample:
    """Read up to ``size`` bytes of one object version (pinned by ``etag`` when given)."""
    request: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "VersionId": version_id,
        "Range": f"bytes=0-{size - 1}",
    }
    if etag is not None:
        request["IfMatch"] = etag
    with s3_errors(f"s3://{bucket}/{key} (version {version_id})"):
        response = s3.get_object(**request)
        raw: bytes = response["Body"].read()
    total = _total_size(response.get("ContentRange"), len(raw))
    return sample_of(raw, whole=len(raw) >= total, compression=compression, size=size)


def sample_of(raw: bytes, *, whole: bool, compression: Compression, size: int = SAMPLE_BYTES) -> Sample:
    """The sample of an object whose first bytes are ``raw`` (all of it when ``whole``), read as a
    sample of ``size`` bytes: decompressed, it keeps at most four times that."""
    if compression is Compression.NONE:
        return Sample(raw=raw, text_bytes=raw, complete=whole)
    return _gunzip_sample(raw, whole, 4 * size)


def _total_size(content_range: str | None, fallback: int) -> int:
    # "bytes 0-65535/1048576" -> 1048576
    if not content_range or "/" not in content_range:
        return fallback
    return int(content_range.rsplit("/", 1)[1])


def _gunzip_sample(raw: bytes, whole: bool, limit: int) -> Sample:
    if not raw.startswith(GZIP_MAGIC):
        raise MalformedInput("the key ends in .gz but the content is not gzip")
    decompressor = zlib.decompressobj(wbits=31)
    try:
        text_bytes = decompressor.decompress(raw, limit)
    except zlib.error as exc:
        raise MalformedInput(f"corrupt gzip data: {exc}") from None
    complete = whole and decompressor.eof and not decompressor.unconsumed_tail
    if whole and not decompressor.eof and not decompressor.unconsumed_tail:
        raise MalformedInput("truncated gzip data: the stream ends before its end marker")
    return Sample(raw=raw, text_bytes=text_bytes, complete=complete)
