"""The split's scan: its record starts are the CSV parser's, from every state a range may start in.

Two references: the parser itself (``_csvjson.convert``: converting the records the scan finds
one at a time gives what converting the whole gives), and a plain Python transcription of the
parser's record-boundary logic, which the C scan (one table step per two bytes, seven start
states at once, buffers of any size) must match byte for byte.
"""

from __future__ import annotations

import io
import itertools
from unittest import mock

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tasks.split import _boundaries, scan
from tasks.split.models import FirstStart, RangeSummary
from tasks.split.scan import State, scan_range
from tasks.transform import _csvjson

PROPERTY = settings(max_examples=300, deadline=None)

# --- a Python transcription of parse_record's boundaries (tasks/transform/_csvjson.c) ---------

QUOTE, DELIMITER, LF, CR, OTHER = range(5)


def byte_class(byte: int, delimiter: str | None) -> int:
    if byte == ord("\n"):
        return LF
    if delimiter is None:  # JSON Lines: only \n ends a line
        return OTHER
    if byte == ord("\r"):
        return CR
    if byte == ord('"'):
        return QUOTE
    return DELIMITER if byte == ord(delimiter) else OTHER


def field_start(cls: int) -> State:
    """A record's or a field's first byte: a quote opens a quoted field, a line break ends the record."""
    return {QUOTE: State.QUOTED, DELIMITER: State.FIELD, LF: State.RECORD, CR: State.CR}.get(cls, State.UNQUOTED)


def step(state: State, cls: int) -> State:
    if state in (State.RECORD, State.FIELD):
        return field_start(cls)
    if state is State.CR:  # \r\n is one line break; after a lone \r the next record has begun
        return State.RECORD if cls == LF else field_start(cls)
    if state is State.UNQUOTED:  # a quote inside an unquoted field is a character
        return {DELIMITER: State.FIELD, LF: State.RECORD, CR: State.CR}.get(cls, State.UNQUOTED)
    if state is State.QUOTED:  # everything but a quote is the value's
        return State.QUOTE if cls == QUOTE else State.QUOTED
    if state is State.QUOTE:  # "" is a quote; after a closing quote only a delimiter or the end may come
        return {QUOTE: State.QUOTED, DELIMITER: State.FIELD, LF: State.RECORD, CR: State.CR}.get(cls, State.SKIP)
    # SKIP: a damaged record is dropped up to the end of its physical line
    return {LF: State.RECORD, CR: State.CR}.get(cls, State.SKIP)


def starts_record(state: State, cls: int) -> bool:
    return state is State.RECORD or (state is State.CR and cls != LF)


def reference_summary(data: bytes, delimiter: str | None, *, start: int, after: int) -> RangeSummary:
    """What the scan must report for ``data`` at offset ``start``, followed by the byte ``after``."""
    following = [*data[1:], after][: len(data)]
    breaks = [
        byte == ord("\n") or (delimiter is not None and byte == ord("\r") and nxt != ord("\n"))
        for byte, nxt in zip(data, following, strict=True)
    ]
    newlines = [byte == ord("\n") for byte in data]
    ends: list[int] = []
    first: list[FirstStart | None] = []
    for initial in State:
        state, found = initial, None
        for offset, byte in enumerate(data):
            cls = byte_class(byte, delimiter)
            if found is None and starts_record(state, cls):
                found = FirstStart(start + offset, sum(breaks[:offset]), sum(newlines[:offset]))
            state = step(state, cls)
        ends.append(state)
        first.append(found)
    return RangeSummary(
        index=0, start=start, end=start + len(data), ends=ends, first=first, breaks=sum(breaks), newlines=sum(newlines)
    )


# --- the C scan against the transcription ------------------------------------------------------

scan_bytes = st.lists(st.sampled_from([b'"', b",", b";", b"\n", b"\r", b"a", b" ", b"\xc3\xa9"]), max_size=80).map(
    b"".join
)
delimiters = st.sampled_from([",", ";", None])


@PROPERTY
@given(
    data=scan_bytes,
    delimiter=delimiters,
    after=st.sampled_from([-1, ord("\n"), ord("\r"), ord("a")]),
    chunk=st.integers(min_value=1, max_value=9),
    start=st.integers(min_value=0, max_value=1000),
)
def test_the_scan_reports_what_the_transcription_of_the_parser_does(
    data: bytes, delimiter: str | None, after: int, chunk: int, start: int
) -> None:
    # Given a range read in buffers of a few bytes, and the byte after it
    stream = io.BytesIO(data + (bytes([after]) if after >= 0 else b""))
    # When it is scanned
    with mock.patch.object(scan, "SCAN_CHUNK_BYTES", chunk):
        summary = scan_range(stream, delimiter=delimiter, index=0, start=start, end=start + len(data))
    # Then, for every start state, its end state, its first record start and the lines before it
    # are the transcription's
    assert summary == reference_summary(data, delimiter, start=start, after=after)


# Long runs of one byte, so that some start states meet their first record start only far in:
# a buffer over 16 KiB is followed in four stretches side by side, composed after.
long_scan_bytes = st.lists(
    st.tuples(st.sampled_from([b'"', b",", b"\n", b"\r", b"a"]), st.integers(min_value=1, max_value=6000)),
    min_size=1,
    max_size=12,
).map(lambda runs: b"".join(byte * count for byte, count in runs))


@settings(max_examples=25, deadline=None)
# From QUOTED (or QUOTE), the first record starts only after the quote in the third stretch.
@example(data=b"a" * 20_000 + b'"' + b"a" * 20_000 + b"\n" + b"b" * 100, delimiter=",", chunk=1 << 20)
@given(
    data=long_scan_bytes,
    delimiter=delimiters,
    chunk=st.sampled_from([17_000, 40_000, 1 << 20]),
)
def test_long_buffers_followed_in_stretches_report_what_the_transcription_does(
    data: bytes, delimiter: str | None, chunk: int
) -> None:
    # Given a range long enough to be followed in four stretches; When it is scanned
    # Then the stretches' composition reports what following it byte by byte does
    with mock.patch.object(scan, "SCAN_CHUNK_BYTES", chunk):
        summary = scan_range(io.BytesIO(data), delimiter=delimiter, index=0, start=0, end=len(data))
    assert summary == reference_summary(data, delimiter, start=0, after=-1)


def test_the_monoid_is_every_composition_of_the_byte_classes() -> None:
    # Given the functions "start state -> state" that byte strings make (the C tables number them)
    # When their closure is computed here from the transcription; Then it has as many
    identity = tuple(State)
    found, frontier = {identity}, [identity]
    while frontier:
        function = frontier.pop()
        for cls in range(5):
            composed = tuple(step(state, cls) for state in function)
            if composed not in found:
                found.add(composed)
                frontier.append(composed)
    assert len(found) == _boundaries.ELEMENTS


def test_a_cr_at_the_end_of_a_range_is_one_line_break_with_the_lf_after_it() -> None:
    # Given ranges ending with \r, followed by \n or by another byte; When they are scanned
    # Then the \r counts as a break only when no \n follows (the next range counts that one)
    crlf = scan_range(io.BytesIO(b"a\r\n"), delimiter=",", index=0, start=0, end=2)
    lone = scan_range(io.BytesIO(b"a\rb"), delimiter=",", index=0, start=0, end=2)
    assert (crlf.breaks, lone.breaks) == (0, 1)
    assert crlf.ends[State.RECORD] == lone.ends[State.RECORD] == State.CR


# --- the scan's boundaries against the parser ---------------------------------------------------

csv_bytes = st.lists(
    st.sampled_from([b'"', b",", b"\n", b"\r", b"\r\n", b"a", b" ", b'""', b"1"]), min_size=1, max_size=60
).map(b"".join)


@PROPERTY
@given(data=csv_bytes, columns=st.integers(min_value=1, max_value=3), final=st.booleans())
def test_converting_the_records_the_scan_finds_one_by_one_is_converting_the_whole(
    data: bytes, columns: int, final: bool
) -> None:
    # Given the records record_ends finds (from the first byte, where a record starts)
    ends = _boundaries.record_ends(data, ",", len(data) + 1, final)
    names, kinds = tuple(b'"c%d":' % i for i in range(columns)), b"s" * columns

    def convert(piece: bytes, line: int, *, last: bool) -> _csvjson.Converted:
        return _csvjson.convert(piece, 0, last, ",", names, kinds, (), b',"_line":', line, False)

    # When each is converted alone (its end being the data's), and the whole at once
    whole = convert(data, 1, last=final)
    line, pieces = 1, []
    for start, end in itertools.pairwise([0, *ends]):
        converted = convert(data[start:end], line, last=True)
        line = converted.line
        pieces.append(converted)
    # Then the records, rejects (with their lines) and lines are the same: no record was cut
    assert b"".join(piece.output for piece in pieces) == whole.output
    assert [reject for piece in pieces for reject in piece.rejects] == whole.rejects
    assert (ends[-1] if ends else 0) == whole.end
    assert line == whole.line


def test_record_ends_leaves_out_a_record_the_data_may_still_continue() -> None:
    # Given data that may continue (not final), or that ends; Then a cut record ends only at the end
    assert _boundaries.record_ends(b'a\n"b\nc', ",", 10, False) == [2]
    assert _boundaries.record_ends(b'a\n"b\nc', ",", 10, True) == [2, 6]
    assert _boundaries.record_ends(b"a\rb\r", ",", 10, False) == [2]  # the last \r may be half of \r\n
    assert _boundaries.record_ends(b"a\nb\n", ",", 1, False) == [2]
