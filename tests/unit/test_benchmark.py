"""The benchmark's generator and harness on a small dataset (no timing is asserted)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks.data import COLUMNS, Dataset, generate
from benchmarks.imports import parse_importtime
from benchmarks.transform import run_child, source_of

SIZE_MB = 1


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return generate(SIZE_MB, tmp_path_factory.mktemp("bench"))


def csv_value(text: str, like: object) -> object:
    """A CSV field read as the type of the same field in JSON: CSV has only text."""
    if like is None:
        return None if text == "" else text
    if isinstance(like, bool):
        return {"true": True, "false": False}.get(text, text)
    if isinstance(like, int):
        return int(text)
    if isinstance(like, float):
        return float(text)
    return text


def test_generator_writes_the_same_bytes_every_time(dataset: Dataset, tmp_path: Path) -> None:
    # Given the dataset generated once, When it is generated again elsewhere
    again = generate(SIZE_MB, tmp_path)

    # Then every file has the same bytes, and the CSV has the requested size
    assert again.records == dataset.records
    for first, second in [(dataset.csv, again.csv), (dataset.jsonl, again.jsonl), (dataset.json, again.json)]:
        assert first.read_bytes() == second.read_bytes()
    assert SIZE_MB * 1_000_000 <= dataset.csv.stat().st_size < SIZE_MB * 1_000_000 + 1_000


def test_the_three_formats_hold_the_same_records(dataset: Dataset) -> None:
    # Given the three files, When each is parsed
    with dataset.csv.open(newline="", encoding="utf-8") as stream:
        csv_rows = list(csv.DictReader(stream))
    jsonl_records = [json.loads(line) for line in dataset.jsonl.read_text(encoding="utf-8").splitlines()]
    json_records = json.loads(dataset.json.read_text(encoding="utf-8"))

    # Then they hold the same records, with the columns and the awkward values the benchmark promises
    assert len(csv_rows) == len(jsonl_records) == len(json_records) == dataset.records
    assert json_records == jsonl_records
    for row, record in zip(csv_rows, jsonl_records, strict=True):
        assert list(record) == list(COLUMNS)
        assert {column: csv_value(row[column], record[column]) for column in COLUMNS} == record
    assert [record["id"] for record in jsonl_records] == list(range(1, dataset.records + 1))
    assert all(isinstance(record["code"], str) and len(record["code"]) == 5 for record in jsonl_records)
    assert any(record["code"].startswith("0") for record in jsonl_records)
    assert any(record["coupon"] is None for record in jsonl_records)
    assert any(record["note"] == "" for record in jsonl_records)
    assert any('"' in record["note"] and "," in record["note"] for record in jsonl_records)
    assert all("," in record["city"] for record in jsonl_records)


@pytest.mark.parametrize("path", ["csv", "jsonl", "json", "duckdb-csv", "duckdb-jsonl"])
def test_child_reports_every_record_and_a_speed(dataset: Dataset, path: str) -> None:
    # Given a generated file, When the harness's child converts it on one core
    result = run_child(path, source_of(dataset, path), cores=1)

    # Then it reports every record, as many output lines, and a positive speed
    assert result.records == result.output_lines == dataset.records
    assert result.rejected == 0
    assert result.seconds > 0
    assert result.peak_rss_kb > 0


def test_importtime_parse_takes_the_module_subtree() -> None:
    # Given -X importtime output where the module imports two packages, after an unrelated one
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       500 |        500 | site",
            "import time:       300 |        300 |     botocore.utils",
            "import time:      1000 |       1300 |   botocore",
            "import time:       200 |        200 |   tasks.common",
            "import time:        50 |       1550 | tasks.notify.handler",
        ]
    )

    # When it is parsed
    result = parse_importtime("tasks.notify.handler", stderr)

    # Then the module's cumulative time is reported, and self times summed by top-level package
    assert result.cumulative_us == 1550
    assert result.contributors == [("botocore", 1300), ("tasks", 250)]
