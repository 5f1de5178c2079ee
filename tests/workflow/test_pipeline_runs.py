"""Scenarios on the local engine: the real definition, the real handlers, started by an S3 upload."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tasks.common.layout import CSV_DIALECT_FILE, INCOMING_PREFIX, PROCESSED_PREFIX, STAGING_PREFIX
from tasks.common.records import LINEAGE_FIELDS
from tests.scenarios import RECORDS, SOURCES, run_upload
from workflow.executions import CAUGHT, FAILED, SUCCEEDED
from workflow.local.environment import LocalPipeline


def read_jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines()]


def without_lineage(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in record.items() if key not in LINEAGE_FIELDS} for record in records]


# CSV values are typed by their column: the ids are integers there, strings in the JSON sources.
CSV_RECORDS = [record | {"id": int(record["id"])} for record in RECORDS]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_format_runs_to_success_and_keeps_every_record(pipeline: LocalPipeline, name: str) -> None:
    # Given a source file in one of the supported formats
    # When it is uploaded under incoming/
    execution = run_upload(pipeline, name, SOURCES[name])

    # Then the run succeeds through the transform of that format
    assert execution.status == "SUCCEEDED", execution.cause
    states = [state.name for state in pipeline.visits(execution.arn)]
    fmt = "Csv" if ".csv" in name else "Json" if name.endswith(".json") else "Jsonl"
    assert states == [
        "Validate",
        "RecordStart",
        "HasDataset",
        "Fetch",
        "RouteByFormat",
        f"Transform{fmt}",
        "RouteByOutputFormat",
        "WriteOutput",
        "RecordSucceeded",
        "Notify",
    ]
    # And the output holds the same records, values preserved
    assert execution.output is not None
    output = execution.output["output"]
    records = read_jsonl(pipeline.read_object(output["key"]))
    assert without_lineage(records) == (CSV_RECORDS if ".csv" in name else RECORDS)
    # And each record says where it came from
    assert [(r["_source_key"], r["_source_version"]) for r in records] == [
        (execution.output["source"]["key"], execution.output["source"]["versionId"])
    ] * len(RECORDS)
    assert (output["records"], output["rejected"]) == (3, 0)
    # And the manifest accounts for every input record
    manifest = json.loads(pipeline.read_object(output["manifestKey"]))
    assert manifest["counts"] == {"input": 3, "records": 3, "rejected": 0}
    assert manifest["executionArn"] == execution.arn
    # And the staged copy stays for the lifecycle rule, under this run's name only
    assert {key.split("/")[1] for key in pipeline.object_keys(STAGING_PREFIX)} == {execution.name}
    # And exactly one success notification names the output
    notifications = pipeline.notifications()
    assert [n.attributes["status"] for n in notifications] == ["SUCCEEDED"]
    assert json.loads(notifications[0].message)["output"]["key"] == output["key"]


def test_processing_type_from_object_metadata_travels_with_the_run(pipeline: LocalPipeline) -> None:
    # Given an upload that declares the batch processing type in its metadata
    execution = run_upload(pipeline, "people.jsonl", SOURCES["people.jsonl"], metadata={"processing-type": "batch"})

    # Then the manifest and the notification carry it
    assert execution.status == "SUCCEEDED"
    assert execution.output is not None
    manifest = json.loads(pipeline.read_object(execution.output["output"]["manifestKey"]))
    assert manifest["processingType"] == "batch"
    assert pipeline.notifications()[0].attributes["processingType"] == "batch"


def test_bad_records_go_to_rejects_with_their_line(pipeline: LocalPipeline) -> None:
    # Given a JSON Lines file with one unreadable line among many good ones
    good = [json.dumps({"n": index}) for index in range(20)]
    body = "\n".join([*good[:10], "{not json", *good[10:]]).encode() + b"\n"

    # When it runs
    execution = run_upload(pipeline, "mixed.jsonl", body)

    # Then it succeeds with the bad line in rejects, and nothing is lost
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output is not None
    output = execution.output["output"]
    assert (output["records"], output["rejected"]) == (20, 1)
    rejects = read_jsonl(pipeline.read_object(output["rejectsKey"]))
    assert [(reject["line"], reject["raw"]) for reject in rejects] == [(11, "{not json")]


@pytest.mark.parametrize(
    ("name", "body", "error"),
    [
        ("notes.txt", b"plain text", "UnsupportedFormat"),
        ("object.json", b'{"a": 1}', "UnsupportedFormat"),
        ("empty.csv", b"", "EmptyObject"),
        ("header-only.csv", b"a,b,c\n", "EmptyObject"),
        ("latin1.csv", "name\nJosé\n".encode("latin-1"), "UnsupportedEncoding"),
        ("broken.json", b'[{"a": 1}, {"a": ', "MalformedInput"),
        ("mostly-bad.jsonl", b'{"a": 1}\nnope\nnot json\n[1]\n', "TooManyRejects"),
    ],
)
def test_business_failure_is_rejected_without_output(
    pipeline: LocalPipeline, name: str, body: bytes, error: str
) -> None:
    # Given a file the pipeline cannot process
    # When it is uploaded
    execution = run_upload(pipeline, name, body)

    # Then the run fails with that business error at the Rejected state
    assert (execution.status, execution.error) == ("FAILED", error)
    states = pipeline.visits(execution.arn)
    names = [state.name for state in states]
    # (recorded against the version Validate found, or, refused by Validate, the one the event named)
    recorded = "RecordRejected" if "RecordStart" in names else "RecordRequestRejected"
    assert names[-4:] == ["LedgerRejection", recorded, "NotifyRejected", "Rejected"]
    assert any(state.status == CAUGHT and state.error == error for state in states)
    # And the rejection is published with the error and a readable reason
    notifications = pipeline.notifications()
    assert [n.attributes for n in notifications] == [{"status": "REJECTED", "error": error}]
    message = json.loads(notifications[0].message)
    assert message["error"] == error
    assert message["message"] == execution.cause
    # And it names the object, but carries neither the stack trace nor the whole execution input
    assert set(message) == {"status", "executionArn", "bucket", "key", "error", "message"}
    assert (message["bucket"], message["key"]) == (pipeline.stack.bucket_name, INCOMING_PREFIX + name)
    # And no output exists (nor staged records: at most the CSV dialect Fetch staged for the
    # transform, which the staging lifecycle expires), and the source is untouched
    assert pipeline.object_keys(PROCESSED_PREFIX) == []
    assert {key.rsplit("/", 1)[1] for key in pipeline.object_keys(STAGING_PREFIX)} <= {CSV_DIALECT_FILE}
    assert pipeline.read_object(INCOMING_PREFIX + name) == body


def test_transient_error_is_retried_with_backoff_then_succeeds(pipeline: LocalPipeline) -> None:
    # Given the CSV transform fails twice with a transient error
    function = pipeline.function_for_state("TransformCsv")
    pipeline.lambdas.inject_fault(function, error="TransientError", times=2)

    # When a CSV file runs
    execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])

    # Then it succeeds on the third attempt
    assert execution.status == "SUCCEEDED", execution.cause
    transform = next(state for state in pipeline.visits(execution.arn) if state.name == "TransformCsv")
    assert (transform.attempts, transform.status) == (3, SUCCEEDED)
    # And the waits asked for follow the backoff: full jitter under 2 s, then under 4 s
    delays = pipeline.clock.retry_delays
    assert len(delays) == 2
    assert 0 <= delays[0] <= 2
    assert 0 <= delays[1] <= 4


def test_transient_error_past_max_attempts_fails_the_task(pipeline: LocalPipeline) -> None:
    # Given Fetch fails transiently more often than the Retry allows (1 try + MaxAttempts 4 retries)
    pipeline.lambdas.inject_fault(pipeline.function_for_state("Fetch"), error="TransientError", times=10)

    # When a file runs
    execution = run_upload(pipeline, "people.jsonl", SOURCES["people.jsonl"])

    # Then the execution fails at Fetch after five attempts, not through the rejection branch
    assert (execution.status, execution.error) == ("FAILED", "TransientError")
    fetch = pipeline.visits(execution.arn)[-1]
    assert (fetch.name, fetch.status, fetch.attempts) == ("Fetch", FAILED, 5)
    # And each wait stays under its cap: 2, 4, 8, 16 s before jitter (MaxDelaySeconds 30)
    delays = pipeline.clock.retry_delays
    assert len(delays) == 4
    assert all(0 <= delay <= cap for delay, cap in zip(delays, (2, 4, 8, 16), strict=True))


def test_system_error_fails_the_execution_at_that_task(pipeline: LocalPipeline) -> None:
    # Given the JSON transform hits an error that is neither business nor transient
    pipeline.lambdas.inject_fault(pipeline.function_for_state("TransformJson"), error="InjectedFault")

    # When a JSON file runs
    execution = run_upload(pipeline, "people.json", SOURCES["people.json"])

    # Then the execution fails at TransformJson itself (so a redrive restarts there)
    assert (execution.status, execution.error) == ("FAILED", "InjectedFault")
    last = pipeline.visits(execution.arn)[-1]
    assert (last.name, last.status, last.attempts) == ("TransformJson", FAILED, 1)
    # And no retry was made, no rejection published (only the failure announcement), no output committed
    assert pipeline.clock.retry_delays == []
    notifications = pipeline.notifications()
    assert [json.loads(n.message).get("status") for n in notifications] == ["FAILED"]
    assert "REJECTED" not in {n.attributes.get("status") for n in notifications}
    assert pipeline.object_keys(PROCESSED_PREFIX) == []


def test_outputs_never_trigger_a_run(pipeline: LocalPipeline) -> None:
    # Given a successful run, which writes under processed/ and staging/
    execution = run_upload(pipeline, "people.jsonl", SOURCES["people.jsonl"])
    assert execution.status == "SUCCEEDED"

    # When an object is put outside incoming/
    pipeline.upload("elsewhere/people.jsonl", SOURCES["people.jsonl"])

    # Then still only the one execution exists
    executions = pipeline.client("stepfunctions").list_executions(stateMachineArn=pipeline.stack.state_machine_arn)
    assert [item["executionArn"] for item in executions["executions"]] == [execution.arn]


def test_a_folder_created_under_incoming_starts_nothing_but_an_empty_file_is_rejected(
    pipeline: LocalPipeline,
) -> None:
    # Given what the S3 console's "Create folder" puts: a zero-byte object whose key ends in "/"
    pipeline.upload(INCOMING_PREFIX + "reports/", b"")
    # Then no run starts
    assert pipeline.started == []

    # When a file with no bytes is uploaded
    execution = run_upload(pipeline, "empty.csv", b"")
    # Then its run starts and rejects it, so the uploader learns why
    assert (execution.status, execution.error) == (FAILED, "EmptyObject")
    assert [n.attributes for n in pipeline.notifications()] == [{"status": "REJECTED", "error": "EmptyObject"}]


def test_a_system_failure_is_announced_by_the_status_change_rule(pipeline: LocalPipeline) -> None:
    # Given a run that fails on a system error at WriteOutput
    pipeline.lambdas.inject_fault(pipeline.function_for_state("WriteOutput"), error="InjectedFault")

    # When it runs to the end
    execution = run_upload(pipeline, "people.jsonl", SOURCES["people.jsonl"])

    # Then the template's status-change rule publishes a message a person can act on
    assert execution.status == "FAILED"
    (notification,) = pipeline.notifications()
    message = json.loads(notification.message)
    assert message["summary"] == f"Pipeline run {execution.name} ended FAILED"
    assert (message["status"], message["error"]) == ("FAILED", "InjectedFault")
    # And it carries the error's name and links, never the stack trace or the execution input
    assert set(message) == {"summary", "status", "executionArn", "name", "error", "console", "redrive"}
    assert "stackTrace" not in notification.message
    assert message["executionArn"] == execution.arn
    assert message["console"].endswith(f"#/v2/executions/details/{execution.arn}")
    assert execution.arn in message["redrive"]


def test_successful_and_rejected_runs_get_no_failure_announcement(pipeline: LocalPipeline) -> None:
    run_upload(pipeline, "people.jsonl", SOURCES["people.jsonl"])
    assert [n.attributes.get("status") for n in pipeline.notifications()] == ["SUCCEEDED"]
