"""Writing one S3 object from a stream of bytes without holding the object in memory."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from botocore.exceptions import BotoCoreError, ClientError

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3 refuses multipart uploads whose parts (all but the last) are smaller than this."""

DEFAULT_PART_SIZE = 8 * 1024 * 1024


class S3MultipartWriter:
    """Context manager writing one S3 object from a stream of bytes in bounded memory.

    Bytes are buffered up to ``part_size`` and uploaded as the parts of a multipart upload, so
    memory holds one part at most. The upload starts only once a full part is buffered: an
    object smaller than a part is written with a single ``put_object``, which also covers the
    empty object (a multipart upload cannot complete with no part). The object appears only when
    the ``with`` block ends without an exception; otherwise the upload is aborted, so readers
    never see a partial object and no parts are left to pay for.
    """

    def __init__(
        self,
        s3: Any,
        *,
        bucket: str,
        key: str,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (the S3 minimum), got {part_size}")
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._content_type = content_type
        self._metadata = dict(metadata or {})
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._bytes_written = 0

    @property
    def bytes_written(self) -> int:
        """Bytes accepted by ``write`` so far: the object's size once the block has ended."""
        return self._bytes_written

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None:
            self._abort(exc)
            return
        try:
            self._finish()
        except BaseException as failure:
            self._abort(failure)
            raise

    def write(self, data: bytes) -> None:
        """Buffer ``data``; upload the buffer as the next part once it holds ``part_size`` bytes."""
        self._buffer += data
        self._bytes_written += len(data)
        if len(self._buffer) >= self._part_size:
            self._upload_part()

    def _upload_part(self) -> None:
        if self._upload_id is None:
            created = self._s3.create_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                ContentType=self._content_type,
                Metadata=self._metadata,
                ServerSideEncryption="AES256",
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        uploaded = self._s3.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=bytes(self._buffer)
        )
        self._parts.append({"PartNumber": number, "ETag": uploaded["ETag"]})
        self._buffer = bytearray()

    def _finish(self) -> None:
        if self._upload_id is None:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=self._key,
                Body=bytes(self._buffer),
                ContentType=self._content_type,
                Metadata=self._metadata,
                ServerSideEncryption="AES256",
            )
            return
        if self._buffer:
            self._upload_part()
        self._s3.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
        )

    def _abort(self, cause: BaseException) -> None:
        """Abort the upload, if one was started, without hiding ``cause``.

        The caller's exception decides how the workflow reacts (a business error is not a
        system error), so a failure to abort is attached to it as a note instead of replacing it.
        """
        if self._upload_id is None:
            return
        try:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
        except (BotoCoreError, ClientError) as failure:
            cause.add_note(
                f"aborting the multipart upload of s3://{self._bucket}/{self._key} failed too ({failure}); "
                "its parts stay until aborted or expired by a lifecycle rule"
            )
