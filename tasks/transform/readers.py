"""The source's streams: what every converter reads.

- ``open_binary`` / ``open_text``: streaming decompression (and decoding) of an S3 body, metered
  by a ``ReadBudget`` when given one.
- ``Utf8Chunks``: the byte chunks the converters (CSV, JSON Lines) read, checked to be UTF-8.

Everything here is pure (no AWS). A break that makes the rest of the file unreadable (a
truncated gzip stream, bytes that are not UTF-8) raises, as the named business errors. Memory
stays bounded by the buffers: nothing holds the whole file.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TextIO

from tasks.common.errors import BusinessError, MalformedInput, ObjectTooLarge, UnsupportedEncoding
from tasks.common.models import Compression

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

SUPPORTED_ENCODINGS = frozenset({"utf-8", "utf-8-sig"})

_READ_BUFFER_SIZE = 1024 * 1024

# Failures of the decompression or decoding layers under a text stream. They surface only while a
# reader iterates, so every reader converts them into the pipeline's named errors.
STREAM_ERRORS = (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile)


class ByteStream(Protocol):
    """What ``open_text`` needs from its source: a botocore ``StreamingBody``, a file, ``BytesIO``."""

    def read(self, size: int, /) -> bytes: ...


class _RawStream(io.RawIOBase):
    """Adapts any object with ``read(n)`` to the ``io`` stack, which needs a real ``RawIOBase``."""

    def __init__(self, stream: ByteStream) -> None:
        super().__init__()
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(len(view))
        view[: len(data)] = data
        return len(data)


@dataclass
class ReadBudget:
    """What one transform may read of its source: ``max_bytes`` decompressed bytes, and time while
    ``remaining_ms()`` (the function's remaining time) stays above ``margin_ms``, the time it needs
    to stop cleanly. Past either, the read raises ``ObjectTooLarge`` naming the limit, before the
    function runs out of time or ``/tmp``, or a decompression bomb fills its memory."""

    max_bytes: int
    limit: str
    """The limit ``max_bytes`` comes from, as the error names it."""
    remaining_ms: Callable[[], int]
    margin_ms: int
    spent: int = 0

    def spend(self, size: int) -> None:
        """Count ``size`` more decompressed bytes read; raise if a limit is crossed."""
        self.spent += size
        if self.spent > self.max_bytes:
            raise ObjectTooLarge(f"the content decompresses to more than {self.max_bytes} bytes: over {self.limit}")
        remaining = self.remaining_ms()
        if remaining < self.margin_ms:
            raise ObjectTooLarge(
                f"the file cannot be transformed within the function's timeout: {remaining} ms were left, "
                f"less than the {self.margin_ms} ms needed to stop cleanly, after {self.spent} decompressed bytes"
            )


class _Metered(io.RawIOBase):
    """The decompressed bytes of a source, counted against a ``ReadBudget`` as they are read."""

    def __init__(self, source: io.BufferedReader | gzip.GzipFile, budget: ReadBudget) -> None:
        super().__init__()
        self._source = source
        self._budget = budget

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        data = self._source.read(size)
        self._budget.spend(len(data))
        return data

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        count = self._source.readinto(buffer)
        self._budget.spend(count)
        return count


def check_encoding(encoding: str) -> None:
    """Refuse any encoding but the UTF-8 ones Fetch names: the converters read UTF-8 bytes only."""
    if encoding not in SUPPORTED_ENCODINGS:
        raise UnsupportedEncoding(f"unsupported encoding {encoding!r}, expected one of {sorted(SUPPORTED_ENCODINGS)}")


def _decompressed(stream: ByteStream, compression: Compression) -> io.BufferedReader | gzip.GzipFile:
    binary: io.BufferedReader | gzip.GzipFile = io.BufferedReader(_RawStream(stream), buffer_size=_READ_BUFFER_SIZE)
    if compression == Compression.GZIP:
        binary = gzip.GzipFile(fileobj=binary, mode="rb")
    return binary


def open_binary(stream: ByteStream, *, compression: Compression, budget: ReadBudget | None = None) -> ByteStream:
    """Buffered, streaming decompression of ``stream``, within ``budget``; nothing is read here.

    A gzip read returns at most the bytes asked for, so a decompression bomb is stopped by the
    budget a chunk at a time, never expanded in memory.
    """
    binary = _decompressed(stream, compression)
    return binary if budget is None else _Metered(binary, budget)


def open_text(
    stream: ByteStream, *, compression: Compression, encoding: str, budget: ReadBudget | None = None
) -> TextIO:
    """Wrap a binary stream in streaming decompression (within ``budget``) and incremental decoding.

    Nothing is read here: the layers pull bytes on demand, so a multi-gigabyte object costs a
    few buffers. Decoding and gzip failures therefore appear while iterating, and the readers
    turn them into ``UnsupportedEncoding`` / ``MalformedInput``. ``newline=""`` keeps line
    endings as they are, which the csv module needs to parse quoted newlines correctly.
    """
    check_encoding(encoding)
    binary = _decompressed(stream, compression)
    buffered = binary if budget is None else io.BufferedReader(_Metered(binary, budget), _READ_BUFFER_SIZE)
    return io.TextIOWrapper(buffered, encoding=encoding, errors="strict", newline="")


class Utf8Chunks:
    """A decompressed source read in chunks that are checked to be UTF-8, its byte order mark removed.

    The converters hand raw bytes to C and msgspec, which do not check the encoding, so it is
    checked here, once, as the chunks go by. A chunk of ``b""`` is the end of the source.
    """

    def __init__(self, source: ByteStream, *, encoding: str, first_line: int = 1) -> None:
        check_encoding(encoding)
        self._source = source
        self._strip_bom = encoding == "utf-8-sig"
        self._validator = codecs.getincrementaldecoder("utf-8")("strict")
        self._line = first_line  # where the next chunk starts, counting \n

    def read(self, size: int) -> bytes:
        chunk = b""
        try:
            chunk = self._source.read(size)
            self._validator.decode(chunk, not chunk)
        except UnicodeDecodeError as exc:
            near = self._line + chunk[: max(exc.start, 0)].count(b"\n")
            raise UnsupportedEncoding(f"the content is not valid UTF-8 text near line {near}: {exc.reason}") from None
        except STREAM_ERRORS as exc:
            raise stream_failure(exc, self._line) from exc
        if self._strip_bom:
            self._strip_bom = False
            chunk = chunk.removeprefix(codecs.BOM_UTF8)
        self._line += chunk.count(b"\n")
        return chunk


@dataclass(frozen=True, slots=True)
class Position:
    """Where a converter starts reading its file: the start, or a cut of a split file (``tasks/split``).

    A part of a split file is converted with the numbers of the whole file, so that the parts'
    outputs, put end to end, are the output of one pass.
    """

    line: int = 1
    """``_line`` of a record starting at the first byte (CSV: \n, \r\n and a lone \r end a line)."""
    newline_line: int = 1
    """1 + the \n before the first byte: the line ``Utf8Chunks`` names in its errors."""
    header: bool = True
    """CSV: the header is still to come."""


FILE_START = Position()
"""A whole file's converter starts there."""


def stream_failure(exc: Exception, line: int) -> BusinessError:
    """The named error for a decoding or decompression failure found near ``line``."""
    if isinstance(exc, UnicodeDecodeError):
        return UnsupportedEncoding(f"the content is not valid {exc.encoding} text near line {line}: {exc.reason}")
    return MalformedInput(f"the compressed stream is corrupt or truncated near line {line}: {exc}")
