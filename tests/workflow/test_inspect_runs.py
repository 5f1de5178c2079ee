"""Listing and showing runs through the Step Functions API of the local engine, as an operator would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tasks.common.layout import INCOMING_PREFIX
from workflow.cli.text import render_run, render_runs
from workflow.executions import CAUGHT, FAILED, SUCCEEDED
from workflow.local.environment import Execution, LocalPipeline
from workflow.ops.graph import mermaid
from workflow.ops.runs import list_runs, show_run

CSV = b"id,name\r\n1,Ann\r\n2,Bob\r\n"
JSONL = b'{"id": 1}\n{"id": 2}\n'
BUSINESS_REASON = "business error UnsupportedFormat: fix the input and upload it again"


def upload_and_wait(pipeline: LocalPipeline, name: str, body: bytes) -> Execution:
    before = len(pipeline.started)
    pipeline.upload(INCOMING_PREFIX + name, body)
    assert len(pipeline.started) == before + 1, "the upload must start exactly one execution"
    return pipeline.wait(pipeline.started[-1], timeout=30)


def three_runs(pipeline: LocalPipeline) -> tuple[Execution, Execution, Execution]:
    """A success, a business rejection and a system failure at TransformCsv, in that order."""
    succeeded = upload_and_wait(pipeline, "good.jsonl", JSONL)
    rejected = upload_and_wait(pipeline, "notes.txt", b"plain text")
    pipeline.lambdas.inject_fault(pipeline.function_for_state("TransformCsv"), error="InjectedFault")
    failed = upload_and_wait(pipeline, "x.csv", CSV)
    assert (succeeded.status, rejected.status, failed.status) == ("SUCCEEDED", "FAILED", "FAILED")
    assert (rejected.error, failed.error) == ("UnsupportedFormat", "InjectedFault")
    return succeeded, rejected, failed


def test_list_runs_tells_which_run_to_redrive(pipeline: LocalPipeline) -> None:
    # Given a success, a business rejection and a system failure
    succeeded, rejected, failed = three_runs(pipeline)
    sfn = pipeline.client("stepfunctions")
    machine = pipeline.stack.state_machine_arn

    # When the runs are listed
    runs = list_runs(sfn, machine, status=None, since=None)

    # Then all three come back, newest first, started by S3, with their keys and statuses
    assert [run.execution_arn for run in runs] == [failed.arn, rejected.arn, succeeded.arn]
    assert [run.trigger for run in runs] == ["S3", "S3", "S3"]
    assert [run.source_key for run in runs] == ["incoming/x.csv", "incoming/notes.txt", "incoming/good.jsonl"]
    assert [run.status for run in runs] == ["FAILED", "FAILED", "SUCCEEDED"]
    assert all(run.duration is not None and run.duration > timedelta(0) for run in runs)
    # And only the system failure is redrivable; the others say why not
    assert [(run.redrivable, run.redrive_reason) for run in runs] == [
        (True, ""),
        (False, BUSINESS_REASON),
        (False, "succeeded"),
    ]
    # And the table shows the same
    table = render_runs(runs).splitlines()
    assert table[2].startswith(failed.name)
    assert table[2].endswith("yes")
    assert table[3].endswith("no: " + BUSINESS_REASON)
    # And the JSON form is plain JSON
    assert json.loads(json.dumps([run.as_json() for run in runs]))[0]["redrivable"] is True


def test_list_runs_filters_on_the_service(pipeline: LocalPipeline) -> None:
    # Given the three runs
    succeeded, rejected, failed = three_runs(pipeline)
    sfn = pipeline.client("stepfunctions")
    machine = pipeline.stack.state_machine_arn

    # Then a status filter, a window and a limit each narrow the listing
    assert [run.name for run in list_runs(sfn, machine, status="failed", since=None)] == [failed.name, rejected.name]
    assert [run.name for run in list_runs(sfn, machine, status="SUCCEEDED", since=None)] == [succeeded.name]
    assert len(list_runs(sfn, machine, status=None, since=timedelta(minutes=30))) == 3
    later = datetime.now(UTC) + timedelta(hours=2)
    assert list_runs(sfn, machine, status=None, since=timedelta(hours=1), now=later) == []
    assert [run.name for run in list_runs(sfn, machine, status=None, since=None, limit=1)] == [failed.name]
    # And fifteen days later not even the system failure can be redriven
    (stale,) = list_runs(sfn, machine, status="FAILED", since=None, now=later + timedelta(days=15), limit=1)
    assert (stale.redrivable, stale.redrive_reason) == (False, "stopped more than 14 days ago")


def test_show_run_of_a_system_failure_points_at_the_failed_task(pipeline: LocalPipeline) -> None:
    # Given a run that failed on a system error at TransformCsv
    *_, failed = three_runs(pipeline)

    # When it is shown
    view = show_run(pipeline.client("stepfunctions"), failed.arn)

    # Then every state it visited is listed with status and attempts, and TransformCsv failed it
    assert [(s.name, s.status, s.attempts) for s in view.states] == [
        ("Validate", SUCCEEDED, 1),
        ("RecordStart", SUCCEEDED, 1),
        ("HasDataset", SUCCEEDED, 0),
        ("Fetch", SUCCEEDED, 1),
        ("RouteByFormat", SUCCEEDED, 0),
        ("TransformCsv", FAILED, 1),
    ]
    assert view.failed_state == "TransformCsv"
    transform = view.states[-1]
    assert transform.failed_execution
    assert (transform.error, transform.message) == (
        "InjectedFault",
        "fault injected by the local runtime: InjectedFault",
    )
    # And the payload sizes come from the history: every state had input, every finished one output
    assert all(state.input_bytes is not None and state.input_bytes > 0 for state in view.states)
    assert all(state.output_bytes is not None and state.output_bytes > 0 for state in view.states[:-1])
    assert transform.output_bytes is None
    assert all(state.duration_ms is not None and state.duration_ms >= 0 for state in view.states)
    # And the execution is redrivable, started by S3 for incoming/x.csv
    assert (view.status, view.error, view.redrivable) == ("FAILED", "InjectedFault", True)
    assert (view.trigger, view.source_key) == ("S3", "incoming/x.csv")
    # And the text marks the failed state; a local run has no console link, a deployed one has
    text = render_run(view, deployed=False)
    (marked,) = [line for line in text.splitlines() if line.startswith(">")]
    assert marked.split()[1] == "TransformCsv"
    assert "console" not in text
    assert "console.aws.amazon.com" in render_run(view, deployed=True)
    # And the graph colours the visited states, the failed one red
    graph = mermaid(
        json.loads(
            pipeline.client("stepfunctions").describe_state_machine(stateMachineArn=pipeline.stack.state_machine_arn)[
                "definition"
            ]
        ),
        view.state_statuses(),
    )
    assert "    class TransformCsv failed" in graph


def test_show_run_of_a_rejection_and_a_success(pipeline: LocalPipeline) -> None:
    # Given the three runs
    succeeded, rejected, _ = three_runs(pipeline)
    sfn = pipeline.client("stepfunctions")

    # When the rejection is shown
    view = show_run(sfn, rejected.arn)

    # Then the business error is caught at Validate, the run ends at Rejected, and no redrive is offered
    assert [(s.name, s.status) for s in view.states] == [
        ("Validate", CAUGHT),
        ("DescribeRejection", SUCCEEDED),
        ("LedgerRejection", SUCCEEDED),
        ("RecordRequestRejected", SUCCEEDED),
        ("NotifyRejected", SUCCEEDED),
        ("Rejected", FAILED),
    ]
    assert view.states[0].error == "UnsupportedFormat"
    assert view.failed_state == "Rejected"
    assert (view.redrivable, view.redrive_reason) == (False, BUSINESS_REASON)
    assert f"redrive    no: {BUSINESS_REASON}" in render_run(view, deployed=False)

    # When the success is shown
    view = show_run(sfn, succeeded.arn)

    # Then every state succeeded once, none failed the run, and each produced output
    assert [s.name for s in view.states] == [
        "Validate",
        "RecordStart",
        "HasDataset",
        "Fetch",
        "RouteByFormat",
        "TransformJsonl",
        "RouteByOutputFormat",
        "WriteOutput",
        "RecordSucceeded",
        "Notify",
    ]
    assert {s.status for s in view.states} == {SUCCEEDED}
    assert view.failed_state is None
    assert all(s.output_bytes is not None and s.output_bytes > 0 for s in view.states)
    assert (view.redrivable, view.redrive_reason) == (False, "succeeded")


def test_show_run_counts_retries_as_attempts(pipeline: LocalPipeline) -> None:
    # Given the CSV transform fails twice with a transient error, then succeeds
    pipeline.lambdas.inject_fault(pipeline.function_for_state("TransformCsv"), error="TransientError", times=2)
    execution = upload_and_wait(pipeline, "y.csv", CSV)
    assert execution.status == "SUCCEEDED"

    # When the run is shown
    view = show_run(pipeline.client("stepfunctions"), execution.arn)

    # Then TransformCsv shows three attempts and succeeded
    transform = next(state for state in view.states if state.name == "TransformCsv")
    assert (transform.attempts, transform.status, transform.error) == (3, SUCCEEDED, None)
