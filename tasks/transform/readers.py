"""The source's streams and the JSON array reader.

- ``open_binary`` / ``open_text``: streaming decompression (and decoding) of an S3 body.
- ``Utf8Chunks``: the byte chunks the converters (CSV, JSON Lines) read, checked to be UTF-8.
- ``read_json_array``: yields a ``Record`` per object element of a JSON array document, or a
  ``Reject`` for an element that cannot be used, so one bad element never stops the file.

Everything here is pure (no AWS). Only a break that makes the rest of the file unreadable (a
broken JSON array, a truncated gzip stream, bytes that are not UTF-8) raises, as the named
business errors. Memory stays bounded by the largest single record: nothing holds the whole file.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TextIO

import msgspec

from tasks.common.errors import BusinessError, MalformedInput, UnsupportedEncoding
from tasks.common.models import Compression

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

RAW_LIMIT = 1000
"""Characters of a rejected record's raw text kept in the rejects file: enough to see what is wrong."""

SUPPORTED_ENCODINGS = frozenset({"utf-8", "utf-8-sig"})

JSON_CHUNK_SIZE = 1024 * 1024
"""Characters read at a time from a JSON array document."""

_READ_BUFFER_SIZE = 1024 * 1024

# Failures of the decompression or decoding layers under a text stream. They surface only while a
# reader iterates, so every reader converts them into the pipeline's named errors.
STREAM_ERRORS = (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile)

_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")
# The rest of a string after its opening quote; group 1 is the closing quote, absent when the
# buffer ends first (possibly on a lone backslash, which the next match starts from).
_JSON_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*(")?', re.DOTALL)
# Inside an object or array only brackets outside strings matter: skip everything else, complete
# strings included, in one C-level match so the Python loop runs per bracket, not per character
# or per string. It stops at a bracket, at the opening quote of a string the buffer cuts, or at
# the end of the buffer.
_JSON_CONTAINER_SKIP = re.compile(r'(?:[^"\[\]{}]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+', re.DOTALL)
# Numbers, true, false, null and any garbage run up to the next structural character.
_JSON_SCALAR = re.compile(r'[^ \t\n\r,\[\]{}"]*')


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    """1-based physical line where the record starts in the decompressed text."""
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reject:
    line: int
    reason: str
    """Human readable, e.g. ``expected 3 fields, found 4``."""
    raw: str
    """The record's text, truncated to ``RAW_LIMIT`` characters."""


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


def open_binary(stream: ByteStream, *, compression: Compression) -> io.BufferedReader | gzip.GzipFile:
    """Buffered, streaming decompression of ``stream``; nothing is read here."""
    binary: io.BufferedReader | gzip.GzipFile = io.BufferedReader(_RawStream(stream), buffer_size=_READ_BUFFER_SIZE)
    if compression == Compression.GZIP:
        binary = gzip.GzipFile(fileobj=binary, mode="rb")
    return binary


def open_text(stream: ByteStream, *, compression: Compression, encoding: str) -> TextIO:
    """Wrap a binary stream in streaming decompression and incremental decoding.

    Nothing is read here: the layers pull bytes on demand, so a multi-gigabyte object costs a
    few buffers. Decoding and gzip failures therefore appear while iterating, and the readers
    turn them into ``UnsupportedEncoding`` / ``MalformedInput``. ``newline=""`` keeps line
    endings as they are, which the csv module needs to parse quoted newlines correctly.
    """
    if encoding not in SUPPORTED_ENCODINGS:
        raise UnsupportedEncoding(f"unsupported encoding {encoding!r}, expected one of {sorted(SUPPORTED_ENCODINGS)}")
    return io.TextIOWrapper(
        open_binary(stream, compression=compression), encoding=encoding, errors="strict", newline=""
    )


class Utf8Chunks:
    """A decompressed source read in chunks that are checked to be UTF-8, its byte order mark removed.

    The converters hand raw bytes to C and msgspec, which do not check the encoding, so it is
    checked here, once, as the chunks go by. A chunk of ``b""`` is the end of the source.
    """

    def __init__(self, source: ByteStream, *, encoding: str) -> None:
        if encoding not in SUPPORTED_ENCODINGS:
            raise UnsupportedEncoding(
                f"unsupported encoding {encoding!r}, expected one of {sorted(SUPPORTED_ENCODINGS)}"
            )
        self._source = source
        self._strip_bom = encoding == "utf-8-sig"
        self._validator = codecs.getincrementaldecoder("utf-8")("strict")
        self._line = 1  # where the next chunk starts

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


def stream_failure(exc: Exception, line: int) -> BusinessError:
    """The named error for a decoding or decompression failure found near ``line``."""
    if isinstance(exc, UnicodeDecodeError):
        return UnsupportedEncoding(f"the content is not valid {exc.encoding} text near line {line}: {exc.reason}")
    return MalformedInput(f"the compressed stream is corrupt or truncated near line {line}: {exc}")


def _match_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where ``pattern``, which matches the empty string too and so always matches, ends from ``pos``."""
    match = pattern.match(text, pos)
    assert match is not None
    return match.end()


def _truncate(raw: str) -> str:
    return raw[:RAW_LIMIT]


def json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null"


def _decode_object(raw: str, line: int) -> Record | Reject:
    """Decode one JSON value that must be an object; anything else is a ``Reject``.

    ``RecursionError`` is how msgspec refuses deeply nested input: it is a bad record, not a crash.
    """
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return Reject(line, f"invalid JSON: {exc}", _truncate(raw))
    except RecursionError:
        return Reject(line, "invalid JSON: nested too deeply", _truncate(raw))
    if not isinstance(value, dict):
        return Reject(line, f"expected an object, found {json_type(value)}", _truncate(raw))
    return Record(line, value)


class _JsonArrayScanner:
    """Finds the elements of a JSON array in a text stream without parsing the whole document.

    The buffer holds the element being scanned plus the last chunk read; what precedes the
    current element (``_mark``) is dropped on each refill. Scanning only finds where each
    element ends, by counting brackets outside strings with compiled regexes; msgspec decodes
    and validates the element afterwards. The scan has no recursion, so any nesting depth is
    harmless here (msgspec refuses deep elements with ``RecursionError``, a ``Reject``).
    Lines are counted as ``\\n`` characters.
    """

    def __init__(self, text: TextIO, chunk_size: int) -> None:
        self._text = text
        self._chunk_size = chunk_size
        self._buffer = ""
        self._pos = 0
        self._mark = 0
        self._eof = False
        self._line = 1
        self._line_pos = 0

    def line_at(self, index: int) -> int:
        """The line number of buffer position ``index``; positions must be asked in increasing order."""
        self._line += self._buffer.count("\n", self._line_pos, index)
        self._line_pos = index
        return self._line

    def current_line(self) -> int:
        return self.line_at(self._pos)

    def _read_more(self) -> bool:
        """Append a chunk, dropping the buffer before ``_mark``; ``False`` at the end of the text.

        The chunk grows with the element being scanned, so a huge element is read in a
        logarithmic number of steps instead of being copied once per fixed-size chunk.
        """
        if self._eof:
            return False
        kept = len(self._buffer) - self._mark
        chunk = self._text.read(max(self._chunk_size, kept))
        if not chunk:
            self._eof = True
            return False
        self.line_at(self._mark)
        self._buffer = self._buffer[self._mark :] + chunk
        self._pos -= self._mark
        self._line_pos = 0
        self._mark = 0
        return True

    def _peek(self) -> str:
        """The next character (``""`` at the end of the text) after skipping JSON whitespace."""
        while True:
            self._pos = _match_end(_JSON_WHITESPACE, self._buffer, self._pos)
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._read_more():
                return ""

    def _fail(self, problem: str) -> MalformedInput:
        return MalformedInput(f"not a valid JSON array at line {self.current_line()}: {problem}")

    def elements(self) -> Iterator[Record | Reject]:
        if self._peek() != "[":
            raise self._fail("the document must start with '['")
        self._pos += 1
        self._mark = self._pos
        if self._peek() == "]":
            self._pos += 1
        else:
            while True:
                yield self._next_element()
                self._mark = self._pos
                separator = self._peek()
                if separator == ",":
                    self._pos += 1
                    self._mark = self._pos
                elif separator == "]":
                    self._pos += 1
                    break
                elif separator == "":
                    raise self._fail("the text ends before the closing ']'")
                else:
                    raise self._fail(f"expected ',' or ']', found {separator!r}")
        self._mark = self._pos
        if self._peek() != "":
            raise self._fail("unexpected content after the closing ']'")

    def _next_element(self) -> Record | Reject:
        first = self._peek()
        self._mark = self._pos
        line = self.current_line()
        if first in ("{", "["):
            self._scan_container()
        elif first == '"':
            self._pos += 1
            self._scan_string_rest()
        elif first == "":
            raise self._fail("the text ends before the closing ']'")
        elif first in (",", "]", "}"):
            raise self._fail(f"expected a value, found {first!r}")
        else:
            self._scan_scalar()
        return _decode_object(self._buffer[self._mark : self._pos], line)

    def _scan_container(self) -> None:
        """Move past the bracket that closes the object or array opening at ``_pos``."""
        self._pos += 1
        depth = 1
        while True:
            self._pos = _match_end(_JSON_CONTAINER_SKIP, self._buffer, self._pos)
            if self._pos == len(self._buffer):
                if not self._read_more():
                    raise self._fail("the text ends inside an element")
                continue
            char = self._buffer[self._pos]
            self._pos += 1
            if char == '"':
                self._scan_string_rest()
            elif char in "[{":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return

    def _scan_string_rest(self) -> None:
        """Move past the closing quote of the string whose opening quote was already consumed."""
        while True:
            rest = _JSON_STRING_REST.match(self._buffer, self._pos)
            assert rest is not None  # the pattern matches the empty string
            self._pos = rest.end()
            if rest.group(1) is not None:
                return
            if not self._read_more():
                raise self._fail("the text ends inside a string")

    def _scan_scalar(self) -> None:
        while True:
            self._pos = _match_end(_JSON_SCALAR, self._buffer, self._pos)
            if self._pos < len(self._buffer) or not self._read_more():
                return


def read_json_array(text: TextIO, *, chunk_size: int = JSON_CHUNK_SIZE) -> Iterator[Record | Reject]:
    """Yield one ``Record`` per object element of a JSON array document, or a ``Reject``.

    An element that is not an object or does not decode is a ``Reject``; a break in the array
    itself (no '[', garbage between elements, no closing ']', content after it) leaves no way
    to find the next element, so it raises ``MalformedInput``. ``chunk_size`` is the number of
    characters read at a time; memory is bounded by the largest element plus a chunk.
    """
    scanner = _JsonArrayScanner(text, chunk_size)
    try:
        yield from scanner.elements()
    except STREAM_ERRORS as exc:
        raise stream_failure(exc, scanner.current_line()) from exc
