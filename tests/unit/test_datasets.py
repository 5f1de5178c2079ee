"""Dataset settings and schema contracts: which files they apply to and what they reject."""

from __future__ import annotations

import io
import json
from pathlib import Path

import msgspec
import pytest

from tasks.common.datasets import DATASETS_DIR, DatasetSettings, dataset_of
from tasks.common.errors import TooManyRejects
from tasks.common.models import Compression, CsvDialect, Format, ObjectProfile, OutputFormat
from tasks.transform.contract import ContractGate, check_schema
from tasks.transform.logic import TransformSettings, transform_stream
from tasks.transform.output import Lineage

LINEAGE = Lineage("incoming/orders/a.csv", "v1")


@pytest.mark.parametrize(
    ("key", "dataset"),
    [
        ("incoming/orders/2026-11.csv", "orders"),
        ("incoming/orders/deep/er/file.csv", "orders"),
        ("uploads/orders/file.csv", "orders"),
        ("incoming/file.csv", None),
        ("incoming/.hidden/file.csv", None),
        ("processed/orders/file.csv", None),
    ],
)
def test_the_dataset_is_the_first_folder_under_the_source_prefix(key: str, dataset: str | None) -> None:
    assert dataset_of(key) == dataset


@pytest.mark.parametrize("path", sorted(DATASETS_DIR.glob("*.json")), ids=lambda path: path.stem)
def test_every_shipped_dataset_file_is_valid(path: Path) -> None:
    # A broken file would fail every run of its dataset in production: it fails here instead.
    settings = msgspec.json.decode(path.read_bytes(), type=DatasetSettings)
    if settings.schema is not None:
        check_schema(settings.schema)


def test_dataset_settings_refuse_unknown_fields_and_bad_ratios() -> None:
    with pytest.raises(msgspec.ValidationError, match="maxRejectRatio"):
        msgspec.json.decode(b'{"maxRejectRatio": 2}', type=DatasetSettings)
    with pytest.raises(msgspec.ValidationError, match="nullMarker"):
        msgspec.json.decode(b'{"nullMarker": ["NA"]}', type=DatasetSettings)


SCHEMA = {
    "type": "object",
    "required": ["id", "amount"],
    "properties": {"id": {"type": "integer"}, "amount": {"type": "number", "minimum": 0}},
    "additionalProperties": False,
}


def line(record: dict[str, object], number: int) -> bytes:
    lineage = {"_source_key": "k", "_source_version": "v", "_line": number}
    return json.dumps(record | lineage).encode() + b"\n"


def test_the_gate_passes_records_that_keep_the_contract_and_rejects_the_others() -> None:
    # Given a contract with a required field, a minimum and no other fields (lineage aside)
    data, rejects = io.BytesIO(), io.BytesIO()
    gate = ContractGate(SCHEMA, data=data, rejects=rejects)
    good = line({"id": 1, "amount": 2.5}, 2)
    # When records keeping it and breaking it in three ways go through
    gate.write(good + line({"id": 2, "amount": -1}, 3) + line({"id": 3}, 4) + line({"id": "x", "amount": 1}, 5))
    # Then only the good one reaches the data, and each reject names its line, field and rule
    assert data.getvalue() == good
    found = [json.loads(text) for text in rejects.getvalue().splitlines()]
    assert [(reject["line"], reject["reason"]) for reject in found] == [
        (3, "contract: field 'amount': -1 is less than the minimum of 0 (rule minimum)"),
        (4, "contract: record: 'amount' is a required property (rule required)"),
        (5, "contract: field 'id': 'x' is not of type 'integer' (rule type)"),
    ]
    assert json.loads(found[0]["raw"])["amount"] == -1
    assert gate.rejected == 3


def run_csv(text: str, dataset: DatasetSettings) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    data, rejects = io.BytesIO(), io.BytesIO()
    header = text.split("\n", 1)[0].split(",")
    dialect = CsvDialect(delimiter=",", quotechar='"', doublequote=True, header=header)
    result = transform_stream(
        io.BytesIO(text.encode()),
        fmt=Format.CSV,
        compression=Compression.NONE,
        profile=ObjectProfile(version_id="v1", etag="e", encoding="utf-8", csv=dialect),
        lineage=LINEAGE,
        data=data,
        rejects=rejects,
        settings=TransformSettings(),
        dataset=dataset,
    )
    records = [json.loads(text) for text in data.getvalue().splitlines()]
    refused = [json.loads(text) for text in rejects.getvalue().splitlines()]
    assert (result.records, result.rejected) == (len(records), len(refused))
    return records, refused


def test_a_contract_applies_to_the_typed_csv_records_and_every_input_is_accounted_for() -> None:
    # Given a CSV of which one row breaks the contract and one cannot be read
    text = "id,amount\n1,2.5\n2,-3\n3,4,5\n4,0\n"
    # When it is transformed under a dataset with that contract and a tolerant reject ratio
    records, refused = run_csv(text, DatasetSettings(schema=SCHEMA, max_reject_ratio=0.5))
    # Then the typed records that keep the contract are output, the others are rejects
    assert [record["id"] for record in records] == [1, 4]
    assert sorted(reject["line"] for reject in refused) == [3, 4]
    assert len(records) + len(refused) == 4


def test_the_dataset_reject_ratio_replaces_the_default() -> None:
    text = "id,amount\n1,2.5\n2,-3\n"
    with pytest.raises(TooManyRejects):
        run_csv(text, DatasetSettings(schema=SCHEMA))  # the default 0.1: one reject in two is too many
    records, _ = run_csv(text, DatasetSettings(schema=SCHEMA, max_reject_ratio=0.5))
    assert len(records) == 1


def test_the_dataset_null_markers_replace_the_default() -> None:
    text = "id,amount\n1,NA\n2,NULL\n"
    records, _ = run_csv(text, DatasetSettings(null_markers=["NA"]))
    assert [(record["id"], record["amount"]) for record in records] == [(1, None), (2, "NULL")]


def test_output_format_is_a_dataset_setting() -> None:
    settings = msgspec.json.decode(b'{"outputFormat": "parquet"}', type=DatasetSettings)
    assert settings.output_format is OutputFormat.PARQUET
