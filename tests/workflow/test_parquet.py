"""Parquet output on the local engine: chosen per request (API, CLI) or per dataset; JSON Lines by default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tasks.common import datasets
from tasks.common.layout import INCOMING_PREFIX, PROCESSED_PREFIX, UPLOADS_PREFIX
from tasks.transform.csv_converter import INFER_ROWS
from tests.scenarios import CSV_TO_JSONL_STATES, local_api
from workflow.cli.main import EXIT_SUCCEEDED, main
from workflow.executions import FAILED
from workflow.local.environment import Execution, LocalPipeline

PARQUET_PATH = [
    "Validate",
    "RecordStart",
    "HasDataset",
    "Fetch",
    "RouteByFormat",
    "TransformCsv",
    "RouteByOutputFormat",
    "WriteParquet",
]

# One column per inferred type; `qty` holds integers for the rows types are inferred from, then a
# word: its values do not all fit, so it must stay text.
TYPED_HEADER = "code,amount,price,paid,day,seen_at,note,qty"
TYPED_ROWS = [
    "00042,3,1.5,true,2024-01-02,2024-01-02 03:04,first,1",
    "00043,-7,2,false,2024-02-29,2024-01-02T03:04:05Z,,2",
    "00044,12,0.25,TRUE,2023-12-31,2024-01-02T03:04:05+02:00,last,3",
]
FILLER_ROWS = [f"1{n:05d},{n},{n}.5,false,2024-01-01,2024-01-01 00:00,filler,{n}" for n in range(INFER_ROWS)]
LAST_ROW = "99999,0,0.5,false,2024-01-01,2024-01-01 00:00,last,lots"
TYPED_CSV = ("\r\n".join([TYPED_HEADER, *TYPED_ROWS, *FILLER_ROWS, LAST_ROW]) + "\r\n").encode()
TYPED_COLUMNS = {
    "code": "VARCHAR",
    "amount": "BIGINT",
    "price": "DOUBLE",
    "paid": "BOOLEAN",
    "day": "DATE",
    "seen_at": "TIMESTAMP WITH TIME ZONE",
    "note": "VARCHAR",
    "qty": "VARCHAR",
    "_source_key": "VARCHAR",
    "_source_version": "VARCHAR",
    "_line": "BIGINT",
}

# Records that share no shape: other keys, nested objects and lists, a key whose type changes.
HETEROGENEOUS = [
    {"id": 1, "name": "Ann"},
    {"id": "two", "tags": ["a", "b"], "address": {"city": "Oslo", "zip": "0150"}},
    {"address": "unknown", "score": 2.5, "extra": None},
    {"nested": {"deep": {"values": [1, 2, {"x": True}]}}},
    {},
]


def start_through_api(pipeline: LocalPipeline, key: str, body: bytes, request: dict[str, Any]) -> Execution:
    pipeline.upload(key, body)
    answer = local_api(pipeline).start(json.dumps({"key": key, **request}).encode(), None)
    assert answer.status == 202, answer.body
    return pipeline.wait(answer.body["executionArn"], timeout=60)


def run_upload(pipeline: LocalPipeline, key: str, body: bytes, metadata: dict[str, str] | None = None) -> Execution:
    pipeline.upload(key, body, metadata=metadata)
    assert len(pipeline.started) == 1, "the upload must start exactly one execution"
    return pipeline.wait(pipeline.started[0], timeout=60)


def committed_files(pipeline: LocalPipeline, execution: Execution) -> set[str]:
    assert execution.output is not None
    folder = execution.output["output"]["key"].rsplit("/", 1)[0] + "/"
    return {key.removeprefix(folder) for key in pipeline.object_keys(folder)}


def read_parquet(data: bytes, tmp_path: Path) -> duckdb.DuckDBPyRelation:
    path = tmp_path / "read-back.parquet"
    path.write_bytes(data)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con.read_parquet(str(path))


def manifest_of(pipeline: LocalPipeline, execution: Execution) -> dict[str, Any]:
    assert execution.output is not None
    manifest: dict[str, Any] = json.loads(pipeline.read_object(execution.output["output"]["manifestKey"]))
    return manifest


@pytest.fixture
def parquet_dataset(pipeline: LocalPipeline, tmp_path: Path) -> str:
    """A dataset folder whose settings file asks for Parquet, in a settings folder of its own,
    deployed with the functions (their sandboxes read it)."""
    folder = tmp_path / "datasets"
    folder.mkdir()
    (folder / "sales.json").write_text(json.dumps({"outputFormat": "parquet"}))
    pipeline.lambdas.override(datasets.__name__, "DATASETS_DIR", folder)
    return "sales"


def test_a_csv_asked_as_parquet_through_the_api_commits_typed_parquet_only(
    pipeline: LocalPipeline, tmp_path: Path
) -> None:
    # Given a CSV file with a column of each type, started through the API with outputFormat parquet
    execution = start_through_api(pipeline, UPLOADS_PREFIX + "typed.csv", TYPED_CSV, {"outputFormat": "parquet"})

    # Then the run succeeds through WriteParquet and commits data.parquet, not data.jsonl
    assert execution.status == "SUCCEEDED", execution.cause
    states = [state.name for state in pipeline.visits(execution.arn)]
    assert states == [*PARQUET_PATH, "WriteOutput", "RecordSucceeded", "Notify"]
    assert committed_files(pipeline, execution) == {"data.parquet", "rejects.jsonl", "manifest.json", "notified.json"}
    assert execution.output is not None
    key = execution.output["output"]["key"]
    assert key.endswith("/data.parquet")
    head = pipeline.client("s3").head_object(Bucket=pipeline.stack.bucket_name, Key=key)
    assert head["ContentType"] == "application/vnd.apache.parquet"

    # And the file holds every record the manifest counts, each column typed as the transform inferred
    manifest = manifest_of(pipeline, execution)
    assert manifest["outputFormat"] == "parquet"
    table = read_parquet(pipeline.read_object(key), tmp_path)
    assert dict(zip(table.columns, map(str, table.types), strict=True)) == TYPED_COLUMNS
    (rows,) = table.aggregate("count(*)").fetchall()
    assert rows == (manifest["counts"]["records"],) == (len(TYPED_ROWS) + INFER_ROWS + 1,)

    # And the values are the source's: codes keep their zeros, offsets are applied, lineage is there
    first = table.filter("_line <= 4").order("_line").select("code, amount, price, paid, day, seen_at, note, _line")
    assert [tuple(map(str, row)) for row in first.fetchall()] == [
        ("00042", "3", "1.5", "True", "2024-01-02", "2024-01-02 03:04:00+00:00", "first", "2"),
        ("00043", "-7", "2.0", "False", "2024-02-29", "2024-01-02 03:04:05+00:00", "None", "3"),
        ("00044", "12", "0.25", "True", "2023-12-31", "2024-01-02 01:04:05+00:00", "last", "4"),
    ]
    assert table.filter("qty = 'lots'").select("_source_key").fetchall() == [(UPLOADS_PREFIX + "typed.csv",)]


def test_cli_run_with_output_format_parquet_commits_heterogeneous_json_lines_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given JSON Lines whose records differ in keys, nesting and value types
    source = tmp_path / "events.jsonl"
    source.write_text("".join(json.dumps(record) + "\n" for record in HETEROGENEOUS))
    out = tmp_path / "out"

    # When `pipeline run --output-format parquet` runs it
    code = main(["run", str(source), "--output-format", "parquet", "--json", "--out", str(out)])

    # Then it succeeds through WriteParquet, and the copied Parquet file holds every record
    assert code == EXIT_SUCCEEDED
    report = json.loads(capsys.readouterr().out)
    assert "WriteParquet" in [state["name"] for state in report["states"]]
    assert sorted(path.name for path in out.iterdir()) == ["data.parquet", "manifest.json", "rejects.jsonl"]
    table = duckdb.connect().read_parquet(str(out / "data.parquet"))
    assert {"id", "name", "tags", "address", "score", "extra", "nested", "_source_key", "_line"} <= set(table.columns)
    lines = table.order("_line").select("_line, name, score, tags").fetchall()
    assert lines == [
        (1, "Ann", None, None),
        (2, None, None, ["a", "b"]),
        (3, None, 2.5, None),
        (4, None, None, None),
        (5, None, None, None),
    ]


def test_a_dataset_folder_set_to_parquet_commits_parquet_without_being_asked(
    pipeline: LocalPipeline, parquet_dataset: str, tmp_path: Path
) -> None:
    # Given a dataset whose settings file says outputFormat parquet
    # When a file is dropped in its folder, with no format asked for
    execution = run_upload(pipeline, f"{INCOMING_PREFIX}{parquet_dataset}/day1.csv", b"id,total\n1,2.5\n2,3\n")

    # Then its output is Parquet, and the manifest names the dataset and the format
    assert execution.status == "SUCCEEDED", execution.cause
    assert "data.parquet" in committed_files(pipeline, execution)
    assert "data.jsonl" not in committed_files(pipeline, execution)
    manifest = manifest_of(pipeline, execution)
    assert (manifest["dataset"], manifest["outputFormat"]) == (parquet_dataset, "parquet")
    assert execution.output is not None
    table = read_parquet(pipeline.read_object(execution.output["output"]["key"]), tmp_path)
    assert table.select("id, total").order("id").fetchall() == [(1, 2.5), (2, 3.0)]


def test_a_request_for_json_lines_overrides_a_parquet_dataset(pipeline: LocalPipeline, parquet_dataset: str) -> None:
    # Given a Parquet dataset, and a request through the API that asks for JSON Lines
    key = f"{UPLOADS_PREFIX}{parquet_dataset}/day2.csv"
    execution = start_through_api(pipeline, key, b"id\n1\n", {"outputFormat": "jsonl"})

    # Then the request wins: JSON Lines, no conversion
    assert execution.status == "SUCCEEDED", execution.cause
    assert "WriteParquet" not in [state.name for state in pipeline.visits(execution.arn)]
    assert {"data.jsonl", "manifest.json"} <= committed_files(pipeline, execution)
    assert manifest_of(pipeline, execution)["outputFormat"] == "jsonl"


def test_json_lines_stay_the_default_output(pipeline: LocalPipeline) -> None:
    # Given a file uploaded with no format asked for, outside any dataset
    execution = run_upload(pipeline, INCOMING_PREFIX + "plain.csv", b"id\n1\n")

    # Then the run commits JSON Lines and never enters WriteParquet
    assert execution.status == "SUCCEEDED", execution.cause
    states = [state.name for state in pipeline.visits(execution.arn)]
    assert states == CSV_TO_JSONL_STATES
    files = committed_files(pipeline, execution)
    assert "data.jsonl" in files
    assert "data.parquet" not in files


def test_an_integer_parquet_cannot_hold_exactly_fails_the_run_at_write_parquet_with_nothing_committed(
    pipeline: LocalPipeline,
) -> None:
    # Given JSON Lines holding an integer beyond 64 bits, asked as Parquet through the object's metadata
    body = b'{"id": 1}\n{"id": 123456789012345678901234567890}\n'
    execution = run_upload(pipeline, INCOMING_PREFIX + "huge.jsonl", body, {"output-format": "parquet"})

    # Then the run fails at WriteParquet, a system error naming the value (redrivable, not rounded)
    assert execution.status == "FAILED"
    assert execution.error == "ParquetConversionFailed"
    assert "123456789012345678901234567890" in (execution.cause or "")
    last = pipeline.visits(execution.arn)[-1]
    assert (last.name, last.status) == ("WriteParquet", FAILED)
    assert pipeline.object_keys(PROCESSED_PREFIX) == []
