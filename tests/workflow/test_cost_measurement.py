"""The cost model's measurement of a real run on the local engine, and its estimate on the real template."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber

from workflow.cost.estimate import estimate
from workflow.cost.measure import counting_api_calls, measure_run
from workflow.local.environment import LocalPipeline
from workflow.local.template import StackModel

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "orders.csv"
# The Lambda states on a CSV file's path through the definition, its ledger writes and its Choice states.
CSV_PATH_TASKS = ("Validate", "Fetch", "TransformCsv", "WriteOutput", "Notify")
CSV_PATH_LEDGER_WRITES = ("RecordStart", "RecordSucceeded")
CSV_PATH_CHOICES = ("HasDataset", "RouteByFormat", "RouteByOutputFormat")


def test_measure_a_csv_run_and_price_it_on_the_synthesized_template(
    stack_model: StackModel, template: dict[str, Any]
) -> None:
    log_stream = io.StringIO()
    with LocalPipeline(stack_model, log_stream=log_stream) as pipeline:
        measurement = measure_run(pipeline, SAMPLE, log_stream=log_stream)
        task_functions = {state: pipeline.function_for_state(state) for state in CSV_PATH_TASKS}
        history = pipeline.history(measurement.execution_arn)

    assert measurement.status == "SUCCEEDED"
    # Every state on the path (the Lambda tasks and the Choices) entered once, nothing retried.
    assert measurement.states_entered == len(CSV_PATH_TASKS) + len(CSV_PATH_LEDGER_WRITES) + len(CSV_PATH_CHOICES)
    assert measurement.retries == 0
    assert measurement.state_transitions > 0
    for state, function in task_functions.items():
        run = measurement.functions[function]
        assert run.invocations == 1, state
        assert run.billed_ms >= 1
    assert set(measurement.functions) == set(task_functions.values())
    assert measurement.sns_publishes == 1
    assert measurement.sns_publish_requests == 1
    # S3 requests are counted from the API calls: the upload, the reads of the source, the output writes.
    assert measurement.s3_requests is not None
    assert measurement.s3_requests["PutObject"] >= 2
    assert measurement.s3_requests["GetObject"] >= 1
    assert measurement.function_log_bytes is not None
    assert measurement.function_log_bytes > 0
    assert len(measurement.state_machine_log_events) == len(history)

    report = estimate(template, measurement, runs_per_month=10_000)
    transitions = [line for line in report.lines if line.item.startswith("state transitions")]
    assert [line.quantity for line in transitions] == [measurement.state_transitions * 10_000]
    for function in task_functions.values():
        assert any(line.item == f"duration ({function})" and line.cost > 0 for line in report.lines)
    # And the run's two ledger writes (its start and its end) are measured and priced
    assert measurement.dynamodb_requests == {"UpdateItem": len(CSV_PATH_LEDGER_WRITES)}
    writes = [line for line in report.lines if line.service == "DynamoDB" and line.item.startswith("write")]
    assert len(writes) == 1
    assert writes[0].cost > 0
    assert report.total > report.fixed_total > 0


def test_counting_api_calls_counts_calls_of_clients_made_before_the_block() -> None:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stub:
        stub.add_response("head_object", {"ContentLength": 1}, {"Bucket": "b", "Key": "k"})
        stub.add_response("head_object", {"ContentLength": 1}, {"Bucket": "b", "Key": "k"})
        with counting_api_calls() as calls:
            client.head_object(Bucket="b", Key="k")
        client.head_object(Bucket="b", Key="k")  # after the block: not counted
    assert calls == {("s3", "HeadObject"): 1}
