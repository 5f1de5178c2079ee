"""The CSV converter: value kinds, type inference, nulls, lineage, and streaming across buffers."""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.common.models import CsvDialect
from tasks.common.records import ColumnType, normalize_name, unique_column_names
from tasks.transform import _csvjson, csv_converter
from tasks.transform.output import Record
from tests.unit.converters import LINEAGE, converted_csv

PROPERTY = settings(max_examples=300, deadline=None)


def dialect(header: list[str], delimiter: str = ",") -> CsvDialect:
    return CsvDialect(delimiter=delimiter, quotechar='"', doublequote=True, header=header)


def kind_of(value: str) -> str:
    """The converter's kind letter for one value, asked through a one-column file."""
    text = "v\n" + ('"' + value.replace('"', '""') + '"' if value else '""') + "\n"
    (kinds,) = _csvjson.survey(text.encode(), True, ",", 1, (), 10)
    return kinds


# --- the kinds of values, against a reference written with the standard library ---------------

_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]{0,17})", re.ASCII)
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_TIMESTAMP = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,9})?)?"
    r"(?:Z|[-+]([0-9]{2})(?::?([0-9]{2}))?)?",
    re.ASCII,
)


def is_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        return datetime.date.fromisoformat(text).year >= 1
    except ValueError:
        return False


def reference_kind(value: str) -> str:
    if value == "":
        return "n"
    if _INTEGER.fullmatch(value):
        return "i"
    if _FLOAT.fullmatch(value) and any(mark in value for mark in ".eE"):
        return "f"
    if value.lower() in ("true", "false"):
        return "b"
    if is_date(value):
        return "d"
    match = _TIMESTAMP.fullmatch(value)
    if match and is_date(match[1]):
        hour, minute, second, zone_hour, zone_minute = (int(part) if part else 0 for part in match.groups()[1:])
        if hour < 24 and minute < 60 and second < 60 and zone_hour < 24 and zone_minute < 60:
            return "t"
    return "s"


near_values = st.one_of(
    st.from_regex(r"-?[0-9]{1,20}(\.[0-9]{0,3})?([eE][-+]?[0-9]{0,3})?", fullmatch=True),
    st.from_regex(r"[0-9]{4}-[0-1][0-9]-[0-3][0-9]", fullmatch=True),
    st.from_regex(
        r"[12][0-9]{3}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-6][0-9]"
        r"(:[0-6][0-9](\.[0-9]{0,10})?)?(Z|[-+][0-2][0-9](:?[0-6][0-9])?)?",
        fullmatch=True,
    ),
    st.sampled_from(["true", "FALSE", "True", "yes", "0", "00", "-0", "1.", ".5", "1e5", "NaN", "inf", "2024-02-29"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
)


@PROPERTY
@given(value=near_values)
def test_the_converter_classifies_a_value_as_the_reference_does(value: str) -> None:
    assert kind_of(value) == reference_kind(value)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("42", "i"),
        ("-0", "i"),
        ("007", "s"),  # a code with leading zeros stays text
        ("1234567890123456789", "s"),  # beyond 18 digits an id is not a number
        ("3.14", "f"),
        ("6.02e23", "f"),
        (".5", "s"),
        ("NaN", "s"),
        ("TRUE", "b"),
        ("2024-02-29", "d"),
        ("2023-02-29", "s"),
        ("2024-01-31T23:59:59.123456+02:00", "t"),
        ("2024-01-31 23:59", "t"),
        ("2024-01-31T24:00", "s"),
        ("", "n"),
    ],
)
def test_value_kinds(value: str, kind: str) -> None:
    assert kind_of(value) == kind


# --- column types and typed output ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ("i", ColumnType.INTEGER),
        ("in", ColumnType.INTEGER),
        ("if", ColumnType.FLOAT),
        ("b", ColumnType.BOOLEAN),
        ("dn", ColumnType.DATE),
        ("t", ColumnType.TIMESTAMP),
        ("dt", ColumnType.STRING),
        ("is", ColumnType.STRING),
        ("n", ColumnType.STRING),
        ("", ColumnType.STRING),
    ],
)
def test_column_type_is_the_narrowest_that_fits_every_value(kinds: str, expected: ColumnType) -> None:
    assert csv_converter.column_type(kinds) == expected


TYPED_CSV = (
    "id,amount,active,day,at,code,note,score\n"
    "1,9.5,true,2024-01-02,2024-01-02T03:04:05Z,00042,hello,\n"
    "2,10,FALSE,2024-02-29,2024-02-29 10:00,00043,NULL,7\n"
)


def typed(text: str, null_markers: frozenset[str] = frozenset({"NULL"})) -> tuple[list[dict[str, Any]], Any]:
    records, rejects = io.BytesIO(), io.BytesIO()
    header = next(csv.reader(io.StringIO(text)))
    result = csv_converter.convert_csv(
        io.BytesIO(text.encode()),
        dialect(unique_column_names(header)),
        encoding="utf-8",
        lineage=LINEAGE,
        null_markers=null_markers,
        data=records,
        rejects=rejects,
    )
    return [json.loads(line) for line in records.getvalue().splitlines()], result


def test_values_are_written_with_the_types_inferred_for_their_columns() -> None:
    # Given a CSV with a column of each type, a null marker and an empty value
    # When it is converted
    records, result = typed(TYPED_CSV)
    # Then numbers, booleans and nulls are JSON values; dates, timestamps and codes stay text
    assert {key: records[1][key] for key in records[1] if not key.startswith("_")} == {
        "id": 2,
        "amount": 10,
        "active": False,
        "day": "2024-02-29",
        "at": "2024-02-29 10:00",
        "code": "00043",
        "note": None,
        "score": 7,
    }
    assert (records[0]["amount"], records[0]["score"], records[0]["active"]) == (9.5, None, True)
    # And each column's type is reported, nothing out of type
    assert [(column.name, column.type, column.non_conforming) for column in result.columns] == [
        ("id", "integer", 0),
        ("amount", "float", 0),
        ("active", "boolean", 0),
        ("day", "date", 0),
        ("at", "timestamp", 0),
        ("code", "string", 0),
        ("note", "string", 0),
        ("score", "integer", 0),
    ]


def test_every_record_carries_its_lineage() -> None:
    records, _ = typed(TYPED_CSV)
    assert [(r["_source_key"], r["_source_version"], r["_line"]) for r in records] == [
        (LINEAGE.source_key, LINEAGE.source_version, 2),
        (LINEAGE.source_key, LINEAGE.source_version, 3),
    ]


def test_a_late_value_out_of_its_column_type_is_kept_as_text_and_counted() -> None:
    # Given an integer column whose value past the inference window is not an integer
    rows = "".join(f"{n}\n" for n in range(200))
    text = "n\n" + rows + "n/a?\n"
    with mock.patch.object(csv_converter, "INFER_ROWS", 100):
        records, result = typed(text)
    # Then no record is lost or rejected: the odd value is a string, and the manifest counts it
    assert len(records) == 201
    assert records[-1]["n"] == "n/a?"
    assert records[0]["n"] == 0
    assert (result.columns[0].type, result.columns[0].non_conforming) == ("integer", 1)


def test_null_markers_are_configurable() -> None:
    records, _ = typed("a,b\nNA,x\n1,NA\n", null_markers=frozenset({"NA"}))
    assert [(r["a"], r["b"]) for r in records] == [(None, "x"), (1, None)]
    records, _ = typed("a,b\nNA,x\n1,NA\n", null_markers=frozenset())
    assert [(r["a"], r["b"]) for r in records] == [("NA", "x"), ("1", "NA")]


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Order ID ", "order_id"),
        ("Price ($)", "price"),
        ("Größe", "größe"),
        ("_line", "line"),
        ("a--b__c", "a_b_c"),
        ("\uff21\uff22\uff23", "abc"),  # full-width letters, folded by NFKC
        ("!!!", ""),
    ],
)
def test_names_are_normalized(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


def test_normalized_names_stay_unique_and_never_take_a_lineage_name() -> None:
    assert unique_column_names(["Order ID", "order id", "", "!!!", "order_id_2"]) == [
        "order_id",
        "order_id_3",
        "column_3",
        "column_4",
        "order_id_2",
    ]


# --- streaming: any buffer size gives the same output -----------------------------------------

cells = st.text(st.sampled_from('ab1,"\n\r é'), max_size=6)


@PROPERTY
@given(
    rows=st.lists(st.lists(cells, min_size=3, max_size=3), min_size=1, max_size=20),
    chunk=st.integers(min_value=1, max_value=64),
    extra=st.sampled_from(["", "x,y\n", '"open\n', "\n\n", "1,2,3,4\n"]),
)
def test_the_output_does_not_depend_on_where_the_buffers_are_cut(rows: list[list[str]], chunk: int, extra: str) -> None:
    # Given a CSV (with a damaged or extra line among the rows) read in buffers of a few bytes
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["a", "b", "c"], *rows])
    data = (buffer.getvalue() + extra).encode()
    whole = converted_csv(data, dialect(["a", "b", "c"]), infer_types=True)
    with mock.patch.object(csv_converter, "CHUNK_BYTES", chunk):
        pieces = converted_csv(data, dialect(["a", "b", "c"]), infer_types=True)
    # Then the records and rejects are exactly those of reading it at once
    assert pieces == whole
    assert sum(isinstance(item, Record) for item in whole) >= len(rows) - rows.count(["", "", ""])
