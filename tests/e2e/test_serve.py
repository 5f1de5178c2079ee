"""``pipeline serve`` as a new user meets it: started as a process, driven by real clients."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import BIN, SAMPLE, Served, api_name, finished, serving, signed, wait_until
from tests.scenarios import CSV_TO_JSONL_STATES
from workflow.api_contract import caller_of, caller_prefix
from workflow.deployment import OUTPUT_ALARM_TOPIC, STACK_NAME


def test_aws_cli_upload_starts_exactly_one_execution_that_succeeds(served: Served) -> None:
    before = set(served.executions())
    result = served.run_cli(str(BIN / "aws"), "s3", "cp", str(SAMPLE), f"s3://{served.bucket}/incoming/cli.csv")
    assert result.returncode == 0, result.stderr

    (name,) = wait_until(lambda: set(served.executions()) - before, "an execution")
    assert wait_until(lambda: finished(served, name), name) == "SUCCEEDED"
    arn = served.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    described = served.run_cli(str(BIN / "aws"), "stepfunctions", "describe-execution", "--execution-arn", arn)
    assert json.loads(described.stdout)["status"] == "SUCCEEDED"
    history = served.run_cli(str(BIN / "aws"), "stepfunctions", "get-execution-history", "--execution-arn", arn)
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in json.loads(history.stdout)["events"]
        if "stateEnteredEventDetails" in e
    ]
    assert entered == CSV_TO_JSONL_STATES
    output = json.loads(json.loads(described.stdout)["output"])["output"]
    assert output["records"] == 40
    wait_until(lambda: any("Pipeline run succeeded: cli.csv" in line for line in served.output), "the notification")


def test_signed_post_starts_a_run_and_get_describes_it(served: Served) -> None:
    served.client("s3").upload_file(str(SAMPLE), served.bucket, "uploads/api.csv")
    status, body = signed(
        served,
        "POST",
        "executions",
        {"key": "uploads/api.csv", "processingType": "batch"},
        {"Idempotency-Key": "e2e-post-1"},
    )
    assert status == 202, body
    name = api_name(served, "e2e-post-1")
    assert body["name"] == name
    assert body["executionArn"].endswith(":" + name)
    assert wait_until(lambda: finished(served, name), "the API run") == "SUCCEEDED"
    status, described = signed(served, "GET", "executions/" + name)
    assert (status, described["status"]) == (200, "SUCCEEDED")
    assert described["output"]["source"]["processingType"] == "batch"


def test_the_same_idempotency_key_twice_starts_one_execution(served: Served) -> None:
    served.client("s3").upload_file(str(SAMPLE), served.bucket, "uploads/twice.csv")
    first = signed(served, "POST", "executions", {"key": "uploads/twice.csv"}, {"Idempotency-Key": "e2e-twice"})
    second = signed(served, "POST", "executions", {"key": "uploads/twice.csv"}, {"Idempotency-Key": "e2e-twice"})
    assert first[0] == 202
    assert second[0] in (202, 409)
    assert second[1]["executionArn"] == first[1]["executionArn"]
    name = api_name(served, "e2e-twice")
    assert [started for started in served.executions() if started == name] == [name]


def test_an_idempotency_key_in_the_query_string_names_the_run_as_the_header_does(served: Served) -> None:
    # Given a file to run (the deployed template reads the key with $input.params: query string, then header)
    served.client("s3").upload_file(str(SAMPLE), served.bucket, "uploads/query.csv")

    # When it is posted with the key in the query string, and again with another in the header
    status, body = signed(
        served, "POST", "executions?Idempotency-Key=e2e-query-1", {"key": "uploads/query.csv"}, {"Idempotency-Key": "x"}
    )

    # Then the run is named after the query string's key
    assert status == 202, body
    assert body["name"] == api_name(served, "e2e-query-1")


def test_an_empty_idempotency_key_is_none_and_the_run_is_named_after_the_request(served: Served) -> None:
    # Given a file to run (the template takes an empty key for no key)
    served.client("s3").upload_file(str(SAMPLE), served.bucket, "uploads/empty-key.csv")

    # When it is posted twice with an empty Idempotency-Key
    answers = [
        signed(served, "POST", "executions", {"key": "uploads/empty-key.csv"}, {"Idempotency-Key": ""})
        for _ in range(2)
    ]

    # Then each starts a run of its own, named in the caller's namespace
    assert [status for status, _ in answers] == [202, 202]
    names = [body["name"] for _, body in answers]
    assert names[0] != names[1]
    assert all(name.startswith(caller_prefix(caller_of(served.env["AWS_ACCESS_KEY_ID"]))) for name in names)


@pytest.mark.parametrize(
    ("body", "headers", "fragment"),
    [
        ("{not json", {}, "not JSON"),
        ({"bucket": "x"}, {}, "'key' is a required property"),
        ({"key": "incoming/../etc/passwd"}, {}, "key must be a file under incoming/ or uploads/"),
        ({"key": "incoming/a.csv", "processingType": "urgent"}, {}, "processingType must be one of"),
        ({"key": "incoming/a.csv", "extra": 1}, {}, "Additional properties are not allowed"),
        ({"key": "incoming/a.csv"}, {"Idempotency-Key": "bad key!"}, "Idempotency-Key must match"),
    ],
)
def test_bad_requests_get_400_with_a_message_and_start_nothing(
    served: Served, body: Any, headers: dict[str, str], fragment: str
) -> None:
    before = served.executions()
    status, answer = signed(served, "POST", "executions", body, headers)
    assert status == 400
    assert fragment in answer["message"]
    assert served.executions().keys() == before.keys()


def test_unsigned_requests_are_refused(served: Served) -> None:
    request = urllib.request.Request(served.api_url + "executions", data=b'{"key": "incoming/a.csv"}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 403


def test_an_object_outside_incoming_starts_nothing(served: Served) -> None:
    before = served.executions()
    served.client("s3").upload_file(str(SAMPLE), served.bucket, "elsewhere/orders.csv")
    served.client("s3").upload_file(str(SAMPLE), served.bucket, "uploads/not-a-trigger.csv")
    time.sleep(0.5)  # the S3 rule is synchronous here: give a wrong delivery its chance to show
    assert served.executions().keys() == before.keys()


def test_pipeline_submit_finds_the_stack_by_name_and_starts_a_run(served: Served) -> None:
    result = served.run_cli(str(BIN / "pipeline"), "submit", str(SAMPLE), "--idempotency-key", "e2e-submit")
    assert result.returncode == 0, result.stderr
    name = api_name(served, "e2e-submit")
    assert result.stdout.strip().endswith(":execution:" + served.state_machine_arn.rsplit(":", 1)[1] + ":" + name)
    assert wait_until(lambda: finished(served, name), "the submitted run") == "SUCCEEDED"
    again = served.run_cli(str(BIN / "pipeline"), "submit", str(SAMPLE), "--idempotency-key", "e2e-submit")
    # The retry names the same run; it has ended, so it is a 409 and the command says so (exit 1)
    assert again.returncode == 1
    assert again.stdout.strip() == result.stdout.strip()
    assert "already exists" in again.stderr


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 Credential=testing/x, SignedHeaders=host, Signature=abc",
        "AWS4-HMAC-SHA256 Credential=someone/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, "
        "Signature=abc",
        "Bearer token",
    ],
)
def test_malformed_or_foreign_signatures_are_refused_with_403(served: Served, authorization: str) -> None:
    request = urllib.request.Request(
        served.api_url + "executions",
        data=b'{"key": "incoming/a.csv"}',
        headers={"Authorization": authorization, "X-Amz-Date": "20260101T000000Z"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 403
    assert "message" in json.loads(refused.value.read())


def test_submit_pins_the_uploaded_version(served: Served, tmp_path: Path) -> None:
    # Given two different files with the same name, submitted one after the other
    first, second = tmp_path / "a" / "same.csv", tmp_path / "b" / "same.csv"
    for path, rows in ((first, 2), (second, 5)):
        path.parent.mkdir()
        path.write_text("n\n" + "".join(f"{i}\n" for i in range(rows)))
    for path, key in ((first, "pin-1"), (second, "pin-2")):
        result = served.run_cli(str(BIN / "pipeline"), "submit", str(path), "--idempotency-key", key)
        assert result.returncode == 0, result.stderr

    # Then each run processed the bytes it uploaded, not the latest version of the key
    records = {}
    for key in ("pin-1", "pin-2"):
        name = api_name(served, key)
        assert wait_until(lambda name=name: finished(served, name), name) == "SUCCEEDED"
        status, described = signed(served, "GET", f"executions/{name}")
        assert status == 200
        records[key] = described["output"]["output"]["records"]
    assert records == {"pin-1": 2, "pin-2": 5}


def test_set_alarm_state_through_the_endpoint_reaches_a_subscriber_of_the_alarm_topic(served: Served) -> None:
    # Given a temporary SQS subscription on the alarm topic, found by the stack's outputs (as `pipeline smoke` does)
    stack = served.client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    topic = {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}[OUTPUT_ALARM_TOPIC]
    sqs = served.client("sqs")
    queue = sqs.create_queue(QueueName="e2e-alarm-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    served.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    cloudwatch = served.client("cloudwatch")
    name = next(
        alarm["AlarmName"] for alarm in cloudwatch.describe_alarms()["MetricAlarms"] if topic in alarm["AlarmActions"]
    )

    # When the AWS CLI sets the alarm to ALARM (from OK: actions run on a change of state only)
    for state in ("OK", "ALARM"):
        result = served.run_cli(
            str(BIN / "aws"), "cloudwatch", "set-alarm-state",
            "--alarm-name", name, "--state-value", state, "--state-reason", f"e2e {state}",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr

    # Then CloudWatch's alarm message reaches the subscriber
    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(json.loads(message["Body"])["Message"]) for message in messages]

    (message,) = wait_until(received, "the alarm message on the subscription")
    assert (message["AlarmName"], message["NewStateValue"], message["NewStateReason"]) == (name, "ALARM", "e2e ALARM")
    # And serve prints it, and the alarm's history shows the action carried out
    wait_until(lambda: any(f"alarm: ALARM  {name}" in line for line in served.output), "serve's alarm line")
    actions = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
    assert actions[0]["HistorySummary"] == f"Successfully executed action {topic}"


def test_ctrl_c_stops_serve_whichever_of_its_threads_the_kernel_hands_it_to() -> None:
    # Given serve running: the kernel may hand a signal sent to the process to any of its threads,
    # and Python runs the handler in the main thread only
    with serving() as server:
        process = server.process
        others = [int(tid) for tid in os.listdir(f"/proc/{process.pid}/task") if int(tid) != process.pid]

        # When Ctrl-C reaches one of the other threads
        assert ctypes.CDLL(None, use_errno=True).tgkill(process.pid, others[0], signal.SIGINT) == 0

        # Then serve stops, as for a Ctrl-C that reaches its main thread (it waited for ever before)
        assert process.wait(timeout=30) == 0
        wait_until(lambda: any(line.startswith("Stopped.") for line in server.output), "serve's last line")
