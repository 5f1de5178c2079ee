"""WriteParquet's logic on local files: the column types it writes, and what it refuses to write inexactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tasks.common.errors import ObjectTooLarge, ParquetConversionFailed
from tasks.common.models import ColumnSummary
from tasks.common.records import LINEAGE_FIELDS, ColumnType
from tasks.write_parquet.logic import DUCKDB_TYPES, WriteParquetSettings, convert, csv_schema

SETTINGS = WriteParquetSettings(duckdb_memory_mb=256, duckdb_threads=1)


def lineage(line: int) -> dict[str, Any]:
    return {"_source_key": "incoming/x", "_source_version": "v1", "_line": line}


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def converted(tmp_path: Path, records: list[dict[str, Any]], schema: dict[str, str] | None) -> duckdb.DuckDBPyRelation:
    parquet = tmp_path / "out.parquet"
    rows = convert(
        write_jsonl(tmp_path / "in.jsonl", records), parquet, schema=schema, settings=SETTINGS, spill_dir=tmp_path
    )
    assert rows == len(records)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con.read_parquet(str(parquet))


@pytest.mark.parametrize(
    ("inferred", "expected"),
    [
        ("string", "VARCHAR"),
        ("integer", "BIGINT"),
        ("float", "DOUBLE"),
        ("boolean", "BOOLEAN"),
        ("date", "DATE"),
        ("timestamp", "TIMESTAMPTZ"),
    ],
)
def test_each_inferred_type_maps_to_its_parquet_type_and_to_text_when_values_did_not_fit(
    inferred: str, expected: str
) -> None:
    # Given a CSV column of each inferred type, with and without values that did not fit
    fitting = ColumnSummary(name="c", type=inferred, non_conforming=0)
    unfitting = ColumnSummary(name="c", type=inferred, non_conforming=1)

    # Then the fitting column gets its type; the other stays text, as its odd values were kept as strings
    assert csv_schema([fitting])["c"] == expected
    assert csv_schema([unfitting])["c"] == "VARCHAR"


def test_every_type_the_transform_infers_has_a_parquet_type_and_lineage_comes_last() -> None:
    assert set(DUCKDB_TYPES) == set(ColumnType)
    schema = csv_schema([ColumnSummary(name="b", type="integer", non_conforming=0)])
    assert list(schema) == ["b", *LINEAGE_FIELDS]
    assert [schema[field] for field in LINEAGE_FIELDS] == ["VARCHAR", "VARCHAR", "BIGINT"]


def test_a_type_with_no_parquet_type_is_refused() -> None:
    with pytest.raises(ParquetConversionFailed, match="'decimal'"):
        csv_schema([ColumnSummary(name="c", type="decimal", non_conforming=0)])


def test_timestamps_keep_their_instant_whatever_offset_form_they_carry(tmp_path: Path) -> None:
    # Given timestamps in every form the transform accepts: no offset, Z, ±HH:MM, ±HHMM, ±HH, nanoseconds
    values = [
        "2024-01-02 03:04",
        "2024-01-02T03:04:05Z",
        "2024-01-02T03:04:05+02:00",
        "2024-01-02T03:04:05.123456789-0530",
        "2024-01-02 03:04+02",
    ]
    records = [{"t": value, **lineage(line)} for line, value in enumerate(values, start=2)]
    schema = csv_schema([ColumnSummary(name="t", type="timestamp", non_conforming=0)])

    # When they are written as Parquet
    table = converted(tmp_path, records, schema)

    # Then each is the instant it names (a value with no offset is taken as UTC), none fails
    assert [str(row[0]) for row in table.order("_line").select("t").fetchall()] == [
        "2024-01-02 03:04:00+00:00",
        "2024-01-02 03:04:05+00:00",
        "2024-01-02 01:04:05+00:00",
        "2024-01-02 08:34:05.123456+00:00",
        "2024-01-02 01:04:00+00:00",
    ]


def test_a_value_that_does_not_fit_a_declared_type_fails_clearly_instead_of_becoming_null(tmp_path: Path) -> None:
    records = [{"n": 1, **lineage(2)}, {"n": "abc", **lineage(3)}]
    schema = csv_schema([ColumnSummary(name="n", type="integer", non_conforming=0)])
    with pytest.raises(ParquetConversionFailed, match="DuckDB could not write"):
        converted(tmp_path, records, schema)


def test_json_records_of_any_shape_are_written_whole_with_inferred_types(tmp_path: Path) -> None:
    # Given records with other keys, nested objects and lists, a key seen only in the last record
    records = [
        {"id": 1, "name": "Ann", **lineage(1)},
        {"id": "two", "address": {"city": "Oslo"}, "tags": ["a"], **lineage(2)},
        {"address": "unknown", "score": 2.5, **lineage(3)},
        {"late": True, "id": 4, **lineage(4)},
    ]

    # When they are written with inferred types
    table = converted(tmp_path, records, None)

    # Then every key is a column and every record a row
    assert set(table.columns) == {"id", "name", "address", "tags", "score", "late", *LINEAGE_FIELDS}
    assert table.order("_line").select("late, score").fetchall() == [
        (None, None),
        (None, None),
        (None, 2.5),
        (True, None),
    ]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"id": 123456789012345678901234567890}, "123456789012345678901234567890"),
        ({"id": -9223372036854775809}, "-9223372036854775809"),
        ({"list": [1, 18446744073709551615]}, "18446744073709551615"),
        ({"Name": "a", "name": "b"}, "Name, name"),
        ({"nested": {"Key": 1, "key": 2}}, "DuckDB could not write"),
    ],
)
def test_json_that_parquet_cannot_hold_exactly_fails_naming_why(
    tmp_path: Path, record: dict[str, Any], message: str
) -> None:
    records = [{"id": 1, **lineage(1)}, {**record, **lineage(2)}]
    with pytest.raises(ParquetConversionFailed, match=message):
        converted(tmp_path, records, None)


def test_long_floats_and_long_digit_strings_are_not_taken_for_out_of_range_integers(tmp_path: Path) -> None:
    # Given 19+ digit numbers with a fraction or an exponent, and strings of digits
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"x": 12345678901234567890.5, "code": "1234567890123456789012345", "_line": 1}\n'
        '{"x": 1234567890123456789012e-3, "code": "x:1", "_line": 2}\n'
    )

    # When they are written with inferred types, then nothing is refused
    parquet = tmp_path / "out.parquet"
    assert convert(source, parquet, schema=None, settings=SETTINGS, spill_dir=tmp_path) == 2
    codes = duckdb.connect().read_parquet(str(parquet)).order("_line").select("code").fetchall()
    assert codes == [("1234567890123456789012345",), ("x:1",)]


@pytest.mark.parametrize(
    ("typed", "seconds"),
    [
        (False, 0.1),
        (True, 0.1),
        # Passed before the first statement: DuckDB drops an interrupt while no statement runs, so
        # the deadline keeps interrupting until the conversion stops
        (True, 0.0),
    ],
)
def test_a_conversion_past_its_time_is_interrupted_and_the_records_refused_as_too_large(
    tmp_path: Path, typed: bool, seconds: float
) -> None:
    # Given staged records that take DuckDB far longer to convert than the time left (about half a
    # second to a second and a half for the conversion; a tenth of a second left, or none)
    records = tmp_path / "in.jsonl"
    line = json.dumps({"id": 1, "name": "x" * 40, "value": 0.5, **lineage(1)}) + "\n"
    records.write_text(line * 400_000)
    schema = {"id": "BIGINT", "name": "VARCHAR", "value": "DOUBLE", **dict.fromkeys(LINEAGE_FIELDS, "VARCHAR")}

    # Then DuckDB is interrupted, and the records are refused as too large for the function's time,
    # not failed as a fault a redrive would repeat
    with pytest.raises(ObjectTooLarge, match="could not be converted to Parquet within the function's timeout"):
        convert(
            records,
            tmp_path / "out.parquet",
            schema=schema if typed else None,
            settings=SETTINGS,
            spill_dir=tmp_path,
            seconds=seconds,
        )
