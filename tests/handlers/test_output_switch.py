"""WriteOutput's commit point against moto's S3: the manifest names the versions it describes, is
switched atomically, and never goes back to an older run's output."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from tasks.common.errors import OutputSuperseded, TransientError
from tasks.common.layout import output_keys, staging_keys
from tasks.common.models import (
    Compression,
    Format,
    OutputLocation,
    ProcessingType,
    SourceObject,
    StagedOutput,
    Trigger,
    WriteOutputEvent,
)
from tasks.write_output import logic, switch
from tasks.write_output.logic import commit
from tests.handlers.conftest import BUCKET
from tests.handlers.part_calls import PartCalls

ORIGINAL = "arn:aws:states:us-east-1:123456789012:execution:Pipeline:s3-a"
REPLAY = "arn:aws:states:us-east-1:123456789012:execution:Pipeline:replay-a"
MiB = 1024 * 1024


def source_version(s3: Any) -> SourceObject:
    version = s3.put_object(Bucket=BUCKET, Key="incoming/a.jsonl", Body=b'{"a": 1}\n')["VersionId"]
    return SourceObject(
        bucket=BUCKET,
        key="incoming/a.jsonl",
        version_id=version,
        etag='"x"',
        size=9,
        format=Format.JSONL,
        compression=Compression.NONE,
        processing_type=ProcessingType.STANDARD,
        trigger=Trigger.S3,
    )


def staged(s3: Any, source: SourceObject, execution_arn: str, data: bytes, started_at: str) -> WriteOutputEvent:
    data_key, rejects_key = staging_keys(execution_arn)
    s3.put_object(Bucket=BUCKET, Key=data_key, Body=data)
    s3.put_object(Bucket=BUCKET, Key=rejects_key, Body=b"")
    output = StagedOutput(bucket=BUCKET, data_key=data_key, rejects_key=rejects_key, records=1, rejected=0)
    return WriteOutputEvent(execution_arn=execution_arn, source=source, staged=output, run_started_at=started_at)


def manifest_of(s3: Any, location: OutputLocation) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(s3.get_object(Bucket=BUCKET, Key=location.manifest_key)["Body"].read())
    return loaded


def data_at(s3: Any, location: OutputLocation, version_id: str) -> bytes:
    body: bytes = s3.get_object(Bucket=BUCKET, Key=location.key, VersionId=version_id)["Body"].read()
    return body


def test_a_later_run_replaces_the_output_and_the_earlier_one_stays_as_a_noncurrent_version(s3: Any) -> None:
    # Given an output committed by the original run
    source = source_version(s3)
    first = commit(s3, staged(s3, source, ORIGINAL, b'{"v": 1}\n', "2026-11-01T10:00:00.000Z"))
    before = manifest_of(s3, first)

    # When a replay that started later commits
    second = commit(s3, staged(s3, source, REPLAY, b'{"v": 2}\n', "2026-11-02T10:00:00.000Z"))

    # Then the manifest names the replay and the versions it wrote, which hold its records
    after = manifest_of(s3, second)
    assert after["run"] == {"executionArn": REPLAY, "startedAt": "2026-11-02T10:00:00.000Z"}
    assert data_at(s3, second, after["output"]["versionId"]) == b'{"v": 2}\n'
    # And the earlier manifest's versions are still there, noncurrent, with the earlier records
    assert data_at(s3, first, before["output"]["versionId"]) == b'{"v": 1}\n'
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=first.key)["Versions"]
    assert [(version["VersionId"], version["IsLatest"]) for version in versions if not version["IsLatest"]] == [
        (before["output"]["versionId"], False)
    ]


def test_an_older_run_committing_late_changes_nothing(s3: Any) -> None:
    # Given an output committed by a replay
    source = source_version(s3)
    replay = commit(s3, staged(s3, source, REPLAY, b'{"v": 2}\n', "2026-11-02T10:00:00.000Z"))
    committed = manifest_of(s3, replay)

    # When the original run, which started earlier, commits afterwards (a late redrive)
    late = staged(s3, source, ORIGINAL, b'{"v": 1}\n', "2026-11-01T10:00:00.000Z")
    with pytest.raises(OutputSuperseded, match=REPLAY):
        commit(s3, late)

    # Then neither the manifest nor the data gained a version
    assert manifest_of(s3, replay) == committed
    keys = output_keys(source.key, source.version_id)
    for key in (keys.data, keys.manifest):
        assert len(s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]) == 1, key


def test_the_same_run_committing_again_replaces_its_own_manifest(s3: Any) -> None:
    # Given a commit whose reply was lost
    source = source_version(s3)
    event = staged(s3, source, ORIGINAL, b'{"v": 1}\n', "2026-11-01T10:00:00.000Z")
    commit(s3, event)

    # When the step runs again
    again = commit(s3, event)

    # Then the manifest names the newer copies, which hold the same records
    manifest = manifest_of(s3, again)
    assert manifest["run"]["executionArn"] == ORIGINAL
    assert data_at(s3, again, manifest["output"]["versionId"]) == b'{"v": 1}\n'
    assert len(s3.list_object_versions(Bucket=BUCKET, Prefix=again.manifest_key)["Versions"]) == 2


def test_a_manifest_changed_between_the_read_and_the_switch_is_read_again(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the original run's output, and a replay that started later whose read of the manifest
    # is overtaken: the original run commits again (a retry) just before the replay's switch
    source = source_version(s3)
    original = staged(s3, source, ORIGINAL, b'{"v": 1}\n', "2026-11-01T10:00:00.000Z")
    commit(s3, original)
    replay = staged(s3, source, REPLAY, b'{"v": 2}\n', "2026-11-02T10:00:00.000Z")

    def overtaken(*args: Any, **kwargs: Any) -> None:
        monkeypatch.setattr(logic, "switch_manifest", switch.switch_manifest)
        commit(s3, original)
        switch.switch_manifest(*args, **kwargs)

    monkeypatch.setattr(logic, "switch_manifest", overtaken)

    # When the replay switches the manifest
    location = commit(s3, replay)

    # Then its conditional write was refused once, the manifest read again, and the replay's stands
    assert manifest_of(s3, location)["run"]["executionArn"] == REPLAY
    assert len(s3.list_object_versions(Bucket=BUCKET, Prefix=location.manifest_key)["Versions"]) == 3


def distinct_bytes(size: int) -> bytes:
    """``size`` bytes in which no two 1 KiB blocks are alike: parts out of order cannot match."""
    return b"".join(b"%08d" % block * 128 for block in range(size // 1024 + 1))[:size]


def test_an_object_of_several_parts_is_copied_at_once_in_order_and_its_version_named(s3: Any) -> None:
    # Given a staged object of four parts at S3's 5 MiB minimum part size (18 MiB: 5, 5, 5 and 3),
    # whose first part is copied only once the third has been: one after the other, it never would
    source = source_version(s3)
    data = distinct_bytes(18 * MiB)
    event = staged(s3, source, ORIGINAL, data, "2026-11-01T10:00:00.000Z")
    calls = PartCalls(s3)
    calls.hold(1, until=3)

    # When it is committed in 5 MiB parts
    location = commit(s3, event, part_size=5 * MiB)

    # Then the parts were copied at once and finished out of order, yet the copy holds the same
    # bytes, and the manifest names its version
    assert sorted(calls.finished) == [1, 2, 3, 4]
    assert calls.finished.index(3) < calls.finished.index(1)
    manifest = manifest_of(s3, location)
    assert data_at(s3, location, manifest["output"]["versionId"]) == data
    head = s3.head_object(Bucket=BUCKET, Key=location.key)
    assert (head["VersionId"], head["ContentType"]) == (manifest["output"]["versionId"], "application/x-ndjson")
    assert head["Metadata"]["execution-arn"] == ORIGINAL


def test_an_object_of_one_part_is_copied_by_one_request(s3: Any) -> None:
    # Given a staged object of exactly one part
    source = source_version(s3)
    event = staged(s3, source, ORIGINAL, distinct_bytes(5 * MiB), "2026-11-01T10:00:00.000Z")
    calls = PartCalls(s3)
    # When it is committed in 5 MiB parts / Then no part was copied: one CopyObject made it
    location = commit(s3, event, part_size=5 * MiB)
    assert calls.finished == []
    assert data_at(s3, location, manifest_of(s3, location)["output"]["versionId"]) == distinct_bytes(5 * MiB)


def test_a_part_that_fails_aborts_the_copy_and_the_output_gains_no_version(s3: Any) -> None:
    # Given an output committed by the original run, and a replay whose large object's third part fails
    source = source_version(s3)
    first = commit(s3, staged(s3, source, ORIGINAL, b'{"v": 1}\n', "2026-11-01T10:00:00.000Z"))
    committed = manifest_of(s3, first)
    replay = staged(s3, source, REPLAY, distinct_bytes(18 * MiB), "2026-11-02T10:00:00.000Z")
    calls = PartCalls(s3)
    calls.fail(3)

    # When the replay commits
    with pytest.raises(TransientError, match="staged s3://"):
        commit(s3, replay, part_size=5 * MiB)

    # Then the upload was aborted, and neither the data nor the manifest gained a version
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert manifest_of(s3, first) == committed
    for key in (first.key, first.manifest_key):
        assert len(s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]) == 1, key


def test_a_run_without_a_start_time_is_never_superseded_nor_superseding(s3: Any) -> None:
    # Given a manifest written by a run that did not say when it started
    source = source_version(s3)
    unstamped = msgspec.structs.replace(
        staged(s3, source, ORIGINAL, b'{"v": 1}\n', "2026-11-03T10:00:00.000Z"), run_started_at=None
    )
    commit(s3, unstamped)

    # When a run that started at any time commits
    location = commit(s3, staged(s3, source, REPLAY, b'{"v": 2}\n', "2026-11-02T10:00:00.000Z"))

    # Then it replaces it, as every commit did before runs were stamped
    assert manifest_of(s3, location)["run"]["executionArn"] == REPLAY
