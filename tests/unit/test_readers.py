"""Each source format read end to end, as the transform reads it, one source at a time.

Through the converters (CSV and JSON Lines, read back as records and rejects) and the JSON array
reader: parsing, rejects with their line numbers, blank lines, decompression and decoding, and the
normalized column names.
"""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from collections.abc import Callable, Iterator
from typing import TextIO, cast

import pytest
from botocore.response import StreamingBody

from tasks.common.errors import MalformedInput, UnsupportedEncoding
from tasks.common.models import Compression, CsvDialect
from tasks.common.records import unique_column_names
from tasks.transform.json_converter import read_json_array
from tasks.transform.output import RAW_LIMIT, Record, Reject
from tasks.transform.readers import open_text
from tests.unit.converters import converted_csv, converted_jsonl

Reader = Callable[..., list[Record | Reject]]
"""Reads source bytes (``compression=``, ``encoding=`` keywords) into records and rejects, in line order."""


def text_of(data: bytes, *, encoding: str = "utf-8", compression: Compression = Compression.NONE) -> TextIO:
    return open_text(io.BytesIO(data), compression=compression, encoding=encoding)


def dialect(header: list[str], delimiter: str = ",") -> CsvDialect:
    return CsvDialect(delimiter=delimiter, quotechar='"', doublequote=True, header=header)


def csv_items(
    data: bytes,
    header: list[str],
    delimiter: str = ",",
    encoding: str = "utf-8",
    compression: Compression = Compression.NONE,
) -> list[Record | Reject]:
    return converted_csv(data, dialect(header, delimiter), encoding=encoding, compression=compression)


def abc_csv_items(
    data: bytes, *, compression: Compression = Compression.NONE, encoding: str = "utf-8"
) -> list[Record | Reject]:
    return csv_items(data, ["a", "b", "c"], encoding=encoding, compression=compression)


def jsonl_items(
    data: bytes, *, compression: Compression = Compression.NONE, encoding: str = "utf-8"
) -> list[Record | Reject]:
    return converted_jsonl(io.BytesIO(data), compression=compression, encoding=encoding)


def json_array_items(
    data: bytes, *, compression: Compression = Compression.NONE, encoding: str = "utf-8"
) -> list[Record | Reject]:
    return list(read_json_array(text_of(data, compression=compression, encoding=encoding)))


# --- CSV ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_splits_rows_on_the_dialect_delimiter(delimiter: str) -> None:
    # Given a CSV file using the delimiter
    data = delimiter.join(["id", "name"]) + "\n" + delimiter.join(["1", "Ada"]) + "\n"
    # When it is read
    items = csv_items(data.encode(), ["id", "name"], delimiter)
    # Then each data row maps the header names to its values
    assert items == [Record(2, {"id": "1", "name": "Ada"})]


def test_csv_quoted_fields_keep_embedded_delimiters_quotes_and_newlines() -> None:
    # Given quoted fields holding a delimiter, doubled quotes and a newline
    data = b'a,b,c\n"x,y","say ""hi""","two\nlines"\n4,5,6\n'
    # When the file is read
    items = csv_items(data, ["a", "b", "c"])
    # Then the values are unquoted and the next record's line counts the embedded newline
    assert items == [
        Record(2, {"a": "x,y", "b": 'say "hi"', "c": "two\nlines"}),
        Record(4, {"a": "4", "b": "5", "c": "6"}),
    ]


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_csv_reads_lf_and_crlf_line_endings_alike(newline: str) -> None:
    # Given the same file with either line ending
    data = newline.join(["a,b", "1,2", "3,4", ""]).encode()
    # When it is read
    items = csv_items(data, ["a", "b"])
    # Then the records carry no line ending in their values
    assert items == [Record(2, {"a": "1", "b": "2"}), Record(3, {"a": "3", "b": "4"})]


def test_csv_keeps_crlf_inside_quoted_fields() -> None:
    # Given a CRLF file whose quoted field spans two lines
    data = b'a,b\r\n1,"x\r\ny"\r\n2,3\r\n'
    # When it is read
    items = csv_items(data, ["a", "b"])
    # Then the field keeps its CRLF and the line numbers count it once
    assert items == [Record(2, {"a": "1", "b": "x\r\ny"}), Record(4, {"a": "2", "b": "3"})]


def test_csv_with_bom_decoded_as_utf8_sig_has_no_bom_in_values() -> None:
    # Given a CSV with a UTF-8 byte order mark, profiled as utf-8-sig
    data = "\ufeffname,city\nZoë,Kraków\n".encode()
    # When it is read
    items = csv_items(data, ["name", "city"], encoding="utf-8-sig")
    # Then the BOM is gone and non-ASCII text is intact
    assert items == [Record(2, {"name": "Zoë", "city": "Kraków"})]


@pytest.mark.parametrize(
    ("row", "found"),
    [("1,2", 2), ("1,2,3,4", 4), ("only", 1)],
)
def test_csv_row_with_wrong_field_count_is_rejected_with_its_line(row: str, found: int) -> None:
    # Given a row whose field count differs from the header's, between two good rows
    data = f"a,b,c\n1,2,3\n{row}\n7,8,9\n".encode()
    # When the file is read
    items = csv_items(data, ["a", "b", "c"])
    # Then that row is a Reject naming both counts, and reading goes on
    assert items == [
        Record(2, {"a": "1", "b": "2", "c": "3"}),
        Reject(3, f"expected 3 fields, found {found}", row),
        Record(4, {"a": "7", "b": "8", "c": "9"}),
    ]


@pytest.mark.parametrize(
    "data", [b"a,b\n", b"a,b", b"a,b\r\n\r\n\n", b""], ids=["lf", "no-newline", "blank-lines", "empty"]
)
def test_csv_with_only_a_header_has_no_records(data: bytes) -> None:
    # Given a file with a header and no data row (or nothing at all)
    # When it is read
    items = csv_items(data, ["a", "b"])
    # Then it yields nothing
    assert items == []


def test_csv_skips_blank_lines_but_keeps_physical_line_numbers() -> None:
    # Given blank and whitespace-only lines around the rows
    data = b"\na,b\n\n1,2\n   \n\n3,4\n\n"
    # When the file is read
    items = csv_items(data, ["a", "b"])
    # Then the blank lines yield nothing and the records keep their real line numbers
    assert items == [Record(4, {"a": "1", "b": "2"}), Record(7, {"a": "3", "b": "4"})]


@pytest.mark.parametrize(
    ("row", "raw"),
    [('1,"x"y,3', '1,"x"y,3'), ('1,2,"never closed\n', '1,2,"never closed')],
    ids=["text-after-closing-quote", "unterminated-quote-at-eof"],
)
def test_csv_badly_quoted_row_is_rejected(row: str, raw: str) -> None:
    # Given a good row followed by a badly quoted one
    data = f"a,b,c\n1,2,3\n{row}".encode()
    # When the file is read
    items = csv_items(data, ["a", "b", "c"])
    # Then the good row is a Record and the bad one a Reject with its line and text
    assert items[0] == Record(2, {"a": "1", "b": "2", "c": "3"})
    assert len(items) == 2
    reject = items[1]
    assert isinstance(reject, Reject)
    assert (reject.line, reject.raw) == (3, raw)
    assert reject.reason.startswith("malformed CSV: ")


def test_csv_reading_continues_after_a_badly_quoted_row() -> None:
    # Given a badly quoted row in the middle of the file
    data = b'a,b\n1,"x"y\n3,4\n'
    # When the file is read
    items = csv_items(data, ["a", "b"])
    # Then the row after it is still a Record
    assert items[-1] == Record(3, {"a": "3", "b": "4"})


def test_csv_reject_raw_text_is_truncated() -> None:
    # Given a rejected row much longer than the raw limit
    long_row = "x" * (RAW_LIMIT * 3) + ",extra"
    data = f"a\n{long_row}\n".encode()
    # When the file is read
    (reject,) = csv_items(data, ["a"])
    # Then the Reject keeps only the first RAW_LIMIT characters
    assert isinstance(reject, Reject)
    assert reject.raw == long_row[:RAW_LIMIT]


def test_csv_accepts_a_50_mb_field() -> None:
    # Given a 50 MB quoted field (the csv module's default limit is 128 KiB)
    big = "y" * (50 * 1000 * 1000)
    data = f'a,b\n1,"{big}"\n2,3\n'.encode()
    # When the file is read
    items = csv_items(data, ["a", "b"])
    # Then the field is read whole and the next row follows
    assert items == [Record(2, {"a": "1", "b": big}), Record(3, {"a": "2", "b": "3"})]


def test_csv_whitespace_value_in_a_one_column_file_is_a_record() -> None:
    # Given a one-column file with an empty line and a line of spaces
    data = b"a\n\n  \nx\n"
    # When it is read
    items = csv_items(data, ["a"])
    # Then the empty line is skipped but the spaces are that column's value
    assert items == [Record(3, {"a": "  "}), Record(4, {"a": "x"})]


def test_csv_header_that_does_not_match_the_dialect_is_malformed_input() -> None:
    # Given a dialect sniffed with three columns and a file whose header has two
    data = b"a,b\n1,2\n"
    # When the file is read
    # Then the file cannot be mapped and reading stops
    with pytest.raises(MalformedInput, match="line 1"):
        csv_items(data, ["a", "b", "c"])


def test_csv_uses_the_normalized_header_names_of_the_dialect() -> None:
    # Given a raw header with an empty and a repeated name, and the dialect's normalized names
    data = b"id,,id\n1,2,3\n"
    # When the file is read
    items = csv_items(data, unique_column_names(["id", "", "id"]))
    # Then the record is keyed by the normalized names
    assert items == [Record(2, {"id": "1", "column_2": "2", "id_2": "3"})]


# --- JSON Lines ---------------------------------------------------------------------------------


def test_jsonl_yields_one_record_per_object_line_skipping_blank_lines() -> None:
    # Given objects separated by blank and whitespace-only lines, with CRLF endings
    data = b'{"a": 1}\r\n\r\n  \r\n{"b": {"c": [1, 2]}}\r\n'
    # When the file is read
    items = jsonl_items(data)
    # Then each object is a Record on its physical line
    assert items == [Record(1, {"a": 1}), Record(4, {"b": {"c": [1, 2]}})]


def test_jsonl_unparsable_line_is_rejected_with_its_line_number() -> None:
    # Given a broken line between two good ones
    data = b'{"a": 1}\n{"a": \n{"a": 3}\n'
    # When the file is read
    items = jsonl_items(data)
    # Then the broken line is a Reject on line 2 and reading goes on
    assert items[0] == Record(1, {"a": 1})
    assert items[2] == Record(3, {"a": 3})
    reject = items[1]
    assert isinstance(reject, Reject)
    assert (reject.line, reject.raw) == (2, '{"a": ')
    assert reject.reason.startswith("invalid JSON: ")


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("[1, 2]", "array"),
        ('"text"', "string"),
        ("42", "number"),
        ("1.5", "number"),
        ("true", "boolean"),
        ("null", "null"),
    ],
)
def test_jsonl_line_that_is_not_an_object_is_rejected(line: str, found: str) -> None:
    # Given a line holding valid JSON that is not an object
    # When the file is read
    items = jsonl_items(f"{line}\n".encode())
    # Then the line is a Reject naming what it found
    assert items == [Reject(1, f"expected an object, found {found}", line)]


def test_jsonl_deeply_nested_line_is_rejected_not_a_crash() -> None:
    # Given a line nested 100,000 levels deep, then a good line
    data = ('{"a":' * 100_000 + "1" + "}" * 100_000 + '\n{"ok": true}\n').encode()
    # When the file is read
    items = jsonl_items(data)
    # Then the deep line is a Reject and the next line is still read
    assert isinstance(items[0], Reject)
    assert items[0].line == 1
    assert items[1] == Record(2, {"ok": True})


# --- JSON array ---------------------------------------------------------------------------------

TRICKY_ARRAY = (
    "  \n[\n"
    '  {"text": "brackets ] } [ { and, commas", "id": 1},\n'
    '  {"quote": "say \\"hi\\" ]", "slash": "C:\\\\dir\\\\", "u": "\\u005d\\u00e9"},\n'
    '  {"nested": {"list": [1, [2, {"deep": "}"}]], "empty": {}}, "e": []}\n'
    "]\n"
)
TRICKY_RECORDS = [
    Record(3, {"text": "brackets ] } [ { and, commas", "id": 1}),
    Record(4, {"quote": 'say "hi" ]', "slash": "C:\\dir\\", "u": "]é"}),
    Record(5, {"nested": {"list": [1, [2, {"deep": "}"}]], "empty": {}}, "e": []}),
]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64, 1024 * 1024])
def test_json_array_elements_are_found_whatever_the_chunk_boundaries(chunk_size: int) -> None:
    # Given an array whose strings hold brackets, quotes and escapes
    # When it is streamed in chunks of the given size
    items = list(read_json_array(io.StringIO(TRICKY_ARRAY), chunk_size=chunk_size))
    # Then every element is decoded whole, on the line where it starts
    assert items == TRICKY_RECORDS


def test_json_array_element_larger_than_many_chunks_is_read_whole() -> None:
    # Given an element holding a 5 MB string with escapes, read in 64 KiB chunks
    big = 'q\\"[{' * 1_000_000
    document = f'[{{"a": 1}}, {{"big": "{big}"}}, {{"a": 2}}]'
    # When the document is read
    items = list(read_json_array(io.StringIO(document), chunk_size=64 * 1024))
    # Then the large element is decoded whole between its neighbours
    assert items == [Record(1, {"a": 1}), Record(1, {"big": 'q"[{' * 1_000_000}), Record(1, {"a": 2})]


@pytest.mark.parametrize("chunk_size", [7, 1024 * 1024])
def test_json_array_matches_the_standard_parser_on_a_compact_document(chunk_size: int) -> None:
    # Given a compact document of many objects with escapes
    objects = [{"id": i, "s": f'v"{i}\\]', "l": [i, {"k": "[{"}]} for i in range(500)]
    document = json.dumps(objects, separators=(",", ":"))
    # When it is streamed
    items = list(read_json_array(io.StringIO(document), chunk_size=chunk_size))
    # Then the records equal what json.loads reads
    assert [item.fields for item in items if isinstance(item, Record)] == objects


@pytest.mark.parametrize(
    ("element", "reason"),
    [
        ("[1, 2]", "expected an object, found array"),
        ('"text"', "expected an object, found string"),
        ("-1.5e3", "expected an object, found number"),
        ("false", "expected an object, found boolean"),
        ("null", "expected an object, found null"),
    ],
)
def test_json_array_element_that_is_not_an_object_is_rejected(element: str, reason: str) -> None:
    # Given an array with a non-object element between two objects
    document = f'[{{"a": 1}},\n {element},\n {{"a": 2}}]'
    # When it is read with small chunks
    items = list(read_json_array(io.StringIO(document), chunk_size=7))
    # Then the element is a Reject on its line and the objects are Records
    assert items == [Record(1, {"a": 1}), Reject(2, reason, element), Record(3, {"a": 2})]


@pytest.mark.parametrize("element", ['{"a": tru}', '{"a": 1,}', "nul", '{"a": "\\x"}', "[1}"])
def test_json_array_element_that_does_not_decode_is_rejected(element: str) -> None:
    # Given an element that is structurally delimited but not valid JSON
    document = f'[{element}, {{"ok": 1}}]'
    # When it is read
    items = list(read_json_array(io.StringIO(document), chunk_size=7))
    # Then it is a Reject and the next element is still read
    assert isinstance(items[0], Reject)
    assert items[0].reason.startswith("invalid JSON: ")
    assert items[0].raw == element
    assert items[1] == Record(1, {"ok": 1})


@pytest.mark.parametrize("document", ["[]", "  [ \n ]  \n", "\n[]"])
def test_json_empty_array_has_no_records(document: str) -> None:
    # Given an empty array with optional whitespace
    # When it is read
    # Then it yields nothing
    assert list(read_json_array(io.StringIO(document), chunk_size=7)) == []


@pytest.mark.parametrize(
    ("document", "line"),
    [
        ('{"a": 1}', 1),
        ("", 1),
        ("  \n\n ", 3),
        ('\n\n"text"', 3),
        ('[{"a": 1},\n{"a": 2}', 2),
        ('[{"a": 1},\n{"a": ', 2),
        ('[{"a": 1},\n{"a": "unterminated', 2),
        ('[{"a": 1},', 1),
        ('[{"a": 1}]\n\nx', 3),
        ('[{"a": 1}] [{"b": 2}]', 1),
        ('[{"a": 1}\n{"a": 2}]', 2),
        ('[{"a": 1} garbage, {"a": 2}]', 1),
        ('[{"a": 1},\n\n, {"a": 2}]', 3),
        ('[{"a": 1},]', 1),
        ("[}]", 1),
    ],
    ids=[
        "object-not-array",
        "empty",
        "only-whitespace",
        "scalar-document",
        "no-closing-bracket",
        "truncated-in-element",
        "truncated-in-string",
        "truncated-after-comma",
        "trailing-garbage",
        "second-array",
        "missing-comma",
        "garbage-between-elements",
        "double-comma",
        "trailing-comma",
        "stray-closing-brace",
    ],
)
def test_json_array_structural_break_is_malformed_input_with_line(document: str, line: int) -> None:
    # Given a document whose array structure is broken
    # When it is read
    # Then reading stops with MalformedInput naming the line of the break
    with pytest.raises(MalformedInput, match=f"at line {line}:"):
        list(read_json_array(io.StringIO(document), chunk_size=7))


def test_json_array_records_before_a_structural_break_are_yielded() -> None:
    # Given an array truncated after two elements
    document = '[{"a": 1}, {"a": 2}, {"a": '
    items: list[Record | Reject] = []
    # When it is read
    with pytest.raises(MalformedInput):
        items.extend(read_json_array(io.StringIO(document), chunk_size=7))
    # Then the complete elements were yielded before the error
    assert items == [Record(1, {"a": 1}), Record(1, {"a": 2})]


def test_json_array_element_nested_100000_levels_is_rejected_not_a_crash() -> None:
    # Given an element nested 100,000 levels deep between two objects
    deep = "[" * 100_000 + "]" * 100_000
    document = f'[{{"a": 1}}, {deep}, {{"a": 2}}]'
    # When the document is read
    items = list(read_json_array(io.StringIO(document)))
    # Then the deep element is a Reject and its neighbours are Records
    assert items[0] == Record(1, {"a": 1})
    assert isinstance(items[1], Reject)
    assert items[1].raw == deep[:RAW_LIMIT]
    assert items[2] == Record(1, {"a": 2})


def test_json_array_unclosed_100000_level_nesting_is_malformed_input() -> None:
    # Given a document that opens 100,000 arrays and never closes them
    # When it is read
    # Then reading stops with MalformedInput
    with pytest.raises(MalformedInput, match="ends inside an element"):
        list(read_json_array(io.StringIO("[" * 100_000)))


class GeneratedText(io.TextIOBase):
    """A large JSON array produced on demand, so the test itself holds no copy of it."""

    def __init__(self, elements: int, padding: int) -> None:
        self._pending = ""
        self._parts = self._generate(elements, padding)
        self.chars_read = 0

    @staticmethod
    def _generate(elements: int, padding: int) -> Iterator[str]:
        yield "["
        for i in range(elements):
            yield ("," if i else "") + json.dumps({"id": i, "pad": "x" * padding})
        yield "]"

    def read(self, size: int | None = -1, /) -> str:
        assert size is not None
        assert size > 0
        while len(self._pending) < size:
            part = next(self._parts, None)
            if part is None:
                break
            self._pending += part
        chunk, self._pending = self._pending[:size], self._pending[size:]
        self.chars_read += len(chunk)
        return chunk


def test_json_array_reads_lazily_as_elements_are_consumed() -> None:
    # Given a 10 MB array streamed in 64 KiB chunks
    source = GeneratedText(elements=10_000, padding=1000)
    items = read_json_array(cast(TextIO, source), chunk_size=64 * 1024)
    # When only the first element is taken
    first = next(items)
    # Then only the first chunk was read
    assert first == Record(1, {"id": 0, "pad": "x" * 1000})
    assert source.chars_read == 64 * 1024


def test_json_array_memory_is_bounded_by_the_chunk_not_the_document() -> None:
    # Given a 20 MB array streamed in 256 KiB chunks
    source = GeneratedText(elements=20_000, padding=1000)
    tracemalloc.start()
    try:
        # When every element is read
        count = sum(
            1 for item in read_json_array(cast(TextIO, source), chunk_size=256 * 1024) if isinstance(item, Record)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then all records were found while the peak allocation stayed a few chunks large
    assert count == 20_000
    assert source.chars_read > 20_000_000
    assert peak < 4 * 1024 * 1024


# --- open_text: decompression and decoding -----------------------------------------------------

JSONL_DATA = b'{"a": 1}\n{"a": 2}\n'
CSV_DATA = b"a,b,c\n1,2,3\n"


@pytest.mark.parametrize(
    ("reader", "data", "expected"),
    [
        (jsonl_items, JSONL_DATA, [Record(1, {"a": 1}), Record(2, {"a": 2})]),
        (abc_csv_items, CSV_DATA, [Record(2, {"a": "1", "b": "2", "c": "3"})]),
        (json_array_items, b'[{"a": 1}]', [Record(1, {"a": 1})]),
    ],
    ids=["jsonl", "csv", "json"],
)
def test_gzip_round_trip_reads_like_the_plain_text(reader: Reader, data: bytes, expected: list[Record]) -> None:
    # Given gzip-compressed content
    compressed = gzip.compress(data)
    # When it is opened as gzip and read
    items = reader(compressed, compression=Compression.GZIP)
    # Then the records are those of the uncompressed content
    assert items == expected


def test_gzip_with_several_members_is_read_whole() -> None:
    # Given two gzip members concatenated (as `cat a.gz b.gz` makes)
    compressed = gzip.compress(b'{"a": 1}\n') + gzip.compress(b'{"a": 2}\n')
    # When it is read
    items = jsonl_items(compressed, compression=Compression.GZIP)
    # Then both members' records are there
    assert items == [Record(1, {"a": 1}), Record(2, {"a": 2})]


def test_open_text_reads_a_botocore_streaming_body() -> None:
    # Given the body of an S3 GetObject response
    compressed = gzip.compress(JSONL_DATA)
    body = StreamingBody(io.BytesIO(compressed), len(compressed))
    # When it is opened and read
    items = converted_jsonl(body, compression=Compression.GZIP, encoding="utf-8")
    # Then the records are read from it
    assert items == [Record(1, {"a": 1}), Record(2, {"a": 2})]


def corrupted(data: bytes) -> bytes:
    compressed = bytearray(gzip.compress(data))
    compressed[len(compressed) // 2] ^= 0xFF
    return bytes(compressed)


@pytest.mark.parametrize(
    "damage",
    [lambda data: gzip.compress(data)[:-12], lambda data: gzip.compress(data)[:15], corrupted, lambda data: data],
    ids=["truncated-trailer", "truncated-early", "flipped-byte", "not-gzip"],
)
@pytest.mark.parametrize(
    ("reader", "data"),
    [
        (jsonl_items, JSONL_DATA * 50),
        (abc_csv_items, CSV_DATA + b"4,5,6\n" * 50),
        (json_array_items, b'[{"a": 1}' + b',{"a": 2}' * 50 + b"]"),
    ],
    ids=["jsonl", "csv", "json"],
)
def test_damaged_gzip_is_malformed_input(reader: Reader, data: bytes, damage: Callable[[bytes], bytes]) -> None:
    # Given gzip content that is truncated, corrupted or not gzip at all
    damaged = damage(data)
    # When it is read
    # Then reading stops with MalformedInput (never a raw EOFError, zlib.error or BadGzipFile)
    with pytest.raises(MalformedInput, match="near line"):
        reader(damaged, compression=Compression.GZIP)


@pytest.mark.parametrize(
    ("reader", "data"),
    [
        (jsonl_items, b'{"a": 1}\n{"a": "\xff"}\n'),
        (abc_csv_items, b"a,b,c\n1,2,\xe9t\xe9\n"),
        (json_array_items, b'[{"a": "\xc3\x28"}]'),
    ],
    ids=["jsonl", "csv", "json"],
)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_invalid_utf8_is_unsupported_encoding(reader: Reader, data: bytes, encoding: str) -> None:
    # Given bytes that are not UTF-8 (Latin-1 text, a stray byte, a broken sequence)
    # When they are read
    # Then reading stops with UnsupportedEncoding (never a raw UnicodeDecodeError)
    with pytest.raises(UnsupportedEncoding, match="near line"):
        reader(data, encoding=encoding)


def test_invalid_utf8_inside_gzip_is_unsupported_encoding() -> None:
    # Given valid gzip holding Latin-1 text
    compressed = gzip.compress("name\nJosé\n".encode("latin-1"))
    # When it is read
    # Then the decoding failure is UnsupportedEncoding
    with pytest.raises(UnsupportedEncoding):
        csv_items(compressed, ["name"], compression=Compression.GZIP)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "UTF8"])
def test_open_text_refuses_other_encodings(encoding: str) -> None:
    # Given an encoding other than utf-8 / utf-8-sig
    # When a stream is opened with it
    # Then it is refused up front
    with pytest.raises(UnsupportedEncoding, match=encoding):
        text_of(b"a\n", encoding=encoding)


# --- unique_column_names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["id", "name"], ["id", "name"]),
        ([" id ", "\tname"], ["id", "name"]),
        (["", "  ", "x"], ["column_1", "column_2", "x"]),
        (["a", "a", "a"], ["a", "a_2", "a_3"]),
        (["a", "a", "a_2"], ["a", "a_3", "a_2"]),
        (["column_2", ""], ["column_2", "column_2_2"]),
        ([], []),
    ],
    ids=["unchanged", "stripped", "empty", "duplicates", "suffix-taken", "generated-name-taken", "no-columns"],
)
def test_unique_column_names(raw: list[str], expected: list[str]) -> None:
    # Given raw header names
    # When they are normalized
    names = unique_column_names(raw)
    # Then they are stripped, never empty and all different
    assert names == expected
    assert len(set(names)) == len(names)
