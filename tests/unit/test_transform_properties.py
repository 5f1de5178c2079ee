"""Property tests: generated records come back unchanged through the real Fetch + Transform path.

Each file is written by the standard library (``csv.writer``, ``json.dumps``), stored as bytes
(UTF-8 with or without a byte order mark, optionally gzip), profiled by Fetch's ``profile``
from its first ``SAMPLE_BYTES`` (ranged GetObject on an in-memory object), then read by
``open_text`` and the format's reader, as Transform reads it.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import itertools
import json
import sys
from typing import Any, TextIO
from unittest import mock

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tasks.common.errors import EmptyObject, TooManyRejects
from tasks.common.models import Compression, CsvDialect, Format, ProcessingType, SourceObject, Trigger
from tasks.common.records import unique_column_names
from tasks.common.sample import SAMPLE_BYTES
from tasks.fetch.logic import CSV_DELIMITERS, profile
from tasks.transform import json_converter
from tasks.transform.json_converter import JSON_CHUNK_SIZE, read_json_array, write_records
from tasks.transform.output import Record, Reject, check_counts, without_lineage_clash
from tasks.transform.readers import open_text
from tests.unit.converters import LINEAGE, converted_csv, converted_jsonl

PROPERTY = settings(max_examples=100, deadline=None)

# --- Fetch's profile and Transform's text stream over in-memory bytes -------------------------


class RangeS3:
    """Just enough of an S3 client for ``read_sample``: ranged GetObject on one object."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def get_object(self, *, Range: str, **_: Any) -> dict[str, Any]:
        first, last = Range.removeprefix("bytes=").split("-")
        body = self._data[int(first) : int(last) + 1]
        return {"Body": io.BytesIO(body), "ContentRange": f"bytes {first}-{last}/{len(self._data)}"}


def stored(text: str, *, bom: bool, compression: Compression) -> bytes:
    data = (("\ufeff" if bom else "") + text).encode()
    return gzip.compress(data) if compression is Compression.GZIP else data


def fetch_profile(data: bytes, fmt: Format, compression: Compression) -> tuple[str, CsvDialect | None]:
    """What Fetch learns from the object's first bytes: its encoding and, for CSV, its dialect."""
    source = SourceObject(
        bucket="bucket",
        key="key",
        version_id="v1",
        etag='"etag"',
        size=len(data),
        format=fmt,
        compression=compression,
        processing_type=ProcessingType.STANDARD,
        trigger=Trigger.API,
    )
    found = profile(RangeS3(data), source)
    return found.encoding, found.csv


def opened(data: bytes, compression: Compression, encoding: str) -> TextIO:
    return open_text(io.BytesIO(data), compression=compression, encoding=encoding)


compressions = st.sampled_from([Compression.NONE, Compression.GZIP])

# --- CSV ----------------------------------------------------------------------------------------

CSV_SPECIALS = ',;\t|"\r\n '
# Values: any character but NUL and surrogates (not UTF-8), the CSV specials drawn half the time.
csv_values = st.text(
    st.one_of(st.sampled_from(CSV_SPECIALS), st.characters(codec="utf-8", exclude_characters="\x00")), max_size=12
)
# Names: printable (no control character but tab), spaces, quotes and all the delimiters included.
# Distinct raw names may still normalize alike (" a" and "a"): the test expects unique_column_names.
csv_names = st.text(
    st.one_of(
        st.sampled_from(CSV_SPECIALS.replace("\r\n", "")),
        st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs", "Cf", "Co"]),
    ),
    min_size=1,
    max_size=10,
)


@st.composite
def csv_tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    header = draw(st.lists(csv_names, min_size=1, max_size=8, unique=True))
    width = len(header)
    rows = draw(st.lists(st.lists(csv_values, min_size=width, max_size=width), min_size=1, max_size=30))
    return header, rows


def write_csv(header: list[str], rows: list[list[str]], blank_lines: int = 0, **fmt: Any) -> tuple[str, list[int]]:
    """The CSV text and the 1-based physical line on which each data row starts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, **fmt)
    for spaces in range(blank_lines):  # "", " ", "  "...: lines read_csv skips before the header
        buffer.write(" " * spaces + fmt.get("lineterminator", "\r\n"))
    writer.writerow(header)
    offsets = []
    for row in rows:
        offsets.append(buffer.tell())
        writer.writerow(row)
    text = buffer.getvalue()
    # Line ends as the readers' text stream (newline="") finds them: \n, \r\n and a lone \r.
    ends = []
    position = 0
    for line in io.StringIO(text, newline=""):
        position += len(line)
        ends.append(position)
    return text, [bisect.bisect_right(ends, offset) + 1 for offset in offsets]


def writer_breaks_the_row(rows: list[list[str]], quoting: int, lineterminator: str) -> bool:
    """CPython's writer before 3.11.9 (gh-67044) leaves a field holding ``\\r`` or ``\\n`` unquoted
    under minimal quoting unless that character is in the line terminator: the file it writes
    does not hold the row, so there is nothing to read back."""
    if sys.version_info >= (3, 11, 9) or quoting != csv.QUOTE_MINIMAL:
        return False
    unquoted = set("\r\n") - set(lineterminator)
    return any(unquoted & set(value) for row in rows for value in row)


def one_column_is_ambiguous(header: list[str], rows: list[list[str]], quoting: int) -> bool:
    """A one-column table whose text means something else to any reader, so no sniffer can tell.

    A one-column file has no delimiter to find, so nothing marks a value's ``,``, ``;``, tab or
    ``|`` as data when the writer leaves it unquoted (minimal quoting quotes only its own
    delimiter): the one-column header ``,`` written with ``;`` and a row ``""`` is, byte for
    byte, a two-column file with empty names. And a header of spaces is the padded blank line
    that read_csv (and so the sniffer) skips before the header.
    """
    if len(header) > 1:
        return False
    if not header[0].strip():
        return True
    values = [header[0], *(row[0] for row in rows)]
    return quoting == csv.QUOTE_MINIMAL and any(set(CSV_DELIMITERS) & set(value) for value in values)


def another_delimiter_reads_a_table(text: str, delimiter: str) -> bool:
    """Whether another candidate delimiter also reads ``text`` as rows of one width above one.

    Then the text is a consistent table either way and nothing says which was meant:
    ``0;<tab>`` over ``;<tab>`` (header ``0``, tab; row empty, tab; written with ``;``) is two
    columns with ``;`` and with tab, and the sniffer prefers tab.

    This also excludes readings in which a quote stands inside an unquoted field, which csv
    accepts and RFC 4180 does not; there the sniffer could do better. Hypothesis found
    ``0,1,2,|`` + ``,|,"<CR>0",|`` (written with ``,``): with ``|`` the quoted field's CR
    splits its row, giving three rows of two fields against two rows of four with ``,``, and the
    sniffer, which counts rows, takes ``|``.
    """
    for candidate in CSV_DELIMITERS.replace(delimiter, ""):
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=candidate) if not is_blank(row)]
        if len({len(row) for row in rows}) == 1 and len(rows[0]) > 1:
            return True
    return False


def is_blank(row: list[str]) -> bool:
    """A line read_csv skips: empty, or one field of spaces (only where no row has one field)."""
    return not row or (len(row) == 1 and not row[0].strip())


def repeated_past_the_sample(rows: list[list[str]], text: str) -> list[list[str]]:
    """The rows repeated until the file is longer than Fetch's sample, which is then partial."""
    return rows * (SAMPLE_BYTES // max(len(text), 1) + 2)


@PROPERTY
@given(
    table=csv_tables(),
    delimiter=st.sampled_from(CSV_DELIMITERS),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    # The brief's \r\n and \n, and the lone \r of old Mac exports, which read_csv accepts too.
    lineterminator=st.sampled_from(["\r\n", "\n", "\r"]),
    bom=st.booleans(),
    compression=compressions,
    past_the_sample=st.booleans(),
    blank_lines=st.integers(min_value=0, max_value=2),
)
def test_csv_rows_come_back_through_fetch_sniffing_and_the_converter(
    table: tuple[list[str], list[list[str]]],
    delimiter: str,
    quoting: int,
    lineterminator: str,
    bom: bool,
    compression: Compression,
    past_the_sample: bool,
    blank_lines: int,
) -> None:
    header, rows = table
    assume(not writer_breaks_the_row(rows, quoting, lineterminator))
    assume(not one_column_is_ambiguous(header, rows, quoting))
    # Without a BOM, a U+FEFF opening the first name is the BOM: what every UTF-8 reader strips.
    assume(bom or not header[0].startswith("\ufeff"))
    fmt: dict[str, Any] = {
        "delimiter": delimiter,
        "quoting": quoting,
        "lineterminator": lineterminator,
        "blank_lines": blank_lines,
    }
    text, starts = write_csv(header, rows, **fmt)
    if past_the_sample:
        rows = repeated_past_the_sample(rows, text)
        text, starts = write_csv(header, rows, **fmt)
    assume(not another_delimiter_reads_a_table(text, delimiter))
    data = stored(text, bom=bom, compression=compression)

    encoding, dialect = fetch_profile(data, Format.CSV, compression)
    assert encoding == ("utf-8-sig" if bom else "utf-8")
    assert dialect is not None
    assert dialect.header == unique_column_names(header)
    if len(header) > 1:  # a one-column file has no delimiter to find
        assert dialect.delimiter == delimiter

    items = converted_csv(data, dialect, encoding=encoding, compression=compression)
    # Every row is a Record (no Reject), in order, keyed by the header, on the line it starts on;
    # an empty value is null.
    expected = [
        Record(line, {name: value or None for name, value in zip(dialect.header, row, strict=True)})
        for line, row in zip(starts, rows, strict=True)
    ]
    assert items == expected
    assert all(earlier.line < later.line for earlier, later in itertools.pairwise(items))


@pytest.mark.parametrize(
    "text",
    [
        # Hypothesis's shrunk example: "|" splits each quoted "\n0" into two rows of two fields.
        '0,1,2,3,00,000,0000,00000\r\n,,,,,|,"\n0",|\r\n,,,,,|,"\n0",|\r\n',
        # The same in real data: quoted multi-line addresses with a ";" on each line.
        'id,address\n1,"12 Main St; Apt 4\nSpringfield; IL"\n2,"3 Oak Ave; Unit 2\nShelbyville; IL"\n',
    ],
    ids=["shrunk", "addresses"],
)
def test_a_delimiter_that_splits_quoted_lines_but_not_the_header_loses(text: str) -> None:
    # A wrong candidate splits a quoted value at each of its lines, so it can count more rows of
    # one width than the right one has records; its header does not have that width, though.
    encoding, dialect = fetch_profile(text.encode(), Format.CSV, Compression.NONE)
    assert dialect is not None
    assert dialect.delimiter == ","
    rows = list(csv.reader(io.StringIO(text, newline="")))
    items = converted_csv(text.encode(), dialect, encoding=encoding)
    assert [item.fields for item in items if isinstance(item, Record)] == [
        {name: value or None for name, value in zip(rows[0], row, strict=True)} for row in rows[1:]
    ]
    assert len(items) == len(rows) - 1


# --- JSON ---------------------------------------------------------------------------------------

json_text = st.text(st.characters(codec="utf-8"), max_size=12)  # any character but lone surrogates
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),  # far beyond 64 bits
    st.floats(allow_nan=False, allow_infinity=False),
    json_text,
)


def json_values(depth: int) -> st.SearchStrategy[Any]:
    if depth == 0:
        return json_scalars
    inner = json_values(depth - 1)
    return st.one_of(json_scalars, st.lists(inner, max_size=4), st.dictionaries(json_text, inner, max_size=4))


# The object is the first level; its values nest up to three more: four levels in all.
# Keys named like the lineage fields are drawn often: the converters must keep their values.
json_keys = st.one_of(json_text, st.sampled_from(["_line", "_line_2", "_source_key", "_source_version"]))
json_objects = st.dictionaries(json_keys, json_values(3), max_size=6)
json_documents = st.lists(json_objects, max_size=30)


def as_json_reads_them(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects after a JSON round trip: floats as ``json.dumps`` writes them."""
    loaded: list[dict[str, Any]] = json.loads(json.dumps(objects))
    return loaded


@PROPERTY
@given(
    objects=json_documents,
    indent=st.sampled_from([None, 0, 2, "\t"]),
    compact=st.booleans(),
    ensure_ascii=st.booleans(),
    bom=st.booleans(),
    compression=compressions,
    chunk_size=st.sampled_from([1, 7, JSON_CHUNK_SIZE]),
)
def test_json_array_objects_come_back_through_read_json_array(
    objects: list[dict[str, Any]],
    indent: int | str | None,
    compact: bool,
    ensure_ascii: bool,
    bom: bool,
    compression: Compression,
    chunk_size: int,
) -> None:
    options: dict[str, Any] = {"indent": indent, "ensure_ascii": ensure_ascii}
    if compact:
        options["separators"] = (",", ":")
    text = json.dumps(objects, **options)
    data = stored(text, bom=bom, compression=compression)

    encoding, _ = fetch_profile(data, Format.JSON, compression)
    items = list(read_json_array(opened(data, compression, encoding), chunk_size=chunk_size))

    # Without indent the document is one line; with it, "[" has a line and each element opens
    # a line after the lines of the elements before it.
    element_lines = [json.dumps(obj, **options).count("\n") + 1 for obj in objects]
    lines = [1] * len(objects) if indent is None else [2 + sum(element_lines[:i]) for i in range(len(objects))]
    assert items == [Record(line, obj) for line, obj in zip(lines, as_json_reads_them(objects), strict=True)]


@PROPERTY
@given(
    objects=json_documents,
    compact=st.booleans(),
    ensure_ascii=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
    bom=st.booleans(),
    compression=compressions,
)
def test_jsonl_objects_come_back_through_the_converter(
    objects: list[dict[str, Any]],
    compact: bool,
    ensure_ascii: bool,
    newline: str,
    final_newline: bool,
    bom: bool,
    compression: Compression,
) -> None:
    separators = (",", ":") if compact else None
    lines = [json.dumps(obj, separators=separators, ensure_ascii=ensure_ascii) for obj in objects]
    text = newline.join(lines) + (newline if final_newline and lines else "")
    data = stored(text, bom=bom, compression=compression)

    encoding, _ = fetch_profile(data, Format.JSONL, compression)
    items = converted_jsonl(io.BytesIO(data), compression=compression, encoding=encoding)

    # A key named like a lineage field (``_line``) is kept under a free name, never overwritten.
    expected = [without_lineage_clash(obj) for obj in as_json_reads_them(objects)]
    assert items == [Record(line, obj) for line, obj in enumerate(expected, start=1)]


# --- write_records ------------------------------------------------------------------------------


class MemoryWriter:
    """Collects what is written, like an ``S3MultipartWriter`` without S3."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def decoded_lines(self) -> list[Any]:
        return [json.loads(line) for line in b"".join(self.writes).split(b"\n")[:-1]]


line_numbers = st.integers(min_value=1, max_value=2**40)
reader_items = st.lists(
    st.one_of(st.builds(Record, line_numbers, json_objects), st.builds(Reject, line_numbers, json_text, json_text)),
    max_size=30,
)


@PROPERTY
@given(
    items=reader_items,
    max_reject_ratio=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    batch_size=st.integers(min_value=1, max_value=512),
)
def test_write_records_writes_each_item_to_its_output_and_counts_them(
    items: list[Record | Reject], max_reject_ratio: float, batch_size: int
) -> None:
    records = [item for item in items if isinstance(item, Record)]
    rejects = [item for item in items if isinstance(item, Reject)]
    data, rejected = MemoryWriter(), MemoryWriter()
    outcome: tuple[int, int] | EmptyObject | TooManyRejects
    # A batch of a few bytes flushes between records, as the Lambda does once per MiB.
    with mock.patch.object(json_converter, "BATCH_SIZE", batch_size):
        try:
            outcome = write_records(items, lineage=LINEAGE, data=data, rejects=rejected)
            check_counts(*outcome, max_reject_ratio=max_reject_ratio)
        except (EmptyObject, TooManyRejects) as exc:
            outcome = exc

    # Everything is written before the checks, in order, and each write ends on a whole line.
    lineage = {"_source_key": LINEAGE.source_key, "_source_version": LINEAGE.source_version}
    assert data.decoded_lines() == as_json_reads_them(
        [without_lineage_clash(record.fields) | lineage | {"_line": record.line} for record in records]
    )
    assert rejected.decoded_lines() == [{"line": r.line, "reason": r.reason, "raw": r.raw} for r in rejects]
    assert all(chunk.endswith(b"\n") for chunk in data.writes + rejected.writes)
    if not items:
        assert isinstance(outcome, EmptyObject)
    elif len(rejects) / len(items) > max_reject_ratio:
        assert isinstance(outcome, TooManyRejects)
    else:
        assert outcome == (len(records), len(rejects))
        assert len(records) + len(rejects) == len(items)
