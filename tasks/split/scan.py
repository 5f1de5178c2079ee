"""The split's first pass: where records start in one byte range, whatever state it starts in.

A range cannot know by itself whether its first byte is inside a quoted field, after a damaged
quote, or just after a ``\\r`` whose ``\\n`` it holds: only the bytes before it say. So
``_boundaries.scan`` follows the CSV parser's seven states (``State``) from each at once, and
reports, per start state, the state at the range's end and the first record start in it. The
reduce (``cuts.py``) then walks the ranges in order from the file's start, where the state is
known (``RECORD``), and picks each range's true start state and first record start.

The scan reads the range plus the one byte after it (``after``), which says whether a ``\\r``
ending the range is one line break with a ``\\n`` beginning the next.
"""

from __future__ import annotations

import enum

from tasks.split import _boundaries
from tasks.split.models import FirstStart, RangeSummary
from tasks.transform.readers import ByteStream

SCAN_CHUNK_BYTES = 8 * 1024 * 1024
"""Bytes scanned per call: large enough that the call costs nothing, small for memory."""

_IDENTITY = 0  # the monoid element of no byte read: every start state stays where it is


class State(enum.IntEnum):
    """The CSV parser's state between two bytes (the order of ``_boundaries.c``)."""

    RECORD = 0
    """At the first byte of a record."""
    FIELD = 1
    """At the first byte of a field after a delimiter."""
    UNQUOTED = 2
    """Inside an unquoted field."""
    QUOTED = 3
    """Inside a quoted field."""
    QUOTE = 4
    """After a quote inside a quoted field: it closes the field unless a second quote follows."""
    SKIP = 5
    """After text following a closing quote: the parser drops the rest of the physical line."""
    CR = 6
    """After a ``\\r`` that ends a record: a ``\\n`` next belongs to the same line break."""


def scan_range(stream: ByteStream, *, delimiter: str | None, index: int, start: int, end: int) -> RangeSummary:
    """Summarize the range [start, end) read from ``stream``, which holds those bytes and then the
    byte at ``end`` if the object has one, and returns as many bytes as asked until it ends (a
    buffered reader). ``delimiter`` is None for JSON Lines."""
    element, seen = _IDENTITY, 0
    first: list[FirstStart | None] = [None] * len(State)
    breaks = newlines = 0
    offset = start
    chunk = stream.read(min(SCAN_CHUNK_BYTES, end - start))
    while chunk:
        remaining = end - offset - len(chunk)
        following = stream.read(min(SCAN_CHUNK_BYTES, remaining)) if remaining else stream.read(1)
        after = following[0] if following else -1
        scanned = _boundaries.scan(chunk, delimiter, element, seen, after)
        for state, at, breaks_before, newlines_before in scanned.starts:
            first[state] = FirstStart(offset + at, breaks + breaks_before, newlines + newlines_before)
        element, seen = scanned.element, scanned.seen
        breaks += scanned.breaks
        newlines += scanned.newlines
        offset += len(chunk)
        chunk = following if remaining else b""
    return RangeSummary(
        index=index,
        start=start,
        end=offset,
        ends=list(_boundaries.states(element)),
        first=first,
        breaks=breaks,
        newlines=newlines,
    )
