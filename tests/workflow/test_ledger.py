"""The ledger of sources, written by the workflow itself: one item per source version that says
what happened to it, whichever way the run ended, and that an older run never overwrites."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
from moto.dynamodb.models import DynamoDBBackend

from tasks.common.layout import INCOMING_PREFIX
from tests.scenarios import SOURCES, ledger_item, run_upload, wait_for_ledger
from workflow.ledger import (
    BY_RUN,
    FAILED,
    KEY_REFUSED,
    PARTITION_KEY,
    PARTITION_KEY_MAX_BYTES,
    REJECTED,
    SORT_KEY,
    SUCCEEDED,
    TRANSIENT_ERRORS,
    LedgerItem,
    request_source_id,
    source_id,
)
from workflow.local.environment import LocalPipeline

ORDERS = Path(__file__).resolve().parents[2] / "samples" / "orders.csv"


def code_version(pipeline: LocalPipeline) -> str:
    return pipeline.stack.substitutions["CodeVersion"]


def digest_item(pipeline: LocalPipeline, key: str, version_id: str) -> LedgerItem | None:
    """The ledger's item of a refused request recorded under its key's digest, if there is one."""
    (table,) = pipeline.stack.tables
    digest = request_source_id(pipeline.stack.bucket_name, key)
    assert digest.startswith(f"{pipeline.stack.bucket_name}/sha256:")
    found = pipeline.client("dynamodb").get_item(
        TableName=table.name, Key={PARTITION_KEY: {"S": digest}, SORT_KEY: {"S": version_id}}, ConsistentRead=True
    )
    return LedgerItem.from_dynamodb(found["Item"]) if "Item" in found else None


def test_a_successful_run_records_its_output_and_the_versions_that_made_it(pipeline: LocalPipeline) -> None:
    # Given the sample orders uploaded into the dataset folder that has settings (a contract)
    key = INCOMING_PREFIX + "orders/orders.csv"
    body = ORDERS.read_bytes()

    # When its run succeeds
    pipeline.upload(key, body)
    execution = pipeline.wait(pipeline.started[0], timeout=30)

    # Then the ledger has one item for that version, SUCCEEDED, with the committed output
    version = execution.input["versionId"]
    item = ledger_item(pipeline, key, version)
    assert item is not None
    assert (execution.status, item.status, item.dataset) == ("SUCCEEDED", SUCCEEDED, "orders")
    assert execution.output is not None
    assert item.output == {
        "bucket": pipeline.stack.bucket_name,
        "key": execution.output["output"]["key"],
        "rejectsKey": execution.output["output"]["rejectsKey"],
        "manifestKey": execution.output["output"]["manifestKey"],
        "records": execution.output["output"]["records"],
        "rejected": execution.output["output"]["rejected"],
    }
    # And the code and contract versions, the size, the etag and the one execution
    assert item.code_version == code_version(pipeline)
    assert item.contract_version is not None
    assert item.contract_version.startswith("sha256:")
    assert (item.size, item.etag) == (len(body), execution.output["source"]["etag"])
    assert item.executions == (execution.arn,)
    (entry,) = item.runs
    assert (entry.execution_arn, entry.trigger, entry.status) == (execution.arn, "s3", SUCCEEDED)
    assert item.run_started_at == entry.started_at
    assert item.first_seen_at is not None
    assert item.succeeded_at is not None


def test_a_rejection_is_recorded_with_its_error_and_message(pipeline: LocalPipeline) -> None:
    # When a JSON Lines file whose lines are mostly broken is rejected by the transform
    execution = run_upload(pipeline, "broken.jsonl", b'{"a": 1}\nnot json\nnor this\n')

    # Then the ledger says REJECTED, and why
    item = ledger_item(pipeline, INCOMING_PREFIX + "broken.jsonl", execution.input["versionId"])
    assert item is not None
    assert (execution.error, item.status, item.error) == ("TooManyRejects", REJECTED, "TooManyRejects")
    assert item.message is not None
    assert "rejected" in item.message
    assert item.output is None
    assert [entry.status for entry in item.runs] == [REJECTED]


def test_a_request_validate_refuses_is_recorded_under_the_key_s3_sent(pipeline: LocalPipeline) -> None:
    # Given a file whose name is not a supported type and needs URL-encoding
    key = INCOMING_PREFIX + "read me+now.txt"

    # When its run is rejected by Validate (before the key is decoded)
    execution = run_upload(pipeline, "read me+now.txt", b"hello\n")

    # Then the rejection is recorded under the key as the S3 event carried it, marked so
    assert execution.error == "UnsupportedFormat"
    item = ledger_item(pipeline, quote_plus(key, safe="/"), execution.input["versionId"])
    assert item is not None
    assert (item.status, item.error, item.key_url_encoded) == (REJECTED, "UnsupportedFormat", True)
    assert item.executions == (execution.arn,)


def test_a_refused_request_whose_encoded_key_is_too_long_for_a_partition_key_is_recorded_under_its_digest(
    pipeline: LocalPipeline,
) -> None:
    # Given a valid key of 693 bytes whose URL-encoding (2,053 bytes) and the bucket name are longer
    # than DynamoDB's partition key may be (2,048 bytes)
    name = "\u00e9" * 340 + ".txt"
    encoded = quote_plus(INCOMING_PREFIX + name, safe="/")
    bucket = pipeline.stack.bucket_name
    assert len(source_id(bucket, encoded).encode()) > PARTITION_KEY_MAX_BYTES

    # When its run is rejected by Validate (before the key is decoded)
    execution = run_upload(pipeline, name, b"hello\n")

    # Then the run ends Rejected, not FAILED at the ledger: DynamoDB refused the long key, and the
    # same write went under the key's digest
    assert execution.error == "UnsupportedFormat"
    history = pipeline.visits(execution.arn)
    visits = [(visit.name, visit.status) for visit in history]
    assert visits[-5:] == [
        ("RecordRequestRejected", "CAUGHT"),
        ("KeyTooLongForLedger", "SUCCEEDED"),
        ("RecordRequestRejectedByDigest", "SUCCEEDED"),
        ("NotifyRejected", "SUCCEEDED"),
        ("Rejected", "FAILED"),
    ]
    # (named as Step Functions names DynamoDB's ValidationException, which its API does not model)
    refused = next(visit for visit in history if visit.name == "RecordRequestRejected")
    assert refused.error == KEY_REFUSED == "DynamoDB.AmazonDynamoDBException"
    digest = request_source_id(bucket, encoded)
    assert digest == f"{bucket}/sha256:{hashlib.sha256(encoded.encode()).hexdigest()}"
    item = digest_item(pipeline, encoded, execution.input["versionId"])
    assert item is not None
    assert (item.status, item.error, item.key, item.key_url_encoded) == (REJECTED, "UnsupportedFormat", encoded, True)
    assert item.executions == (execution.arn,)


def test_an_api_request_whose_key_is_too_long_for_a_partition_key_is_recorded_under_its_digest(
    pipeline: LocalPipeline,
) -> None:
    # Given an API request naming a version of a key of 700 three-byte characters (the API takes
    # 1,024 characters; Validate refuses more than 1,024 bytes)
    key = INCOMING_PREFIX + "\u20ac" * 700 + ".csv"
    request = {"bucket": pipeline.stack.bucket_name, "key": key, "versionId": "v1", "trigger": "api"}

    # When its run is rejected
    sfn = pipeline.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=pipeline.stack.state_machine_arn, input=json.dumps(request))
    execution = pipeline.wait(arn["executionArn"], timeout=30)

    # Then the rejection is recorded under the digest of the key as the request carried it
    assert execution.error == "ValidationError"
    item = digest_item(pipeline, key, "v1")
    assert item is not None
    assert (item.status, item.key, item.key_url_encoded) == (REJECTED, key, False)


def test_a_refused_request_s_record_dynamodb_refuses_otherwise_fails_the_run_where_a_redrive_writes_it(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given DynamoDB refusing every write with an error its API does not model (not the key's size)
    def update_item(backend: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        raise DynamodbException(ERROR_TYPE_PREFIX + "AccessDeniedException", message="not allowed by the test")

    monkeypatch.setattr(DynamoDBBackend, "update_item", update_item)

    # When a request Validate refuses is to be recorded
    execution = run_upload(pipeline, "notes.txt", b"hello\n")

    # Then the write is tried once more, uncaught, and the run fails there with DynamoDB's error;
    # nothing is filed under a digest the version's key would never be looked up by
    assert (execution.status, execution.error) == ("FAILED", KEY_REFUSED)
    assert "not allowed by the test" in str(execution.cause)
    history = pipeline.visits(execution.arn)
    assert [(visit.name, visit.status) for visit in history][-3:] == [
        ("RecordRequestRejected", "CAUGHT"),
        ("KeyTooLongForLedger", "SUCCEEDED"),
        ("RecordRequestRejectedAgain", "FAILED"),
    ]
    # (each after the write's retries: the refusal might have passed)
    assert [visit.attempts for visit in history[-3::2]] == [7, 7]
    version = execution.input["versionId"]
    assert ledger_item(pipeline, INCOMING_PREFIX + "notes.txt", version) is None

    # And once DynamoDB takes writes again, a redrive writes the record and ends the run Rejected
    monkeypatch.undo()
    pipeline.redrive(execution.arn)
    redriven = pipeline.wait(execution.arn, timeout=30)
    assert (redriven.status, redriven.error) == ("FAILED", "UnsupportedFormat")
    assert [visit.name for visit in pipeline.visits(execution.arn)][-3:] == [
        "RecordRequestRejectedAgain",
        "NotifyRejected",
        "Rejected",
    ]
    item = ledger_item(pipeline, INCOMING_PREFIX + "notes.txt", version)
    assert item is not None
    assert (item.status, item.error) == (REJECTED, "UnsupportedFormat")


@pytest.mark.parametrize(
    ("code", "status", "named"),
    [
        ("ProvisionedThroughputExceededException", 400, "DynamoDB.ProvisionedThroughputExceededException"),
        ("ThrottlingException", 400, "DynamoDB.ThrottlingException"),
        ("RequestLimitExceeded", 400, "DynamoDB.RequestLimitExceededException"),
        ("InternalServerError", 500, "DynamoDB.InternalServerErrorException"),
        # A code DynamoDB's API does not model: retried too (it may be a 503 or a throttle)
        ("AccessDeniedException", 400, "DynamoDB.AmazonDynamoDBException"),
    ],
)
def test_a_ledger_write_dynamodb_throttles_or_fails_on_its_side_is_retried_under_the_name_aws_gives_it(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch, code: str, status: int, named: str
) -> None:
    # Given DynamoDB answering the first ledger write with a throttling or server error
    original = DynamoDBBackend.update_item
    refused: list[str] = []

    def update_item(backend: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        if not refused:
            refused.append(code)
            error = DynamodbException(ERROR_TYPE_PREFIX + code, message="refused by the test")
            error.code = status
            raise error
        return original(backend, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", update_item)

    # When a file runs
    execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])

    # Then that write failed under the name Step Functions gives the error (the Java SDK's class),
    # which the ledger task retries, and the run succeeded
    assert execution.status == "SUCCEEDED"
    failures = [
        (event["taskFailedEventDetails"]["resource"], event["taskFailedEventDetails"]["error"])
        for event in pipeline.history(execution.arn)
        if event["type"] == "TaskFailed"
    ]
    assert failures == [("updateItem", named)]
    assert named in TRANSIENT_ERRORS


def test_a_second_run_of_a_settled_version_does_nothing_and_is_listed(pipeline: LocalPipeline) -> None:
    # Given a version whose run succeeded
    first = run_upload(pipeline, "people.csv", SOURCES["people.csv"])
    pipeline.notifications()

    # When another execution is started for the same version (a duplicated event, an overlapping backfill)
    sfn = pipeline.client("stepfunctions")
    again = sfn.start_execution(
        stateMachineArn=pipeline.stack.state_machine_arn, name="duplicate", input=json.dumps(first.input)
    )["executionArn"]
    duplicate = pipeline.wait(again, timeout=30)

    # Then it ends at AlreadyHandled without processing or announcing anything
    assert duplicate.status == "SUCCEEDED"
    assert [visit.name for visit in pipeline.visits(again)][-2:] == ["RecordDuplicate", "AlreadyHandled"]
    assert pipeline.notifications() == []
    # And the ledger still holds the first run's result, and lists both executions
    item = ledger_item(pipeline, INCOMING_PREFIX + "people.csv", first.input["versionId"])
    assert item is not None
    assert (item.status, item.run_arn) == (SUCCEEDED, first.arn)
    assert set(item.executions) == {first.arn, again}
    assert {entry.execution_arn: entry.status for entry in item.runs} == {first.arn: SUCCEEDED, again: "DUPLICATE"}


def test_a_system_failure_is_recorded_by_the_failure_recorder_and_a_redrive_settles_it(
    pipeline: LocalPipeline,
) -> None:
    # Given a run that fails on a system error at TransformCsv (not caught, so it stays redrivable)
    pipeline.lambdas.inject_fault(pipeline.function_for_state("TransformCsv"), error="InjectedFault")
    failed = run_upload(pipeline, "people.csv", SOURCES["people.csv"])
    key, version = INCOMING_PREFIX + "people.csv", failed.input["versionId"]

    # When Step Functions announces its end (the status-change rule starts the recorder)
    item = wait_for_ledger(pipeline, key, version, FAILED)

    # Then the ledger says FAILED with the error, owned by that run
    assert (failed.status, item.error, item.run_arn) == ("FAILED", "InjectedFault", failed.arn)
    assert [entry.status for entry in item.runs] == [FAILED]

    # And when the run is redriven to success, the same item says SUCCEEDED
    pipeline.redrive(failed.arn)
    assert pipeline.wait(failed.arn, timeout=30).status == "SUCCEEDED"
    settled = ledger_item(pipeline, key, version)
    assert settled is not None
    assert (settled.status, settled.error, settled.executions) == (SUCCEEDED, None, (failed.arn,))


def test_the_ledger_s_index_answers_at_once_here_where_aws_s_indexes_are_eventually_consistent(
    pipeline: LocalPipeline,
) -> None:
    # Recorded, not enforced: a global secondary index serves eventually consistent reads only, so
    # on AWS a query of byRun may miss a write made a fraction of a second before
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Reads). The
    # failure recorder's FindSource queries it when a run's end event arrives, and takes a miss for a
    # run that never took a version (NotInLedger). moto updates its indexes with the write, and the
    # engine adds no lag: if it ever does, this test fails and must change with it.
    (table,) = pipeline.stack.tables
    dynamodb = pipeline.client("dynamodb")
    run_arn = "arn:aws:states:us-east-1:123456789012:execution:probe:index"
    dynamodb.put_item(
        TableName=table.name,
        Item={PARTITION_KEY: {"S": "bucket/incoming/probe.csv"}, SORT_KEY: {"S": "v1"}, "runArn": {"S": run_arn}},
    )

    # When byRun is queried right after the write
    found = dynamodb.query(
        TableName=table.name,
        IndexName=BY_RUN,
        KeyConditionExpression="runArn = :run",
        ExpressionAttributeValues={":run": {"S": run_arn}},
    )

    # Then the item is there already
    assert found["Count"] == 1
