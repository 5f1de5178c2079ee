"""A dataset that skips unchanged content: a new version whose bytes are those of the last version
that succeeded is recorded in the ledger, pointing at that output, and not processed again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
from moto.dynamodb.models import DynamoDBBackend

from tasks.common import datasets
from tasks.common.layout import INCOMING_PREFIX, PROCESSED_PREFIX
from tests.scenarios import as_csv, ledger_item
from workflow.ledger import SKIPPED, SUCCEEDED, TRANSIENT_SDK_ERRORS
from workflow.local.environment import Execution, LocalPipeline

KEY = INCOMING_PREFIX + "daily/prices.csv"
FIRST = as_csv([{"sku": "a", "price": "1"}])
SECOND = as_csv([{"sku": "a", "price": "2"}])


@pytest.fixture
def skipping_dataset(pipeline: LocalPipeline, tmp_path: Path) -> None:
    """A dataset folder whose settings skip unchanged content, deployed with the functions (their
    sandboxes read it)."""
    folder = tmp_path / "datasets"
    folder.mkdir()
    (folder / "daily.json").write_text(json.dumps({"skipUnchangedContent": True}))
    pipeline.lambdas.override(datasets.__name__, "DATASETS_DIR", folder)


def upload(pipeline: LocalPipeline, body: bytes) -> Execution:
    before = len(pipeline.started)
    pipeline.upload(KEY, body)
    assert len(pipeline.started) == before + 1
    return pipeline.wait(pipeline.started[-1], timeout=30)


def outputs(pipeline: LocalPipeline) -> list[str]:
    return [key for key in pipeline.object_keys(PROCESSED_PREFIX) if key.endswith("/manifest.json")]


def test_a_reupload_of_the_same_bytes_is_recorded_and_skipped(pipeline: LocalPipeline, skipping_dataset: None) -> None:
    # Given a first version processed
    first = upload(pipeline, FIRST)
    assert first.status == "SUCCEEDED"
    assert [visit.name for visit in pipeline.visits(first.arn)][5:8] == [
        "Checksum",
        "RecordChecksum",
        "FindLastSucceeded",
    ]

    # When the same bytes are uploaded again as a new version
    again = upload(pipeline, FIRST)

    # Then that run ends at Unchanged: no transform, no new output
    assert again.status == "SUCCEEDED"
    assert [visit.name for visit in pipeline.visits(again.arn)][-3:] == ["SameContent", "RecordUnchanged", "Unchanged"]
    assert len(outputs(pipeline)) == 1
    # And the ledger records it as SKIPPED, with the checksum and the first version's output
    first_item = ledger_item(pipeline, KEY, first.input["versionId"])
    item = ledger_item(pipeline, KEY, again.input["versionId"])
    assert first_item is not None
    assert item is not None
    digest = "sha256:" + hashlib.sha256(FIRST).hexdigest()
    assert (first_item.status, first_item.checksum) == (SUCCEEDED, digest)
    assert (item.status, item.checksum, item.unchanged_from) == (SKIPPED, digest, first.input["versionId"])
    assert item.output == first_item.output


def test_changed_bytes_are_processed_and_compared_with_the_last_succeeded_version(
    pipeline: LocalPipeline, skipping_dataset: None
) -> None:
    # Given a first version, then a changed one, both processed
    upload(pipeline, FIRST)
    changed = upload(pipeline, SECOND)
    assert [visit.name for visit in pipeline.visits(changed.arn)][-1] == "Notify"

    # When the first content comes back
    back = upload(pipeline, FIRST)

    # Then it is processed: the last succeeded version is the changed one
    assert [visit.name for visit in pipeline.visits(back.arn)][-1] == "Notify"
    assert len(outputs(pipeline)) == 3
    item = ledger_item(pipeline, KEY, back.input["versionId"])
    assert item is not None
    assert item.status == SUCCEEDED


def test_without_the_setting_the_same_bytes_are_processed_again(pipeline: LocalPipeline) -> None:
    # Given a folder whose dataset does not ask for it (no settings at all)
    upload(pipeline, FIRST)

    # When the same bytes are uploaded again
    again = upload(pipeline, FIRST)

    # Then no checksum is taken and the version is processed
    names = [visit.name for visit in pipeline.visits(again.arn)]
    assert "Checksum" not in names
    assert names[-1] == "Notify"
    assert len(outputs(pipeline)) == 2


def test_a_throttled_lookup_of_the_last_succeeded_version_is_retried_under_the_name_aws_gives_it(
    pipeline: LocalPipeline, skipping_dataset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given DynamoDB throttling the first query of the ledger's index
    original = DynamoDBBackend.query
    throttled: list[bool] = []

    def query(backend: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        if not throttled:
            throttled.append(True)
            raise DynamodbException(ERROR_TYPE_PREFIX + "ProvisionedThroughputExceededException", message="slow down")
        return original(backend, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "query", query)

    # When a version of the dataset runs
    execution = upload(pipeline, FIRST)

    # Then FindLastSucceeded (an aws-sdk integration: the Java SDK 2.x names the error DynamoDb.<class>)
    # failed once under a name its retrier matches, and the run went on
    assert execution.status == "SUCCEEDED"
    failures = [
        event["taskFailedEventDetails"]["error"]
        for event in pipeline.history(execution.arn)
        if event["type"] == "TaskFailed"
    ]
    assert failures == ["DynamoDb.ProvisionedThroughputExceededException"]
    assert failures[0] in TRANSIENT_SDK_ERRORS
