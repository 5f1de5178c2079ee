"""JSON array to JSON Lines with lineage: find each element, decode it, write it with its lineage.

A JSON array document has no line structure to cut it by, so a scanner finds where each element
ends (brackets outside strings, by compiled regexes) and msgspec decodes that element alone:
memory is bounded by the largest element plus a chunk, never by the document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TextIO

import msgspec

from tasks.common.errors import MalformedInput
from tasks.transform.output import (
    ByteSink,
    Lineage,
    Record,
    Reject,
    json_type,
    truncate_raw,
    without_lineage_clash,
)
from tasks.transform.readers import STREAM_ERRORS, stream_failure

JSON_CHUNK_SIZE = 1024 * 1024
"""Characters read at a time from a JSON array document."""

BATCH_SIZE = 1024 * 1024
"""Bytes gathered before a writer call: one call per record would cost more than the encoding."""

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


def _match_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where ``pattern``, which matches the empty string too and so always matches, ends from ``pos``."""
    match = pattern.match(text, pos)
    assert match is not None
    return match.end()


def _decode_object(raw: str, line: int) -> Record | Reject:
    """Decode one JSON value that must be an object; anything else is a ``Reject``.

    ``RecursionError`` is how msgspec refuses deeply nested input: it is a bad record, not a crash.
    """
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return Reject(line, f"invalid JSON: {exc}", truncate_raw(raw))
    except RecursionError:
        return Reject(line, "invalid JSON: nested too deeply", truncate_raw(raw))
    if not isinstance(value, dict):
        return Reject(line, f"expected an object, found {json_type(value)}", truncate_raw(raw))
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


class _LineBatch:
    """Encodes values as JSON lines into one buffer and hands it to ``sink`` about once per MiB."""

    def __init__(self, sink: ByteSink, encoder: msgspec.json.Encoder) -> None:
        self._sink = sink
        self._encoder = encoder
        self._buffer = bytearray()

    def add(self, value: object) -> None:
        self._encoder.encode_into(value, self._buffer, -1)
        self._buffer += b"\n"
        if len(self._buffer) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._sink.write(bytes(self._buffer))
            self._buffer.clear()


def write_records(
    items: Iterable[Record | Reject], *, lineage: Lineage, data: ByteSink, rejects: ByteSink
) -> tuple[int, int]:
    """Write records (lineage added) to ``data`` and rejects to ``rejects``.

    Returns (records, rejected).
    """
    encoder = msgspec.json.Encoder()
    data_lines = _LineBatch(data, encoder)
    reject_lines = _LineBatch(rejects, encoder)
    source = {"_source_key": lineage.source_key, "_source_version": lineage.source_version}
    records = rejected = 0
    for item in items:
        if isinstance(item, Record):
            fields = without_lineage_clash(item.fields) | source
            fields["_line"] = item.line
            data_lines.add(fields)
            records += 1
        else:
            reject_lines.add(item)
            rejected += 1
    data_lines.flush()
    reject_lines.flush()
    return records, rejected
