"""A backfill of 5,000 objects seeded before the stack existed, then the same backfill again.

Every object ends with exactly one pipeline run, one current output and one ``SUCCEEDED`` ledger
item, and the repeat starts no run. It is the suite's longest test, about 17 minutes on 2 cores
(one whole pipeline run per object on the local engine, about 170 ms of the engine's CPU each);
``python -m benchmarks.backfill --objects 5000`` prints its figures.
"""

from __future__ import annotations

from collections import Counter

from benchmarks.backfill import PREFIX, backfill, seed
from tasks.common.layout import INCOMING_PREFIX, PROCESSED_PREFIX
from workflow.executions import SUCCEEDED
from workflow.ledger import SUCCEEDED as LEDGER_SUCCEEDED
from workflow.local.environment import LocalPipeline
from workflow.ops.sources import SourceFilter, find_sources

OBJECTS = 5_000
# Runs in flight: enough to keep the engine busy while some wait on the sandboxes.
CONCURRENCY = 20


def test_a_backfill_of_5000_objects_runs_each_once_and_its_repeat_starts_no_run(pipeline: LocalPipeline) -> None:
    # Given 5,000 objects uploaded before the stack existed (no run started for them)
    seed(pipeline, OBJECTS)
    sfn = pipeline.client("stepfunctions")
    assert sfn.list_executions(stateMachineArn=pipeline.stack.state_machine_arn)["executions"] == []

    # When they are backfilled
    backfilled = backfill(pipeline, CONCURRENCY)
    first = backfilled.progress

    # Then each object had one run, which succeeded and said so
    assert (first.status, first.count("started"), first.count("succeeded")) == (SUCCEEDED, OBJECTS, OBJECTS)
    assert Counter(notification.attributes.get("status") for notification in backfilled.notifications) == {
        SUCCEEDED: OBJECTS
    }
    executions = [
        execution
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=pipeline.stack.state_machine_arn)
        for execution in page["executions"]
    ]
    assert Counter(execution["status"] for execution in executions) == {SUCCEEDED: OBJECTS}

    # When the same backfill runs again
    repeated = backfill(pipeline, CONCURRENCY)
    again = repeated.progress

    # Then it starts no run: the ledger has a result for every object
    assert (again.status, again.count("started"), again.count("skipped")) == (SUCCEEDED, 0, OBJECTS)
    assert repeated.notifications == []
    sources = find_sources(
        pipeline.client("dynamodb"),
        pipeline.stack.tables[0].name,
        SourceFilter(bucket=pipeline.stack.bucket_name, prefix=PREFIX),
    )
    assert len(sources) == OBJECTS
    assert Counter(source.status for source in sources) == {LEDGER_SUCCEEDED: OBJECTS}
    # and each object has exactly one current output
    outputs = PROCESSED_PREFIX + PREFIX.removeprefix(INCOMING_PREFIX)
    manifests = [key for key in pipeline.object_keys(outputs) if key.endswith("/manifest.json")]
    assert len(manifests) == OBJECTS
    assert len({key.rsplit("/", 2)[0] for key in manifests}) == OBJECTS
