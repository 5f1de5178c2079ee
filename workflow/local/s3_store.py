"""The emulated S3 keeps object bodies in files and moves them without holding them in memory.

moto keeps each object's body in a ``SpooledTemporaryFile`` but reads it whole wherever it uses
it: completing a multipart upload concatenates every part in memory (twice, and a third time for
the checksum), ``UploadPartCopy`` reads the whole source object for each part it copies, and
``GetObject`` reads the whole object, then cuts the requested range. A 200 MB file then costs
gigabytes of memory and most of a run's time. ``installed`` changes only these paths; moto's
own logic (versions, conditions, notifications, errors) is untouched:

- bodies above ``SPOOL_BYTES`` go to disk (moto's own setting, ``MOTO_S3_DEFAULT_KEY_BUFFER_SIZE``),
  written to their file at once rather than spooled in memory first;
- ``CompleteMultipartUpload`` copies the parts' files into the object's file
  (``os.copy_file_range``) and computes the object's checksum while doing so; the ETag is S3's,
  from the parts' MD5s, as moto computes it;
- ``UploadPartCopy`` reads only the source range it copies;
- ``GetObject`` answers a request that came through the HTTP endpoint (the sandboxes, ``pipeline
  serve``) with a body streamed from the file, range included; an in-process request (a test, the
  command's own download) gets bytes, of the range only.

Deviations from moto (not from AWS): a multipart object whose checksum type is ``FULL_OBJECT``
and algorithm is not CRC32 gets CRC32 (moto already does so for CRC32C and CRC64NVME when their
optional libraries are missing, as here). Each patched function is guarded by a test in
``tests/workflow/test_moto_reliances.py`` that compares it with moto's own result.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from moto.s3 import models as s3_models
from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML
from moto.s3.models import FakeKey, FakeMultipart, MultipartChecksumBuilder, S3Backend
from moto.s3.responses import S3Response
from moto.utilities.utils import md5_hash

SPOOL_BYTES = 1024 * 1024
SPOOL_ENVIRONMENT = {"MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(SPOOL_BYTES)}
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FileBody:
    """A body already written to ``file`` (``size`` bytes), handed to a key instead of bytes."""

    file: BinaryIO
    size: int


class FileSlice:
    """Bytes ``start`` to ``stop`` of a file, read when iterated: a streamed response body.

    It holds a descriptor of its own on the file (``os.dup``) and reads with ``pread``, so
    the key may be overwritten or deleted while its body is being sent, as on S3.
    """

    def __init__(self, fd: int, start: int, stop: int) -> None:
        self._fd = fd
        self._start = start
        self._stop = stop
        self._closed = threading.Event()

    def __len__(self) -> int:
        return self._stop - self._start

    def __getitem__(self, index: slice) -> FileSlice:
        start, stop, step = index.indices(len(self))
        if step != 1:
            raise ValueError("a body is sliced with a step of 1")
        return FileSlice(os.dup(self._fd), self._start + start, self._start + max(start, stop))

    def __iter__(self) -> Iterator[bytes]:
        try:
            offset = self._start
            while offset < self._stop:
                chunk = os.pread(self._fd, min(_CHUNK, self._stop - offset), offset)
                if not chunk:
                    return
                offset += len(chunk)
                yield chunk
        finally:
            self.close()

    def read(self) -> bytes:
        return b"".join(self)

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            with contextlib.suppress(OSError):
                os.close(self._fd)

    def __del__(self) -> None:
        self.close()


def _file_of(key: FakeKey) -> Any | None:
    """The key's body file when it is on disk, else None (a small body, in memory).

    Asking a spooled buffer still in memory for its descriptor would roll it over to disk, and a
    rollover assigns the new, empty file before writing to it: a concurrent GetObject of the same
    key then read an empty body (``IncompleteRead``, found with many ranges reading one small staged
    document at once). So an unrolled buffer is left in memory, and the look is made under the
    key's lock, which moto's own reads of the body take.
    """
    with key.lock:
        buffer = key._value_buffer
        if isinstance(buffer, tempfile.SpooledTemporaryFile) and not getattr(buffer, "_rolled", True):
            return None
        try:
            buffer.fileno()
        except (AttributeError, OSError, ValueError, NotImplementedError):
            return None
        return buffer


def _pread(key: FakeKey, start: int, stop: int) -> bytes:
    """Bytes ``start`` to ``stop`` of a key's body, whether on disk or in memory."""
    with key.lock:
        buffer = key._value_buffer
        buffer.seek(start)
        data: bytes = buffer.read(stop - start)
        return data


def _complete(
    self: FakeMultipart, body: Iterator[tuple[int, str]]
) -> tuple[FileBody, str, tuple[str, str, int] | None]:
    """``FakeMultipart.complete`` without the object in memory: moto's checks, in moto's order."""
    checksum_algorithm: str | None = self.metadata.get("x-amz-checksum-algorithm")
    checksum_type: str | None = self.metadata.get("x-amz-checksum-type")
    parts: list[FakeKey] = []
    md5s = bytearray()
    last = None
    for number, listed_etag in body:
        part = self.parts.get(number)
        part_etag = None if part is None else part.etag.replace('"', "")
        if part is None or part_etag is None or part_etag != listed_etag.replace('"', ""):
            raise InvalidPart()
        if last is not None and last.contentsize < vars(s3_models)["S3_UPLOAD_PART_MIN_SIZE"]:
            raise EntityTooSmall()
        md5s.extend(bytes.fromhex(part_etag))
        parts.append(part)
        last = part
    if not parts:
        raise MalformedXML

    builder = MultipartChecksumBuilder(checksum_algorithm, checksum_type)
    composite_crc32 = builder.checksum_type == "COMPOSITE" and builder.checksum_algorithm == "CRC32"
    target = tempfile.TemporaryFile()  # noqa: SIM115 - the key owns it from here, and closes it
    object_crc = 0
    for part in parts:
        part_crc, object_crc = _append(part, target, object_crc)
        if builder.checksum_type != "COMPOSITE":
            builder.part_count += 1
        elif composite_crc32:
            builder.checksum.extend(part_crc.to_bytes(4, "big"))
            builder.part_count += 1
        else:
            builder.addPart(part.value)  # another algorithm: one part in memory at a time
    full_etag = md5_hash()
    full_etag.update(bytes(md5s))
    size = sum(part.contentsize for part in parts)
    if builder.checksum_type == "COMPOSITE":
        checksum = builder.build()
    else:
        checksum = (builder.checksum_type, base64.b64encode(object_crc.to_bytes(4, "big")).decode(), 1)
    return FileBody(target, size), f"{full_etag.hexdigest()}-{len(parts)}", checksum


def _append(part: FakeKey, target: BinaryIO, object_crc: int) -> tuple[int, int]:
    """Append a part's body to ``target``: (the part's CRC32, the object's so far)."""
    part_crc = 0
    offset = 0
    while offset < part.contentsize:
        chunk = _pread(part, offset, min(offset + 8 * _CHUNK, part.contentsize))
        if not chunk:
            break
        part_crc = zlib.crc32(chunk, part_crc)
        object_crc = zlib.crc32(chunk, object_crc)
        target.write(chunk)
        offset += len(chunk)
    return part_crc, object_crc


_lazily = threading.local()  # set while moto's GetObject answers: its body is then read lazily


@contextmanager
def _read_lazily() -> Iterator[None]:
    """``FakeKey.value`` gives a body on disk as a ``FileSlice`` inside the block (this thread)."""
    _lazily.active = True
    try:
        yield
    finally:
        _lazily.active = False


def streamed(key: FakeKey) -> Any:
    """A key's body as GetObject sends it over HTTP: a ``FileSlice`` of its file when on disk,
    else its bytes (what ``FakeKey.value`` gives while moto's GetObject answers)."""
    with _read_lazily():
        return key.value


def _value_property(original: property) -> property:
    """``FakeKey.value``: a ``FileSlice`` while GetObject answers (for a body on disk); a
    ``FileBody`` accepted as a new body."""

    def get(self: FakeKey) -> Any:
        if getattr(_lazily, "active", False):
            buffer = _file_of(self)
            if buffer is not None:
                return FileSlice(os.dup(buffer.fileno()), 0, self.contentsize)
        return original.fget(self)  # type: ignore[misc]

    def put(self: FakeKey, new_value: Any) -> None:
        if isinstance(new_value, bytes) and len(new_value) > SPOOL_BYTES:
            # Straight to a file: a spooled buffer would copy it in memory, then again when rolling over.
            file = tempfile.TemporaryFile()  # noqa: SIM115 - the key owns it from here, and closes it
            file.write(new_value)
            new_value = FileBody(file, len(new_value))
        if not isinstance(new_value, FileBody):
            original.fset(self, new_value)  # type: ignore[misc]
            return
        with contextlib.suppress(Exception):
            self._value_buffer.close()
        # A file on disk, as moto's spooled buffer is once rolled over; every use of it is a file's.
        self._value_buffer = new_value.file  # type: ignore[assignment]
        self.contentsize = new_value.size

    return property(get, put)


def _set_part(original: Any) -> Any:
    def set_part(self: FakeMultipart, part_id: int, value: bytes) -> FakeKey:
        part: FakeKey = original(self, part_id, value)
        if part._etag is None:
            # S3's ETag of a part is its MD5: computed now, from memory, not read back from disk.
            part._etag = md5_hash(value).hexdigest()
        return part

    return set_part


def _upload_part_copy(original: Any) -> Any:
    def upload_part_copy(
        self: S3Backend,
        dest_bucket_name: str,
        multipart_id: str,
        part_id: int,
        *,
        src_bucket_name: str,
        src_key_name: str,
        src_version_id: str | None,
        start_byte: int | None,
        end_byte: int | None,
    ) -> FakeKey:
        if start_byte is None or end_byte is None:
            copied: FakeKey = original(
                self,
                dest_bucket_name,
                multipart_id,
                part_id,
                src_bucket_name=src_bucket_name,
                src_key_name=src_key_name,
                src_version_id=src_version_id,
                start_byte=start_byte,
                end_byte=end_byte,
            )
            return copied
        multipart = self.get_bucket(dest_bucket_name).multiparts[multipart_id]
        source = self.get_object(src_bucket_name, src_key_name, version_id=src_version_id)
        assert isinstance(source, FakeKey)
        stop = min(end_byte + 1, source.contentsize)
        part: FakeKey = multipart.set_part(part_id, _pread(source, start_byte, stop))
        return part

    return upload_part_copy


def _get_object(original: Any) -> Any:
    def get_object(self: S3Response) -> Any:
        with _read_lazily():
            return original(self)

    return get_object


def _key_response(original: Any) -> Any:
    def key_response(self: S3Response, request: Any, full_url: str, headers: dict[str, Any]) -> Any:
        status, response_headers, content = original(self, request, full_url, headers)
        if isinstance(content, FileSlice) and not getattr(request, "from_wsgi_server", False):
            # In process, moto hands the body to botocore as bytes: only the range asked for.
            content = content.read()
        return status, response_headers, content

    return key_response


@contextmanager
def installed() -> Iterator[None]:
    """File-backed, streaming S3 bodies until the block ends."""
    patches: list[tuple[type, str, Any]] = [
        (FakeKey, "value", _value_property(vars(FakeKey)["value"])),
        (FakeMultipart, "complete", _complete),
        (FakeMultipart, "set_part", _set_part(FakeMultipart.set_part)),
        (S3Backend, "upload_part_copy", _upload_part_copy(S3Backend.upload_part_copy)),
        (S3Response, "get_object", _get_object(S3Response.get_object)),
        (S3Response, "key_response", _key_response(S3Response.key_response)),
    ]
    originals = [(owner, name, vars(owner)[name]) for owner, name, _ in patches]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
