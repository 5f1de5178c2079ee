"""Validate, Fetch, WriteOutput and Notify logic against moto's S3 and SNS."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tasks.common.aws import s3_errors
from tasks.common.errors import (
    BusinessError,
    EmptyObject,
    MalformedInput,
    ObjectNotFound,
    ObjectTooLarge,
    StagedFormatMismatch,
    TransientError,
    UnsupportedEncoding,
)
from tasks.common.layout import output_keys
from tasks.common.models import (
    Compression,
    Format,
    NotifyEvent,
    OutputFormat,
    OutputLocation,
    ProcessingType,
    SourceObject,
    Trigger,
)
from tasks.fetch.logic import profile
from tasks.notify.logic import NotifySettings, notify
from tasks.write_output.logic import commit
from tests.handlers.conftest import BUCKET, TopicInbox
from tests.handlers.steps import EXECUTION, put, source, staged_run, validated


class TestValidate:
    def test_describes_the_current_version_and_reads_the_type_from_metadata(self, s3: Any) -> None:
        version = put(s3, "incoming/a.jsonl", b'{"a": 1}\n', Metadata={"processing-type": "priority"})
        described = validated(s3, {"bucket": BUCKET, "key": "incoming/a.jsonl", "trigger": "s3"})
        assert (described.version_id, described.format, described.size) == (version, Format.JSONL, 9)
        assert described.processing_type is ProcessingType.PRIORITY
        assert described.trigger is Trigger.S3

    def test_pins_the_requested_version_even_after_an_overwrite(self, s3: Any) -> None:
        first = put(s3, "incoming/a.jsonl", b'{"a": 1}\n')
        put(s3, "incoming/a.jsonl", b'{"a": 2, "b": 3}\n')
        described = validated(s3, {"bucket": BUCKET, "key": "incoming/a.jsonl", "versionId": first})
        assert (described.version_id, described.size) == (first, 9)

    def test_missing_object_is_not_found(self, s3: Any) -> None:
        with pytest.raises(ObjectNotFound, match=r"incoming/gone\.csv"):
            validated(s3, {"bucket": BUCKET, "key": "incoming/gone.csv"})

    def test_empty_and_oversized_objects_are_refused(self, s3: Any) -> None:
        put(s3, "incoming/empty.csv", b"")
        put(s3, "incoming/big.csv", b"a\n" + b"1\n" * 1024)
        with pytest.raises(EmptyObject):
            validated(s3, {"bucket": BUCKET, "key": "incoming/empty.csv"})
        with pytest.raises(ObjectTooLarge, match="limit is 1024 bytes"):
            validated(s3, {"bucket": BUCKET, "key": "incoming/big.csv"})

    def test_gz_extension_requires_gzip_content(self, s3: Any) -> None:
        put(s3, "incoming/fake.csv.gz", b"a,b\n1,2\n")
        put(s3, "incoming/real.csv.gz", gzip.compress(b"a,b\n1,2\n"))
        with pytest.raises(MalformedInput, match="not gzip"):
            validated(s3, {"bucket": BUCKET, "key": "incoming/fake.csv.gz"})
        real = validated(s3, {"bucket": BUCKET, "key": "incoming/real.csv.gz"})
        assert (real.format, real.compression) == (Format.CSV, Compression.GZIP)

    def test_truncated_gzip_is_malformed(self, s3: Any) -> None:
        put(s3, "incoming/cut.jsonl.gz", gzip.compress(b'{"a": 1}\n' * 100)[:-12])
        with pytest.raises(MalformedInput, match="truncated"):
            validated(s3, {"bucket": BUCKET, "key": "incoming/cut.jsonl.gz"})


class TestFetch:
    def test_profiles_a_csv_with_bom_and_semicolons(self, s3: Any) -> None:
        described = source(s3, "incoming/a.csv", "\ufeffid;name\n1;Zoë\n".encode(), Format.CSV)
        profiled = profile(s3, described)
        assert profiled.encoding == "utf-8-sig"
        assert profiled.csv is not None
        assert (profiled.csv.delimiter, profiled.csv.header) == (";", ["id", "name"])
        assert (profiled.version_id, profiled.etag) == (described.version_id, described.etag)

    def test_profiles_gzip_content_after_decompressing_it(self, s3: Any) -> None:
        body = gzip.compress(b"a|b\n1|2\n")
        described = source(s3, "incoming/a.csv.gz", body, Format.CSV, Compression.GZIP)
        profiled = profile(s3, described)
        assert profiled.csv is not None
        assert profiled.csv.header == ["a", "b"]

    def test_refuses_content_that_is_not_utf8(self, s3: Any) -> None:
        described = source(s3, "incoming/a.jsonl", '{"name": "José"}\n'.encode("latin-1"))
        with pytest.raises(UnsupportedEncoding, match="not UTF-8"):
            profile(s3, described)

    def test_a_deleted_version_is_not_found(self, s3: Any) -> None:
        described = source(s3, "incoming/a.jsonl", b'{"a": 1}\n')
        s3.delete_object(Bucket=BUCKET, Key=described.key, VersionId=described.version_id)
        with pytest.raises(ObjectNotFound):
            profile(s3, described)


class TestWriteOutput:
    def test_commits_under_a_key_from_source_and_version_with_a_manifest(self, s3: Any) -> None:
        described = source(s3, "incoming/day 1/ünï.jsonl", b'{"a": 1}\n{"a": 2}\nbad\n')
        event = staged_run(s3, described, b'{"a":1}\n{"a":2}\n', b'{"line":3}\n')

        location = commit(s3, event, now=datetime(2026, 1, 1, tzinfo=UTC))

        keys = output_keys(described.key, described.version_id)
        assert location.key == keys.data == f"processed/day 1/ünï.jsonl/{described.version_id}/data.jsonl"
        committed = s3.get_object(Bucket=BUCKET, Key=location.key)
        assert committed["Body"].read() == b'{"a":1}\n{"a":2}\n'
        assert committed["ServerSideEncryption"] == "AES256"
        assert committed["Metadata"]["source-version-id"] == described.version_id
        assert committed["Metadata"]["source-key"] == "incoming/day%201/%C3%BCn%C3%AF.jsonl"
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=location.manifest_key)["Body"].read())
        assert manifest["counts"] == {"input": 3, "records": 2, "rejected": 1}
        assert manifest["source"]["versionId"] == described.version_id
        assert manifest["executionArn"] == EXECUTION

    def test_a_retried_commit_succeeds_with_the_same_result(self, s3: Any) -> None:
        # Given a commit whose reply was lost
        described = source(s3, "incoming/a.jsonl", b'{"a": 1}\n')
        event = staged_run(s3, described, b"1\n", b"")
        first = commit(s3, event)

        # When the same step runs again with the same event
        again = commit(s3, event)

        # Then it commits the same output again
        assert again == first
        assert s3.get_object(Bucket=BUCKET, Key=again.key)["Body"].read() == b"1\n"

    def test_committing_again_overwrites_the_same_keys(self, s3: Any) -> None:
        described = source(s3, "incoming/a.jsonl", b'{"a": 1}\n')
        first = commit(s3, staged_run(s3, described, b"1\n", b""))
        second = commit(s3, staged_run(s3, described, b"1\n", b""))
        assert first == second
        assert s3.list_objects_v2(Bucket=BUCKET, Prefix="processed/")["KeyCount"] == 3

    def test_a_staged_object_of_another_format_is_a_system_error_and_commits_nothing(self, s3: Any) -> None:
        # Given a Parquet run whose staged data is JSON Lines (WriteParquet skipped: a wiring bug)
        described = msgspec.structs.replace(
            source(s3, "incoming/a.jsonl", b'{"a": 1}\n'), output_format=OutputFormat.PARQUET
        )
        event = staged_run(s3, described, b"1\n", b"")
        # When it is committed
        # Then the step fails as a system error (redrivable), not as a rejection of the input
        with pytest.raises(StagedFormatMismatch) as raised:
            commit(s3, event)
        assert not isinstance(raised.value, BusinessError)
        assert s3.list_objects_v2(Bucket=BUCKET, Prefix="processed/")["KeyCount"] == 0


def notify_event(described: SourceObject, execution: str = EXECUTION) -> NotifyEvent:
    keys = output_keys(described.key, described.version_id)
    output = OutputLocation(
        bucket=BUCKET, key=keys.data, rejects_key=keys.rejects, manifest_key=keys.manifest, records=2, rejected=0
    )
    return NotifyEvent(execution_arn=execution, source=described, output=output)


class TestNotify:
    def test_publishes_the_success_with_filterable_attributes(self, s3: Any, inbox: TopicInbox) -> None:
        described = source(s3, "incoming/a.jsonl", b'{"a": 1}\n')
        receipt = notify(s3, inbox.sns, notify_event(described), NotifySettings(notification_topic_arn=inbox.topic_arn))
        assert receipt.published
        (message,) = inbox.messages()
        attributes = {name: value["Value"] for name, value in message["MessageAttributes"].items()}
        assert attributes == {"status": "SUCCEEDED", "format": "jsonl", "processingType": "standard"}
        assert json.loads(message["Message"])["output"]["records"] == 2
        assert message["Subject"] == "Pipeline run succeeded: a.jsonl"

    def test_a_second_execution_for_the_same_version_stays_silent(self, s3: Any, inbox: TopicInbox) -> None:
        described = source(s3, "incoming/a.jsonl", b'{"a": 1}\n')
        settings = NotifySettings(notification_topic_arn=inbox.topic_arn)
        notify(s3, inbox.sns, notify_event(described), settings)
        duplicate = notify(s3, inbox.sns, notify_event(described, execution=EXECUTION + "-duplicate"), settings)
        assert not duplicate.published
        assert len(inbox.messages()) == 1

    def test_a_retry_of_the_same_execution_publishes_again(self, s3: Any, inbox: TopicInbox) -> None:
        described = source(s3, "incoming/a.jsonl", b'{"a": 1}\n')
        settings = NotifySettings(notification_topic_arn=inbox.topic_arn)
        notify(s3, inbox.sns, notify_event(described), settings)
        again = notify(s3, inbox.sns, notify_event(described), settings)
        assert again.published
        assert len(inbox.messages()) == 2


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("SlowDown", TransientError),
        ("ConditionalRequestConflict", TransientError),
        ("RequestTimeout", TransientError),
        ("503", TransientError),
        ("NoSuchKey", ObjectNotFound),
    ],
)
def test_s3_failures_become_named_errors(s3: Any, code: str, error: type[Exception]) -> None:
    with Stubber(s3) as stubber:
        stubber.add_client_error("get_object", service_error_code=code, http_status_code=503)
        with pytest.raises(error), s3_errors("s3://bucket/key"):
            s3.get_object(Bucket=BUCKET, Key="incoming/a.csv")


def test_access_denied_stays_a_system_error(s3: Any) -> None:
    with Stubber(s3) as stubber:
        stubber.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(ClientError), s3_errors("s3://bucket/key"):
            s3.get_object(Bucket=BUCKET, Key="incoming/a.csv")
