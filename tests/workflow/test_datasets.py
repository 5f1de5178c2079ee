"""A dataset's settings on the local engine: the folder a file lands in decides its contract."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.common.layout import INCOMING_PREFIX
from workflow.local.environment import LocalPipeline

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "orders.csv"
# The sample orders plus one order of quantity 0, which the orders contract forbids.
WITH_A_BAD_ORDER = SAMPLE.read_bytes() + b"ORD-1041,2026-10-14T10:00:00Z,Li Wei,Oslo,Gadget,0,12.00,\n"


def test_a_file_in_a_dataset_folder_is_checked_against_the_dataset_contract(pipeline: LocalPipeline) -> None:
    # Given the sample orders with one bad order
    # When they are dropped in the orders folder
    pipeline.upload(INCOMING_PREFIX + "orders/2026-10.csv", WITH_A_BAD_ORDER)
    execution = pipeline.wait(pipeline.started[0], timeout=60)
    # Then the run succeeds with the 40 good orders and the bad one in the rejects, naming the rule
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output is not None
    output = execution.output["output"]
    assert (output["records"], output["rejected"]) == (40, 1)
    (reject,) = [json.loads(line) for line in pipeline.read_object(output["rejectsKey"]).splitlines()]
    assert reject["reason"] == "contract: field 'quantity': 0 is less than the minimum of 1 (rule minimum)"
    assert reject["line"] == SAMPLE.read_bytes().count(b"\n") + 1
    # And the manifest names the dataset and accounts for every input record
    manifest = json.loads(pipeline.read_object(output["manifestKey"]))
    assert manifest["dataset"] == "orders"
    assert manifest["counts"] == {"input": 41, "records": 40, "rejected": 1}
    assert {column["name"]: column["type"] for column in manifest["columns"]} == {
        "order_id": "string",
        "ordered_at": "timestamp",
        "customer": "string",
        "city": "string",
        "product": "string",
        "quantity": "integer",
        "unit_price": "float",
        "gift": "boolean",
    }


def test_the_same_file_outside_the_dataset_folder_has_no_contract(pipeline: LocalPipeline) -> None:
    pipeline.upload(INCOMING_PREFIX + "orders-2026-10.csv", WITH_A_BAD_ORDER)
    execution = pipeline.wait(pipeline.started[0], timeout=60)
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output is not None
    assert (execution.output["output"]["records"], execution.output["output"]["rejected"]) == (41, 0)
