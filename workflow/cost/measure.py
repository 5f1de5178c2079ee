"""Measure one run on the embedded environment: what AWS would bill it for.

``measure_run`` runs one file through an entered ``LocalPipeline`` exactly as ``pipeline run`` does
and reads, from the execution history and the emulators, the state transitions, Lambda invocations
and durations, SNS publishes, S3 and DynamoDB (ledger) requests, the bytes the functions logged and the events the state
machine would log. Local durations are the handlers' in-process times against moto, an estimate of
Lambda's billed duration, not a measurement on AWS.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.client import BaseClient

from workflow.cost.usage import (
    FunctionRun,
    RunMeasurement,
    function_log_bytes,
    log_events_from_history,
    sns_billed_requests,
)
from workflow.executions import transitions, visits
from workflow.local.environment import LocalPipeline, RunTimeout


@contextmanager
def counting_api_calls() -> Iterator[Counter[tuple[str, str]]]:
    """Count every AWS API call any botocore client makes, by (service, operation), in this block.

    It wraps ``BaseClient._make_api_call``, the one method every generated client operation calls,
    so clients created before the block (the tasks cache theirs) are counted too. That is a botocore
    internal: ``tests/workflow/test_cost_measurement.py`` fails if it stops counting.
    """
    counts: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()
    original = BaseClient._make_api_call

    def counted(client: Any, operation_name: str, api_params: Any) -> Any:
        with lock:
            counts[(str(client.meta.service_model.service_name), operation_name)] += 1
        return original(client, operation_name, api_params)

    BaseClient._make_api_call = counted
    try:
        yield counts
    finally:
        BaseClient._make_api_call = original


def _run_once(pipeline: LocalPipeline, key: str, body: bytes, timeout: float) -> str:
    before = len(pipeline.started)
    pipeline.upload(key, body)
    deadline = time.monotonic() + timeout
    while len(pipeline.started) <= before:
        if time.monotonic() > deadline:
            raise RunTimeout(f"no execution started for s3 key {key} after {timeout:.0f} s")
        time.sleep(0.01)
    arn = pipeline.started[before]
    pipeline.wait(arn, timeout=timeout)
    return arn


def measure_run(
    pipeline: LocalPipeline,
    sample: Path,
    *,
    log_stream: io.StringIO | None = None,
    warmup_runs: int = 0,
    timeout: float = 60.0,
) -> RunMeasurement:
    """Upload ``sample`` as ``incoming/<name>`` on an entered ``pipeline``, wait for its run and measure it.

    ``log_stream`` is the stream the pipeline was given: the functions' log bytes are measured from
    it (left unmeasured without it). ``warmup_runs`` first runs the sample under other keys, so that
    the measured run finds warm clients, as a warm Lambda environment would. S3 requests are counted
    as the API calls made during the run, the upload that starts it included. Notifications published
    before the measured run (by earlier runs on the same pipeline) are consumed and not counted.
    """
    body = sample.read_bytes()
    for index in range(warmup_runs):
        _run_once(pipeline, f"incoming/warmup-{index}-{sample.name}", body, timeout)
    pipeline.notifications()  # drop the warm-up runs' notifications
    log_offset = len(log_stream.getvalue()) if log_stream is not None else 0
    invocation_offset = len(pipeline.lambdas.invocations)
    handler_calls = pipeline.sandbox_calls()
    with counting_api_calls() as calls:
        arn = _run_once(pipeline, f"incoming/{sample.name}", body, timeout)
    # The engine's own calls (the upload) and the handlers' (through the sandboxes' endpoint).
    calls.update(pipeline.sandbox_calls() - handler_calls)
    execution = pipeline.wait(arn, timeout=timeout)
    history = pipeline.history(arn)
    billed = transitions(visits(history))

    durations: dict[str, list[float]] = {}
    for invocation in pipeline.lambdas.invocations[invocation_offset:]:
        durations.setdefault(invocation.function, []).append(invocation.duration_ms)
    notifications = pipeline.notifications()
    publish_requests = sum(sns_billed_requests(note.subject, note.message, note.attributes) for note in notifications)
    return RunMeasurement(
        sample=sample.name,
        status=execution.status,
        states_entered=billed.states_entered,
        retries=billed.retries,
        functions={
            name: FunctionRun(invocations=len(values), durations_ms=tuple(values))
            for name, values in sorted(durations.items())
        },
        sns_publishes=len(notifications),
        sns_publish_requests=publish_requests,
        s3_requests={operation: count for (service, operation), count in sorted(calls.items()) if service == "s3"},
        dynamodb_requests={
            operation: count for (service, operation), count in sorted(calls.items()) if service == "dynamodb"
        },
        function_log_bytes=(function_log_bytes(log_stream.getvalue()[log_offset:]) if log_stream is not None else None),
        state_machine_log_events=log_events_from_history(history, arn),
        execution_arn=arn,
    )
