"""Reliability on the local engine: bad input, faults and duplicates, with nothing lost.

Every run ends one of two clean ways: FAILED with a named business error, one rejection
notification, nothing under processed/ and the source untouched; or SUCCEEDED with every input
record accounted for (as a record or in the rejects object). Faults in the handlers' AWS calls
are retried and leave no partial object; duplicates give one output and one notification.
Assertions are on counts, statuses, error names and keys, not on record values.
"""

from __future__ import annotations

import gzip
import json
import random
import threading
from typing import Any
from urllib.parse import quote_plus

import pytest
from moto.events.models import Rule

from tasks.common.layout import DATA_FILE, INCOMING_PREFIX, MANIFEST_FILE, PROCESSED_PREFIX, STAGING_PREFIX
from tests.scenarios import as_csv, failed_attempts, local_api, notification_statuses, run_upload
from workflow.executions import FAILED
from workflow.local.environment import Execution, LocalPipeline

DEEP = 100_000
BIG_LINE = 50 * 1024 * 1024


def rows(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": str(n), "name": f"name {n}", "city": "Oslo"} for n in range(start, start + count)]


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def garbage(size: int) -> bytes:
    noise = random.Random(7).randbytes(size)
    return noise[: size // 2] + b"\x00" + noise[size // 2 :]


def late_truncated_gzip() -> bytes:
    # Incompressible enough that the cut lies far past the 64 KB sample Validate and Fetch read.
    noise = random.Random(11)
    body = jsonl([{"n": n, "pad": noise.randbytes(16).hex()} for n in range(20_000)])
    compressed = gzip.compress(body)
    return compressed[: len(compressed) - 4096]


def data_keys(pipeline: LocalPipeline) -> list[str]:
    return [key for key in pipeline.object_keys(PROCESSED_PREFIX) if key.endswith("/" + DATA_FILE)]


def state(pipeline: LocalPipeline, arn: str, name: str) -> Any:
    return next(visit for visit in pipeline.visits(arn) if visit.name == name)


def assert_rejected(pipeline: LocalPipeline, execution: Execution, key: str, body: bytes, error: str) -> None:
    """FAILED with ``error``, one rejection notification, nothing committed, the source untouched."""
    assert (execution.status, execution.error) == ("FAILED", error), execution.cause
    assert [state.name for state in pipeline.visits(execution.arn)][-1] == "Rejected"
    assert [n.attributes for n in pipeline.notifications()] == [{"status": "REJECTED", "error": error}]
    assert pipeline.object_keys(PROCESSED_PREFIX) == []
    assert pipeline.read_object(key) == body


def output_of(execution: Execution) -> dict[str, Any]:
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output is not None
    output: dict[str, Any] = execution.output["output"]
    return output


# -- 1. bad files ---------------------------------------------------------------------------


UNUSABLE = [
    ("empty.jsonl.gz", gzip.compress(b""), "EmptyObject"),
    ("header-only-bom-crlf.csv", b"\xef\xbb\xbfid,name\r\n", "EmptyObject"),
    ("garbage.csv", garbage(4096), "UnsupportedFormat"),
    ("high-bytes.csv", bytes(range(0x80, 0x100)) * 16, "UnsupportedEncoding"),
    # The sample Validate and Fetch read is clean: the transform finds the bad byte.
    ("late-invalid-utf8.csv", as_csv(rows(3000)) + b"9,\xff\xfe,Oslo\r\n", "UnsupportedEncoding"),
    ("truncated.jsonl.gz", gzip.compress(jsonl(rows(50)))[:-12], "MalformedInput"),
    ("truncated-late.jsonl.gz", late_truncated_gzip(), "MalformedInput"),
    ("not-gzip.csv.gz", as_csv(rows(3)), "MalformedInput"),
    ("scalar.json", b'"just a string"', "UnsupportedFormat"),
    ("numbers.json", b"[1, 2, 3]", "TooManyRejects"),
    ("empty-array.json", b"[]", "EmptyObject"),
    ("arrays.jsonl", b"[1]\n[2]\n", "UnsupportedFormat"),
    ("deep.json", b"[" * DEEP + b"]" * DEEP, "TooManyRejects"),
]


@pytest.mark.parametrize(("name", "body", "error"), UNUSABLE, ids=[case[0] for case in UNUSABLE])
def test_an_unusable_file_is_rejected_cleanly(pipeline: LocalPipeline, name: str, body: bytes, error: str) -> None:
    # Given a file that cannot be processed as it is
    # When it is uploaded
    execution = run_upload(pipeline, name, body)

    # Then the run fails with that business error, says so once, commits nothing and keeps the source
    assert_rejected(pipeline, execution, INCOMING_PREFIX + name, body, error)


@pytest.mark.parametrize(
    ("name", "body", "bad_lines"),
    [
        pytest.param(
            "ragged.csv",
            as_csv(rows(20)) + b"20,short\r\n" + as_csv(rows(20, 21)).split(b"\r\n", 1)[1] + b"41,a,b,extra\r\n",
            {22, 43},
            id="ragged.csv",
        ),
        pytest.param(
            "deep-line.jsonl",
            jsonl(rows(25)) + b'{"a": ' + b"[" * DEEP + b"]" * DEEP + b"}\n" + jsonl(rows(5)),
            {26},
            id="deep-line.jsonl",
        ),
    ],
)
def test_bad_records_go_to_rejects_and_the_rest_succeeds(
    pipeline: LocalPipeline, name: str, body: bytes, bad_lines: set[int]
) -> None:
    # Given a file whose few bad records (wrong column count, a line nested 100,000 deep) sit among good ones
    # When it runs
    execution = run_upload(pipeline, name, body)

    # Then it succeeds, and each bad record is in rejects with its line: none lost, none invented
    output = output_of(execution)
    rejects = [json.loads(line) for line in pipeline.read_object(output["rejectsKey"]).splitlines()]
    assert {reject["line"] for reject in rejects} == bad_lines
    assert output["rejected"] == len(bad_lines)
    data = pipeline.read_object(output["key"]).splitlines()
    assert output["records"] == len(data) == (40 if name.endswith(".csv") else 30)
    manifest = json.loads(pipeline.read_object(output["manifestKey"]))
    assert manifest["counts"]["input"] == output["records"] + len(bad_lines)


def test_a_json_array_nested_100000_deep_among_records_is_rejected_alone(pipeline: LocalPipeline) -> None:
    # Given a JSON array of 30 objects, one of which holds an array nested 100,000 levels deep
    good = [json.dumps(record).encode() for record in rows(30)]
    deep = b'{"a": ' + b"[" * DEEP + b"]" * DEEP + b"}"
    body = b"[" + b",\n".join([*good[:15], deep, *good[15:]]) + b"]"

    # When it runs
    execution = run_upload(pipeline, "deep-member.json", body)

    # Then only the deep object is rejected; the 30 others are output
    output = output_of(execution)
    assert (output["records"], output["rejected"]) == (30, 1)
    assert len(pipeline.read_object(output["key"]).splitlines()) == 30


def test_duplicate_and_empty_header_names_keep_every_column(pipeline: LocalPipeline) -> None:
    # Given a CSV header with a repeated and an empty column name
    body = b"a,a,,b\r\n1,2,3,4\r\n5,6,7,8\r\n"

    # When it runs
    execution = run_upload(pipeline, "dup-header.csv", body)

    # Then both records keep all four columns under distinct names (lineage fields aside)
    output = output_of(execution)
    records = [json.loads(line) for line in pipeline.read_object(output["key"]).splitlines()]
    assert len(records) == 2
    for record in records:
        columns = [name for name in record if not name.startswith("_")]
        assert len(columns) == len(set(columns)) == 4


@pytest.mark.parametrize(
    ("name", "head", "tail"),
    [("big-value.csv", b"id,value\n1,", b"\n2,ok\n"), ("big-line.jsonl", b'{"v": "', b'"}\n{"v": "ok"}\n')],
)
def test_a_single_50_mb_line_is_accounted_for(pipeline: LocalPipeline, name: str, head: bytes, tail: bytes) -> None:
    # Given a file of two records, the first 50 MB long
    body = head + b"x" * BIG_LINE + tail

    # When it runs
    execution = run_upload(pipeline, name, body)

    # Then it succeeds and both records are accounted for, the big one whole if output
    output = output_of(execution)
    assert output["records"] + output["rejected"] == 2
    manifest = json.loads(pipeline.read_object(output["manifestKey"]))
    assert manifest["counts"]["input"] == 2
    if output["rejected"] == 0:
        data = pipeline.read_object(output["key"])
        assert len(data.splitlines()) == 2
        assert len(data) > BIG_LINE


def test_moto_puts_the_key_into_object_created_events_unencoded(pipeline: LocalPipeline) -> None:
    # Reliance: moto 5.2.5 does not URL-encode detail.object.key (S3 does), so the emulator must.
    seen: list[dict[str, Any]] = []
    original = Rule.send_to_targets
    Rule.send_to_targets = lambda rule, event, transform_input=True: seen.append(event)  # type: ignore[method-assign,assignment,arg-type]
    try:
        pipeline.upload("incoming/a b+c.csv", b"a\n1\n")
    finally:
        Rule.send_to_targets = original  # type: ignore[method-assign]
    created = [event for event in seen if event["detail-type"] == "Object Created"]
    assert created[0]["detail"]["object"]["key"] == "incoming/a b+c.csv"


def test_a_key_with_spaces_unicode_and_percent_signs_runs_under_its_own_name(pipeline: LocalPipeline) -> None:
    # Given a key with spaces, a non-ASCII letter, a literal "%20" and a "+"
    key = "incoming/my file é %20 +x.csv"
    body = as_csv(rows(3))

    # When it is uploaded
    version = pipeline.upload(key, body)

    # Then the run receives the key URL-encoded, as S3 sends it through EventBridge...
    assert len(pipeline.started) == 1
    execution = pipeline.wait(pipeline.started[0], timeout=30)
    assert execution.input["key"] == quote_plus(key, safe="/") == "incoming/my+file+%C3%A9+%2520+%2Bx.csv"
    # ...and processes the object of that exact name
    output = output_of(execution)
    assert output["key"] == f"{PROCESSED_PREFIX}my file é %20 +x.csv/{version}/{DATA_FILE}"
    assert output["records"] == 3
    manifest = json.loads(pipeline.read_object(output["manifestKey"]))
    assert (manifest["source"]["key"], manifest["source"]["versionId"]) == (key, version)
    assert notification_statuses(pipeline) == ["SUCCEEDED"]


def test_an_s3_event_naming_a_literal_key_still_finds_it(pipeline: LocalPipeline) -> None:
    # Given an object whose key, taken literally, is what an S3 event carried (no decoding applies)
    key = "uploads/odd+name%41.csv"
    version = pipeline.upload(key, as_csv(rows(2)))

    # When a run is started for it as the S3 rule would start it
    arn = pipeline.client("stepfunctions").start_execution(
        stateMachineArn=pipeline.stack.state_machine_arn,
        name="literal-key",
        input=json.dumps({"bucket": pipeline.stack.bucket_name, "key": key, "versionId": version, "trigger": "s3"}),
    )["executionArn"]

    # Then the decoded name does not exist, and the literal one is processed
    output = output_of(pipeline.wait(arn, timeout=30))
    assert output["records"] == 2
    manifest = json.loads(pipeline.read_object(output["manifestKey"]))
    assert manifest["source"]["key"] == key


@pytest.mark.parametrize(
    "key",
    ["incoming.csv", "Incoming/a.csv", "incomingx/a.csv", "uploads/a.csv", "processed/incoming/a.csv", "staging/a.csv"],
)
def test_a_key_outside_incoming_starts_no_execution(pipeline: LocalPipeline, key: str) -> None:
    # When a file is put outside incoming/
    pipeline.upload(key, as_csv(rows(2)))

    # Then no execution exists
    executions = pipeline.client("stepfunctions").list_executions(stateMachineArn=pipeline.stack.state_machine_arn)
    assert executions["executions"] == []
    assert pipeline.started == []


def test_an_object_deleted_for_good_before_fetch_is_rejected(pipeline: LocalPipeline) -> None:
    # Given the object's version is deleted once Validate accepted it, before Fetch reads it
    key, body = INCOMING_PREFIX + "gone.csv", as_csv(rows(3))
    s3, bucket = pipeline.client("s3"), pipeline.stack.bucket_name

    def delete_version(payload: dict[str, Any]) -> None:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=payload["source"]["versionId"])

    pipeline.lambdas.before_invoke(pipeline.function_for_state("Fetch"), delete_version)

    # When it runs
    execution = run_upload(pipeline, "gone.csv", body)

    # Then the run is rejected as ObjectNotFound at Fetch, once, with nothing committed
    assert (execution.status, execution.error) == ("FAILED", "ObjectNotFound")
    assert failed_attempts(pipeline, execution.arn) == ["ObjectNotFound"]
    assert state(pipeline, execution.arn, "Fetch").error == "ObjectNotFound"
    assert [n.attributes for n in pipeline.notifications()] == [{"status": "REJECTED", "error": "ObjectNotFound"}]
    assert pipeline.object_keys(PROCESSED_PREFIX) == []


def test_an_object_deleted_with_a_delete_marker_mid_run_is_still_processed(pipeline: LocalPipeline) -> None:
    # Given the key is deleted (a delete marker on the versioned bucket) before Fetch
    key = INCOMING_PREFIX + "marked.csv"
    s3, bucket = pipeline.client("s3"), pipeline.stack.bucket_name
    pipeline.lambdas.before_invoke(
        pipeline.function_for_state("Fetch"), lambda _payload: s3.delete_object(Bucket=bucket, Key=key)
    )

    # When it runs
    execution = run_upload(pipeline, "marked.csv", as_csv(rows(3)))

    # Then the pinned version, which still exists, is processed whole
    assert output_of(execution)["records"] == 3
    assert notification_statuses(pipeline) == ["SUCCEEDED"]


def test_an_object_overwritten_during_a_run_is_processed_as_it_was(pipeline: LocalPipeline) -> None:
    # Given the key is overwritten with a 5-record version while the 3-record version is transformed
    key = INCOMING_PREFIX + "moving.csv"
    overwritten: list[str] = []

    def overwrite(_payload: dict[str, Any]) -> None:
        if not overwritten:
            overwritten.append(pipeline.upload(key, as_csv(rows(5))))

    pipeline.lambdas.before_invoke(pipeline.function_for_state("TransformCsv"), overwrite)

    # When version 1 runs
    first_version = pipeline.upload(key, as_csv(rows(3)))
    first = pipeline.wait(pipeline.started[0], timeout=30)

    # Then its output is version 1's records, under version 1
    output = output_of(first)
    assert output["records"] == 3
    assert f"/{first_version}/" in output["key"]
    # And the overwrite started its own run, which processed version 2
    assert len(pipeline.started) == 2
    second = output_of(pipeline.wait(pipeline.started[1], timeout=30))
    assert second["records"] == 5
    assert f"/{overwritten[0]}/" in second["key"]
    assert sorted(data_keys(pipeline)) == sorted([output["key"], second["key"]])
    assert notification_statuses(pipeline) == ["SUCCEEDED", "SUCCEEDED"]


@pytest.mark.parametrize(("extra_bytes", "error"), [(0, None), (1, "ObjectTooLarge")])
def test_the_size_limit_is_a_setting_enforced_to_the_byte(
    pipeline: LocalPipeline, extra_bytes: int, error: str | None
) -> None:
    # Given Validate deployed with a 2,000-byte limit
    limit = 2000
    pipeline.lambdas.set_environment(pipeline.function_for_state("Validate"), {"MAX_OBJECT_BYTES": str(limit)})
    short = as_csv([*rows(2), {"id": "9", "name": "", "city": "Oslo"}])
    body = as_csv([*rows(2), {"id": "9", "name": "n" * (limit + extra_bytes - len(short)), "city": "Oslo"}])
    assert len(body) == limit + extra_bytes

    # When a file of exactly the limit, or one byte more, runs
    execution = run_upload(pipeline, "sized.csv", body)

    # Then the limit passes and one byte more is rejected as ObjectTooLarge
    if error is None:
        assert execution.status == "SUCCEEDED", execution.cause
    else:
        assert_rejected(pipeline, execution, INCOMING_PREFIX + "sized.csv", body, error)
        assert f"the limit is {limit} bytes" in str(execution.cause)


# -- 3. faults ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state_name", "service", "operation", "code", "times"),
    [
        ("Validate", "s3", "HeadObject", "SlowDown", 1),
        ("Fetch", "s3", "GetObject", "SlowDown", 2),
        ("TransformCsv", "s3", "GetObject", None, 1),
        ("TransformCsv", "s3", "PutObject", "ServiceUnavailable", 1),
        ("WriteOutput", "s3", "CopyObject", "SlowDown", 1),
        ("WriteOutput", "s3", "PutObject", "InternalError", 2),
        ("Notify", "s3", "PutObject", "SlowDown", 1),
        ("Notify", "sns", "Publish", "Throttling", 2),
        ("Notify", "sns", "Publish", "InternalError", 1),
    ],
)
def test_throttling_and_timeouts_in_a_handler_s_aws_calls_are_retried(
    pipeline: LocalPipeline, state_name: str, service: str, operation: str, code: str | None, times: int
) -> None:
    # Given one step's AWS call is throttled, fails inside the service or times out, `times` times
    function = pipeline.function_for_state(state_name)
    if code is None:
        pipeline.sdk_faults.read_timeout(function, service, operation, times=times)
    else:
        pipeline.sdk_faults.service_error(function, service, operation, code=code, times=times)

    # When a file runs
    execution = run_upload(pipeline, "people.csv", as_csv(rows(3)))

    # Then the step failed with the retried TransientError each time, and the run succeeded
    assert len(pipeline.sdk_faults.injected) == times
    assert failed_attempts(pipeline, execution.arn) == ["TransientError"] * times
    assert state(pipeline, execution.arn, state_name).attempts == times + 1
    output = output_of(execution)
    assert output["records"] == 3
    # And exactly one output and one success notification exist
    assert data_keys(pipeline) == [output["key"]]
    assert notification_statuses(pipeline) == ["SUCCEEDED"]


def test_a_failed_part_upload_leaves_no_partial_object(pipeline: LocalPipeline) -> None:
    # Given a transform output larger than one multipart part, whose second part upload is throttled
    function = pipeline.function_for_state("TransformJsonl")
    pipeline.sdk_faults.service_error(function, "s3", "CompleteMultipartUpload", code="SlowDown")
    body = jsonl([{"n": n, "pad": "p" * 200} for n in range(45_000)])

    # When it runs
    execution = run_upload(pipeline, "large.jsonl", body)

    # Then the throttled attempt aborted its upload, the retry committed one whole output
    assert failed_attempts(pipeline, execution.arn) == ["TransientError"]
    output = output_of(execution)
    assert output["records"] == 45_000
    uploads = pipeline.client("s3").list_multipart_uploads(Bucket=pipeline.stack.bucket_name)
    assert uploads.get("Uploads", []) == []
    assert len(pipeline.read_object(output["key"]).splitlines()) == 45_000
    assert notification_statuses(pipeline) == ["SUCCEEDED"]


@pytest.mark.parametrize("error", ["Lambda.ServiceException", "Lambda.TooManyRequestsException"])
def test_lambda_service_errors_are_retried(pipeline: LocalPipeline, error: str) -> None:
    # Given the Lambda service fails the WriteOutput invocation twice
    pipeline.lambdas.inject_fault(pipeline.function_for_state("WriteOutput"), error=error, times=2)

    # When a file runs
    execution = run_upload(pipeline, "people.jsonl", jsonl(rows(3)))

    # Then it succeeded on the third attempt with one output and one notification
    assert failed_attempts(pipeline, execution.arn) == [error, error]
    assert state(pipeline, execution.arn, "WriteOutput").attempts == 3
    assert data_keys(pipeline) == [output_of(execution)["key"]]
    assert notification_statuses(pipeline) == ["SUCCEEDED"]


@pytest.mark.parametrize("error", ["States.Timeout", "Sandbox.Timedout"])
def test_a_handler_timeout_fails_the_run_there_and_a_redrive_completes_it(pipeline: LocalPipeline, error: str) -> None:
    # Given WriteOutput times out once
    pipeline.lambdas.inject_fault(pipeline.function_for_state("WriteOutput"), error=error)

    # When a file runs
    execution = run_upload(pipeline, "people.csv", as_csv(rows(3)))

    # Then the run failed at WriteOutput, announced once, with no committed output
    assert (execution.status, execution.error) == ("FAILED", error)
    last = pipeline.visits(execution.arn)[-1]
    assert (last.name, last.status) == ("WriteOutput", FAILED)
    assert notification_statuses(pipeline) == ["FAILED"]
    assert pipeline.object_keys(PROCESSED_PREFIX) == []

    # When it is redriven
    pipeline.redrive(execution.arn)
    redriven = pipeline.wait(execution.arn, timeout=30)

    # Then it completes from WriteOutput: one output, one success notification
    assert data_keys(pipeline) == [output_of(redriven)["key"]]
    assert notification_statuses(pipeline) == ["SUCCEEDED"]


def test_a_commit_that_keeps_failing_leaves_no_manifest_and_a_redrive_completes_it(pipeline: LocalPipeline) -> None:
    # Given the manifest write of WriteOutput fails on every attempt (1 try + 4 retries)
    function = pipeline.function_for_state("WriteOutput")
    pipeline.sdk_faults.service_error(function, "s3", "PutObject", code="SlowDown", times=5)
    body = as_csv(rows(3))

    # When a file runs
    execution = run_upload(pipeline, "people.csv", body)

    # Then the run failed at WriteOutput; what was copied is whole, and no manifest says it is committed
    assert (execution.status, execution.error) == ("FAILED", "TransientError")
    assert pipeline.visits(execution.arn)[-1].name == "WriteOutput"
    committed = pipeline.object_keys(PROCESSED_PREFIX)
    assert not [key for key in committed if key.endswith("/" + MANIFEST_FILE)]
    (staged,) = [key for key in pipeline.object_keys(STAGING_PREFIX) if key.endswith("/" + DATA_FILE)]
    for key in committed:
        assert key.endswith("/" + DATA_FILE) or key.endswith("/rejects.jsonl")
        if key.endswith("/" + DATA_FILE):
            assert pipeline.read_object(key) == pipeline.read_object(staged)

    # When it is redriven
    pipeline.redrive(execution.arn)

    # Then the commit completes with its manifest, announced once as a success
    output = output_of(pipeline.wait(execution.arn, timeout=30))
    assert json.loads(pipeline.read_object(output["manifestKey"]))["counts"]["records"] == 3
    assert notification_statuses(pipeline) == ["FAILED", "SUCCEEDED"]


# -- 4. duplicates --------------------------------------------------------------------------


def object_created_event(pipeline: LocalPipeline, key: str, version: str) -> dict[str, Any]:
    head = pipeline.client("s3").head_object(Bucket=pipeline.stack.bucket_name, Key=key, VersionId=version)
    return {
        "Source": "aws.s3",
        "DetailType": "Object Created",
        "Resources": [f"arn:aws:s3:::{pipeline.stack.bucket_name}"],
        "Detail": json.dumps(
            {
                "version": "0",
                "bucket": {"name": pipeline.stack.bucket_name},
                "object": {"key": key, "size": head["ContentLength"], "etag": head["ETag"], "version-id": version},
                "reason": "PutObject",
            }
        ),
    }


def test_the_same_s3_event_delivered_again_gives_one_output_and_one_notification(pipeline: LocalPipeline) -> None:
    # Given an upload whose run has ended
    key = INCOMING_PREFIX + "again.csv"
    first = run_upload(pipeline, "again.csv", as_csv(rows(3)))
    output = output_of(first)
    version = first.input["versionId"]

    # When EventBridge delivers the same "Object Created" event again (at-least-once delivery)
    pipeline.client("events").put_events(Entries=[object_created_event(pipeline, key, version)])

    # Then no second execution starts here (the engine names a rule's execution after the object
    # version; on AWS a redelivery starts a second one, which the next test covers), and there is
    # still one output and one notification
    executions = pipeline.client("stepfunctions").list_executions(stateMachineArn=pipeline.stack.state_machine_arn)
    assert [item["executionArn"] for item in executions["executions"]] == [first.arn]
    assert data_keys(pipeline) == [output["key"]]
    assert notification_statuses(pipeline) == ["SUCCEEDED"]


def test_two_executions_for_one_s3_event_give_one_output_and_one_notification(pipeline: LocalPipeline) -> None:
    # Given one upload, and a second execution with the same input started at the same time
    # (on AWS, EventBridge names each execution itself, so a redelivered event starts another)
    pipeline.upload(INCOMING_PREFIX + "twice.csv", as_csv(rows(3)))
    sfn = pipeline.client("stepfunctions")
    first_input = sfn.describe_execution(executionArn=pipeline.started[0])["input"]
    second_arn = sfn.start_execution(
        stateMachineArn=pipeline.stack.state_machine_arn, name="redelivered", input=first_input
    )["executionArn"]

    # When both run to the end
    runs = [pipeline.wait(arn, timeout=30) for arn in (pipeline.started[0], second_arn)]

    # Then both succeed: one processed the version, the other found it taken in the ledger and
    # ended at AlreadyHandled; there is one output and one notification
    assert [run.status for run in runs] == ["SUCCEEDED", "SUCCEEDED"]
    ends = sorted(pipeline.visits(run.arn)[-1].name for run in runs)
    assert ends == ["AlreadyHandled", "Notify"]
    (processed,) = [run for run in runs if pipeline.visits(run.arn)[-1].name == "Notify"]
    assert data_keys(pipeline) == [output_of(processed)["key"]]
    assert notification_statuses(pipeline) == ["SUCCEEDED"]


def test_a_retried_api_request_gives_one_execution_output_and_notification(pipeline: LocalPipeline) -> None:
    # Given a file under uploads/ and the local API in front of the embedded environment
    pipeline.upload("uploads/retried.csv", as_csv(rows(3)))
    api = local_api(pipeline)
    body = json.dumps({"key": "uploads/retried.csv"}).encode()

    # When the same request is sent three times with one Idempotency-Key, the last after the run ended
    answers = [api.start(body, "client-retry-1") for _ in range(2)]
    execution = pipeline.wait(answers[0].body["executionArn"], timeout=30)
    answers.append(api.start(body, "client-retry-1"))

    # Then every answer names the one execution (202 while it runs, 409 once it has ended)
    assert {answer.body["executionArn"] for answer in answers} == {execution.arn}
    assert [answer.status for answer in answers][-1] == 409
    executions = pipeline.client("stepfunctions").list_executions(stateMachineArn=pipeline.stack.state_machine_arn)
    assert len(executions["executions"]) == 1
    # And there is one output and one success notification
    assert data_keys(pipeline) == [output_of(execution)["key"]]
    assert notification_statuses(pipeline) == ["SUCCEEDED"]


def test_concurrent_duplicate_runs_never_notify_twice(pipeline: LocalPipeline) -> None:
    # Given five executions of one S3 event started at once (the notification claim races)
    pipeline.upload(INCOMING_PREFIX + "storm.jsonl", jsonl(rows(3)))
    sfn = pipeline.client("stepfunctions")
    run_input = sfn.describe_execution(executionArn=pipeline.started[0])["input"]
    arns = [pipeline.started[0]]
    lock = threading.Lock()

    def start(index: int) -> None:
        arn = pipeline.client("stepfunctions").start_execution(
            stateMachineArn=pipeline.stack.state_machine_arn, name=f"storm-{index}", input=run_input
        )["executionArn"]
        with lock:
            arns.append(arn)

    threads = [threading.Thread(target=start, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # When all end
    runs = [pipeline.wait(arn, timeout=60) for arn in arns]

    # Then all succeeded on one output, and one success notification was published
    assert [run.status for run in runs] == ["SUCCEEDED"] * 5
    assert len(data_keys(pipeline)) == 1
    assert notification_statuses(pipeline) == ["SUCCEEDED"]
