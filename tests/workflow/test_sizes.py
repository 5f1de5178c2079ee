"""Sizes on the local engine, with AWS's limits on (``workflow/local/limits.py``).

A 10,000-column CSV runs to success with every state's payload far under Step Functions' 256 KB
(deploy review finding 6); a gzip bomb is rejected naming the limit (finding 7); a redrive after
the staged output expired fails as a system error, never as a rejection (finding 5).
"""

from __future__ import annotations

import gzip
import json

import pytest

from tasks.common.layout import MANIFEST_FILE, PROCESSED_PREFIX, STAGING_PREFIX
from tests.scenarios import run_upload
from workflow.executions import FAILED
from workflow.local.environment import LocalPipeline
from workflow.local.limits import STATE_PAYLOAD_BYTES

COLUMNS = 10_000


def wide_csv(columns: int, rows: int) -> bytes:
    """``columns`` columns named by 20 characters, ``rows`` rows of integers."""
    header = ",".join(f"column_{index:013d}" for index in range(columns))
    body = [",".join(str(row * columns + column) for column in range(columns)) for row in range(rows)]
    return ("\n".join([header, *body]) + "\n").encode()


def test_a_10000_column_csv_succeeds_and_every_state_payload_stays_small(pipeline: LocalPipeline) -> None:
    # Given a CSV of 10,000 columns of 20-character names: a 210 KB header, over Fetch's 64 KB sample
    body = wide_csv(COLUMNS, rows=3)

    # When it is uploaded
    execution = run_upload(pipeline, "wide.csv", body)

    # Then the run succeeds, and no state's input or output comes near 256 KB
    assert (execution.status, execution.error) == ("SUCCEEDED", None)
    visits = pipeline.visits(execution.arn)
    sizes = [size for visit in visits for size in (visit.input_bytes, visit.output_bytes) if size is not None]
    assert len(sizes) == 2 * len(visits)
    assert max(sizes) < STATE_PAYLOAD_BYTES // 100
    # And every record keeps every column, typed, and the manifest summarizes each column
    (data_key,) = [key for key in pipeline.object_keys(PROCESSED_PREFIX) if key.endswith("/data.jsonl")]
    records = [json.loads(line) for line in pipeline.read_object(data_key).splitlines()]
    assert len(records) == 3
    assert all(len(record) == COLUMNS + 3 for record in records)  # the lineage fields too
    assert records[2][f"column_{COLUMNS - 1:013d}"] == 3 * COLUMNS - 1
    manifest = json.loads(pipeline.read_object(data_key.removesuffix("data.jsonl") + MANIFEST_FILE))
    assert len(manifest["columns"]) == COLUMNS
    assert {column["type"] for column in manifest["columns"]} == {"integer"}


def test_a_gzip_bomb_is_rejected_naming_the_limit(pipeline: LocalPipeline) -> None:
    # Given a gzip source of about 20 KB that expands to 20 MB
    bomb = gzip.compress(b"a,b\n" + b"0,0\n" * 5_000_000)

    # When it is uploaded
    execution = run_upload(pipeline, "bomb.csv.gz", bomb)

    # Then the run is rejected as ObjectTooLarge, saying which limit, with no output
    assert (execution.status, execution.error) == ("FAILED", "ObjectTooLarge")
    assert "maxCompressionRatio" in (execution.cause or "")
    (notification,) = pipeline.notifications()
    assert notification.attributes == {"status": "REJECTED", "error": "ObjectTooLarge"}
    assert pipeline.object_keys(PROCESSED_PREFIX) == []


@pytest.mark.parametrize(
    ("state", "metadata"),
    [("WriteOutput", {}), ("WriteParquet", {"output-format": "parquet"})],
)
def test_a_redrive_after_the_staged_output_expired_fails_as_a_system_error(
    pipeline: LocalPipeline, state: str, metadata: dict[str, str]
) -> None:
    # Given a run that failed on a system error at the step reading the staged records
    pipeline.lambdas.inject_fault(pipeline.function_for_state(state), error="InjectedFault")
    failed = run_upload(pipeline, "people.csv", b"id,name\n1,Ann\n2,Bob\n", metadata=metadata)
    assert failed.status == FAILED
    pipeline.notifications()
    # And its staged objects then expired (the lifecycle rule's delete markers)
    s3 = pipeline.client("s3")
    for key in pipeline.object_keys(STAGING_PREFIX):
        s3.delete_object(Bucket=pipeline.stack.bucket_name, Key=key)

    # When it is redriven
    pipeline.redrive(failed.arn)
    redriven = pipeline.wait(failed.arn, timeout=30)

    # Then it fails again at that step, named for what happened, and is no rejection
    assert (redriven.status, redriven.error) == (FAILED, "StagedOutputMissing")
    assert "start a new run" in (redriven.cause or "")
    assert pipeline.visits(failed.arn)[-1].name == state
    (notification,) = pipeline.notifications()
    announced = json.loads(notification.message)
    assert (announced["status"], announced["error"]) == (FAILED, "StagedOutputMissing")
    assert notification.attributes.get("status") != "REJECTED"
    assert pipeline.object_keys(PROCESSED_PREFIX) == []
