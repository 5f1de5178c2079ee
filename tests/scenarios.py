"""What several suites share: the states a CSV run enters, sample records, running an upload
through the local engine, uploads that start no run, and a split into a few ranges."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.credentials import Credentials

from tasks.common.layout import INCOMING_PREFIX
from workflow.deployment import LOCAL_ACCOUNT
from workflow.ledger import PARTITION_KEY, SORT_KEY, LedgerItem, source_id
from workflow.local.api import LocalApi
from workflow.local.environment import Execution, LocalPipeline
from workflow.local.ledger_resources import BACKFILL_NAME_SUFFIX
from workflow.local.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY

# The role of a test's own state machine, which the template does not define (its calls are not judged).
TEST_MACHINE_ROLE = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/test-machine"

CSV_TO_JSONL_STATES = [
    "Validate",
    "RecordStart",
    "HasDataset",
    "Fetch",
    "RouteByFormat",
    "TransformCsv",
    "RouteByOutputFormat",
    "WriteOutput",
    "RecordSucceeded",
    "Notify",
]
"""The states a successful CSV run with JSON Lines output enters, in order."""

RECORDS: list[dict[str, Any]] = [
    {"id": "1", "name": "Ann", "city": "Paris, FR"},
    {"id": "2", "name": 'Bob "the builder"', "city": "Oslo"},
    {"id": "3", "name": "Zoë", "city": "Zürich\nCH"},
]


def as_csv(records: list[dict[str, Any]]) -> bytes:
    def quote(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value

    lines = [",".join(records[0])] + [",".join(quote(str(v)) for v in record.values()) for record in records]
    return ("\r\n".join(lines) + "\r\n").encode()


SOURCES = {
    "people.csv": as_csv(RECORDS),
    "people.json": json.dumps(RECORDS, indent=2).encode(),
    "people.jsonl": "".join(json.dumps(record) + "\n" for record in RECORDS).encode(),
    "people.ndjson.gz": gzip.compress("".join(json.dumps(record) + "\n" for record in RECORDS).encode()),
    "people.csv.gz": gzip.compress(as_csv(RECORDS)),
}


def run_upload(pipeline: LocalPipeline, name: str, body: bytes, **kwargs: Any) -> Execution:
    pipeline.upload(INCOMING_PREFIX + name, body, **kwargs)
    assert len(pipeline.started) == 1, "the upload must start exactly one execution"
    return pipeline.wait(pipeline.started[0], timeout=30)


def ledger_item(pipeline: LocalPipeline, key: str, version_id: str) -> LedgerItem | None:
    """The ledger's item of one source version in the pipeline bucket, if there is one."""
    (table,) = pipeline.stack.tables
    found = pipeline.client("dynamodb").get_item(
        TableName=table.name,
        Key={PARTITION_KEY: {"S": source_id(pipeline.stack.bucket_name, key)}, SORT_KEY: {"S": version_id}},
        ConsistentRead=True,
    )
    return LedgerItem.from_dynamodb(found["Item"]) if "Item" in found else None


def wait_for_ledger(
    pipeline: LocalPipeline, key: str, version_id: str, status: str, *, timeout: float = 30.0
) -> LedgerItem:
    """The item once it has ``status`` (the failure recorder writes after the run has ended)."""
    deadline = time.monotonic() + timeout
    while True:
        item = ledger_item(pipeline, key, version_id)
        if item is not None and item.status == status:
            return item
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} {version_id} is {item.status if item else 'not in the ledger'}, not {status}")
        time.sleep(0.02)


def local_api(pipeline: LocalPipeline) -> LocalApi:
    """The HTTP API in front of ``pipeline``, as ``pipeline serve`` builds it, called in process."""
    return LocalApi(
        sfn=pipeline.client("stepfunctions"),
        bucket_name=pipeline.stack.bucket_name,
        state_machine_arn=pipeline.stack.state_machine_arn,
        credentials=Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
        access=pipeline.access,
    )


def notification_statuses(pipeline: LocalPipeline) -> list[str]:
    """The status of each notification published since the last look: SUCCEEDED, REJECTED (both
    attributes of the message) or FAILED (the status-change rule's message, which has none)."""
    return [
        notification.attributes.get("status") or json.loads(notification.message)["status"]
        for notification in pipeline.notifications()
    ]


def failed_attempts(pipeline: LocalPipeline, arn: str) -> list[str]:
    """The error name of every failed Lambda attempt of the execution, in order."""
    return [
        event["lambdaFunctionFailedEventDetails"]["error"]
        for event in pipeline.history(arn)
        if event["type"] == "LambdaFunctionFailed"
    ]


def run_machine(pipeline: LocalPipeline, name: str, definition: dict[str, Any]) -> dict[str, Any]:
    """Create a state machine of ``definition`` on the engine, run it with ``{}``, describe its end."""
    sfn = pipeline.client("stepfunctions")
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=TEST_MACHINE_ROLE)[
        "stateMachineArn"
    ]
    arn = sfn.start_execution(stateMachineArn=machine, name=f"{name}-1", input="{}")["executionArn"]
    pipeline.wait(arn, timeout=30)
    described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
    return described


def backfill_machine(pipeline: LocalPipeline) -> str:
    """The ARN of the stack's backfill state machine."""
    (machine,) = [
        machine.arn for machine in pipeline.stack.state_machines if machine.name.endswith(BACKFILL_NAME_SUFFIX)
    ]
    return machine


@contextmanager
def before_the_stack(pipeline: LocalPipeline) -> Iterator[None]:
    """Uploads in this block start no run: the S3 rule is disabled, as if the stack did not exist."""
    events = pipeline.client("events")
    rule = next(rule.logical_id for rule in pipeline.stack.rules if rule.pattern.get("source") == ["aws.s3"])
    events.disable_rule(Name=rule)
    try:
        yield
    finally:
        events.enable_rule(Name=rule)


# The ranges split_below cuts a source into.
RANGES = 6


def split_below(pipeline: LocalPipeline, size: int, *, gzip_size: int | None = None) -> None:
    """Lower the split's thresholds so that a source of ``size`` bytes is cut into ``RANGES`` ranges."""
    settings = {
        "SPLIT_THRESHOLD_BYTES": "1000",
        "RANGE_BYTES": str(-(-size // RANGES)),
        "RANGE_CONCURRENCY": "3",
    }
    if gzip_size is not None:
        settings["GZIP_SPLIT_THRESHOLD_BYTES"] = str(gzip_size - 1)
    for state in ("Fetch", "PlanRanges"):
        pipeline.lambdas.set_environment(pipeline.function_for_state(state), settings)


def quoted_breaks_csv(rows: int) -> bytes:
    """A CSV whose quoted values hold CRLF, LF, delimiters and doubled quotes, with a few rows of
    the wrong width (rejects) spread through it."""
    lines = ["id,name,note"]
    for index in range(rows):
        if index % 97 == 13:
            lines.append(f"{index},too,many,fields")
        else:
            lines.append(f'{index},"name {index}","note {index},\r\nsecond ""line""\nthird"')
    return ("\r\n".join(lines) + "\r\n").encode()
