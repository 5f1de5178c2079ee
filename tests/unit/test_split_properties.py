"""Split into ranges of any size, a file gives the output of one pass, byte for byte.

Generated files hold what makes cutting hard: quoted values with line breaks, \\r\\n, \\n and
lone \\r mixed, a byte order mark, blank lines before the header and among the records, rows
wider and narrower than the header, damaged quotes (text after a closing quote, a quote never
closed), values of every inferred type and some that do not fit their column's. Each is
transformed in one pass and split (``tests/unit/splitting.py``: the split steps' logic in
order) into ranges of a few bytes up to the whole file: records, rejects, counts, column
summaries and business errors must be equal.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.common.errors import UnsupportedEncoding
from tasks.common.models import CsvDialect, Format, ObjectProfile
from tasks.common.records import ColumnType, unique_column_names
from tasks.split import plan
from tasks.split.plan import plan_csv
from tasks.split.scan import State
from tasks.transform import csv_converter
from tasks.transform.csv_converter import CHUNK_BYTES, INFER_BYTES, INFER_ROWS
from tasks.transform.logic import TransformSettings
from tests.unit.splitting import Split, plan_split, single_pass, split_pass

PROPERTY = settings(max_examples=150, deadline=None)
KEEP_REJECTS = TransformSettings(max_reject_ratio=1.0)  # so that the outputs, not only the error, compare

TERMINATORS = ["\r\n", "\n", "\r"]


def csv_profile(header: list[str], delimiter: str, *, bom: bool) -> ObjectProfile:
    dialect = CsvDialect(delimiter=delimiter, quotechar='"', doublequote=True, header=unique_column_names(header))
    return ObjectProfile(version_id="v1", etag='"e"', encoding="utf-8-sig" if bom else "utf-8", csv=dialect)


def text_profile(*, bom: bool) -> ObjectProfile:
    return ObjectProfile(version_id="v1", etag='"e"', encoding="utf-8-sig" if bom else "utf-8")


# --- CSV ----------------------------------------------------------------------------------------

values = st.one_of(
    st.sampled_from(["", "1", "-20", "3.5", "true", "2026-01-31", "2026-01-31T10:00:00Z", "NULL", "007", "x y"]),
    st.text(st.sampled_from('ab,;|\t"\r\n é'), max_size=8),  # quotes, delimiters and line breaks inside
)


def row_text(fields: list[str], delimiter: str, quoting: int) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator="").writerow(fields)
    return buffer.getvalue()


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, ObjectProfile]:
    delimiter = draw(st.sampled_from(",;\t|"))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    width = draw(st.integers(min_value=1, max_value=4))
    header = draw(st.lists(st.text("abcdef", min_size=1, max_size=3), min_size=width, max_size=width))
    lines = [row_text(header, delimiter, quoting)]
    lines[:0] = draw(st.lists(st.sampled_from(["", "  "]), max_size=2))  # blank lines before the header
    kinds = st.sampled_from(["row"] * 6 + ["wide", "narrow", "blank", "spaces", "after-quote", "unclosed"])
    for kind in draw(st.lists(kinds, max_size=14)):
        if kind in ("row", "wide", "narrow"):
            size = {"row": width, "wide": width + 1, "narrow": max(width - 1, 1)}[kind]
            lines.append(row_text(draw(st.lists(values, min_size=size, max_size=size)), delimiter, quoting))
        elif kind == "blank":
            lines.append("")
        elif kind == "spaces":
            lines.append(" \t")
        elif kind == "after-quote":  # a damaged record: rejected up to the end of its physical line
            lines.append(f'"ab"c{delimiter}"d\r\ne"x')
        else:  # a quote never closed: the rest of the file is one damaged record
            lines.append('"open' + delimiter + "x")
    terminators = draw(st.lists(st.sampled_from(TERMINATORS), min_size=len(lines), max_size=len(lines)))
    text = "".join(line + end for line, end in zip(lines, terminators, strict=True))
    if draw(st.booleans()):
        text = text[: -len(terminators[-1])]  # no line break after the last record
    bom = draw(st.booleans())
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    return data, csv_profile(header, delimiter, bom=bom)


@PROPERTY
@given(
    file=csv_files(),
    ranges=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=3),
    transform=st.sampled_from([KEEP_REJECTS, TransformSettings()]),
)
def test_a_split_csv_gives_the_output_of_one_pass(
    file: tuple[bytes, ObjectProfile], ranges: list[int], transform: TransformSettings
) -> None:
    # Given a generated CSV and its output in one pass
    data, profile = file
    one_pass = single_pass(data, Format.CSV, profile, settings=transform)
    # When it is split into ranges of a few bytes to more than the whole file
    for range_bytes in ranges:
        split = split_pass(data, Format.CSV, profile, range_bytes=range_bytes, settings=transform)
        # Then records, rejects, counts, column types and non-conforming counts, or the error, are equal
        assert split == one_pass, f"ranges of {range_bytes} bytes"


# --- JSON Lines ---------------------------------------------------------------------------------

jsonl_lines = st.one_of(
    st.dictionaries(st.sampled_from(["a", "b", "_line", "é"]), st.one_of(st.integers(), st.text(max_size=4)))
    .map(json.dumps)
    .map(lambda line: line.replace(", ", ",\r ")),  # a \r inside a line is JSON white space, not a break
    st.sampled_from(["", "   ", "{bad", "[1, 2]", '"text"', "{}", '{"a": 1} {"b": 2}']),
)


@PROPERTY
@given(
    lines=st.lists(jsonl_lines, max_size=12),
    crlf=st.lists(st.booleans(), min_size=12, max_size=12),
    final_newline=st.booleans(),
    bom=st.booleans(),
    ranges=st.lists(st.integers(min_value=1, max_value=200), min_size=1, max_size=3),
)
def test_a_split_json_lines_file_gives_the_output_of_one_pass(
    lines: list[str], crlf: list[bool], final_newline: bool, bom: bool, ranges: list[int]
) -> None:
    text = "".join(line + ("\r\n" if windows else "\n") for line, windows in zip(lines, crlf, strict=False))
    if lines and not final_newline:
        text = text.rstrip("\n")
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    profile = text_profile(bom=bom)
    one_pass = single_pass(data, Format.JSONL, profile, settings=KEEP_REJECTS)
    for range_bytes in ranges:
        split = split_pass(data, Format.JSONL, profile, range_bytes=range_bytes, settings=KEEP_REJECTS)
        assert split == one_pass, f"ranges of {range_bytes} bytes"


# --- records straddling every cut ---------------------------------------------------------------


def straddling_file() -> bytes:
    """Records of 40 to 260 bytes: quoted line breaks of every kind, a value longer than a few
    ranges, damaged records (text after a closing quote)."""
    rows = [["id", "note", "amount"]]
    for number in range(1, 60):
        note = f'line one{TERMINATORS[number % 3]}"quoted" {"x" * (number * 7 % 50)},{TERMINATORS[(number + 1) % 3]}end'
        rows.append([str(number), note, f"{number}.25"])
    rows.insert(30, ["30b", "y" * 200, "1"])
    lines = [row_text(row, ",", csv.QUOTE_MINIMAL) for row in rows]
    for at in (10, 40, 50):
        lines.insert(at, f'{at}x,"damaged" after its quote {"z" * at},1')
    return "".join(line + TERMINATORS[i % 3] for i, line in enumerate(lines)).encode()


def test_records_straddling_every_cut_come_out_as_in_one_pass() -> None:
    # Given a file and a range size where no cut falls on a record's first byte, cuts fall in every
    # state the parser can be in but a record's start, and a range holds no record start at all
    data = straddling_file()
    profile = csv_profile(["id", "note", "amount"], ",", bom=False)
    range_bytes, split = next(
        (size, split)
        for size in range(20, 200)
        if straddles_every_way(split := plan_split(data, Format.CSV, profile, range_bytes=size), size, len(data))
    )
    # When it is transformed split and in one pass
    one_pass = single_pass(data, Format.CSV, profile)
    # Then every record, its line and its values, and every reject, are the same
    assert split_pass(data, Format.CSV, profile, range_bytes=range_bytes) == one_pass
    assert (one_pass.records, one_pass.rejected) == (60, 3)


def straddles_every_way(split: Split, range_bytes: int, size: int) -> bool:
    cuts = set(range(range_bytes, size, range_bytes))
    state, states, empty = State.RECORD, set(), False
    for summary in split.summaries[:-1]:
        empty = empty or summary.first[state] is None
        state = State(summary.ends[state])
        states.add(state)
    return not cuts & {part.start for part in split.parts} and empty and states == set(State) - {State.RECORD}


# --- the file's start decides for every part ------------------------------------------------------


def wide_file(*, bom: bool) -> bytes:
    """More than INFER_ROWS records and CHUNK_BYTES: `count` is an integer column until a late float."""
    lines = ["count,note,day"]
    for number in range(INFER_ROWS + 3000):
        count = "2.5" if number == INFER_ROWS + 500 else str(number)
        note = f'"multi\nline {number}"' if number % 7 == 0 else "plain text value " * 20
        lines.append(f"{count},{note},2026-02-{number % 28 + 1:02d}")
    return (b"\xef\xbb\xbf" if bom else b"") + "\r\n".join(lines).encode()


def test_types_inferred_from_the_file_start_type_every_part_and_late_misfits_are_counted() -> None:
    # Given a file longer than the bytes and records types are inferred from, with a late misfit
    for bom in (False, True):
        data = wide_file(bom=bom)
        assert len(data) > INFER_BYTES
        profile = csv_profile(["count", "note", "day"], ",", bom=bom)
        # When it is split into about 25 parts
        one_pass = single_pass(data, Format.CSV, profile)
        split = split_pass(data, Format.CSV, profile, range_bytes=len(data) // 25)
        # Then the parts typed their values alike, and the misfit is counted once
        assert split == one_pass
        assert [(column.type, column.non_conforming) for column in split.columns] == [
            (ColumnType.INTEGER, 1),
            (ColumnType.STRING, 0),
            (ColumnType.DATE, 0),
        ]


class InferenceSpy:
    """Stands for ``infer_column_types``: records what it is asked to infer from."""

    def __init__(self) -> None:
        self.seen: list[tuple[bytes, bool]] = []

    def __call__(self, head: bytes, *args: Any, complete: bool) -> list[ColumnType]:
        self.seen.append((head, complete))
        return [ColumnType.INTEGER, ColumnType.STRING]


def test_plan_csv_infers_from_the_bytes_one_pass_infers_from() -> None:
    # Given files around the sizes that change what inference reads (INFER_BYTES, CHUNK_BYTES)
    for size in (1000, INFER_BYTES - 10, INFER_BYTES + 10, CHUNK_BYTES + 10):
        for bom in (False, True):
            line = b"1,abc\n"
            data = (b"\xef\xbb\xbf" if bom else b"") + b"n,s\n" + line * (size // len(line))
            profile = csv_profile(["n", "s"], ",", bom=bom)
            assert profile.csv is not None
            spy = InferenceSpy()
            # When one pass and the plan infer the types
            with (
                mock.patch.object(csv_converter, "infer_column_types", spy),
                mock.patch.object(plan, "infer_column_types", spy),
            ):
                single_pass(data, Format.CSV, profile)
                plan_csv(
                    io.BytesIO(data[:CHUNK_BYTES]),
                    encoding=profile.encoding,
                    dialect=profile.csv,
                    null_values=frozenset(),
                    start=3 if bom else 0,
                    size=len(data),
                )
            # Then they looked at the same bytes, equally sure whether those were the whole file
            assert spy.seen[0] == spy.seen[1], f"{size} bytes, bom={bom}"


def test_the_header_after_blank_lines_stays_in_the_first_part() -> None:
    # Given a one-column file whose header follows blank lines, and lines of spaces after it
    # (records of that one column, but blank lines before the header)
    data = b"\n  \n\r\n \nname\n  \nann\n\n \nbob\n"
    profile = csv_profile(["name"], ",", bom=False)
    for range_bytes in range(1, len(data) + 1):
        split = plan_split(data, Format.CSV, profile, range_bytes=range_bytes)
        # Then only the first part reads a header, and it ends after it
        assert split.parts[0].header
        assert split.parts[0].end >= data.index(b"name\n") + 5
        assert split_pass(data, Format.CSV, profile, range_bytes=range_bytes) == single_pass(data, Format.CSV, profile)


def test_text_that_is_not_utf8_late_in_the_file_fails_with_the_line_one_pass_names() -> None:
    # Given a file past the bytes PlanRanges reads, whose lines end with \r, then \n, and one
    # line near the end holds a byte that is not UTF-8
    lines = [b"a,b"] + [b"%d,x" % number for number in range(1, 600_000)]
    lines[590_000] = b"590000,\xff"
    data = b"\r".join(lines[:1000]) + b"\r" + b"\n".join(lines[1000:])
    assert len(data) > CHUNK_BYTES
    profile = csv_profile(["a", "b"], ",", bom=False)
    one_pass = single_pass(data, Format.CSV, profile)
    assert one_pass.error is not None
    assert one_pass.error[0] == UnsupportedEncoding.__name__
    # When it is split; Then the error, and the line it names, are the same
    assert split_pass(data, Format.CSV, profile, range_bytes=500_000) == one_pass
