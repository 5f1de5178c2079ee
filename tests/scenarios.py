"""What several suites share: the states a CSV run enters, sample records, and running an upload
through the local engine."""

from __future__ import annotations

import gzip
import json
from typing import Any

from botocore.credentials import Credentials

from tasks.common.layout import INCOMING_PREFIX
from workflow.local.api import LocalApi
from workflow.local.environment import Execution, LocalPipeline
from workflow.local.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY

CSV_TO_JSONL_STATES = [
    "Validate",
    "Fetch",
    "RouteByFormat",
    "TransformCsv",
    "RouteByOutputFormat",
    "WriteOutput",
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


def local_api(pipeline: LocalPipeline) -> LocalApi:
    """The HTTP API in front of ``pipeline``, as ``pipeline serve`` builds it, called in process."""
    return LocalApi(
        sfn=pipeline.client("stepfunctions"),
        bucket_name=pipeline.stack.bucket_name,
        state_machine_arn=pipeline.stack.state_machine_arn,
        credentials=Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
        access=pipeline.access,
    )
