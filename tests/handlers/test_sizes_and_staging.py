"""What the steps do about sizes and about the run's staged objects, against moto's S3.

Deploy review findings 5 (staged output gone: a system error, never a rejection), 6 (what has one
entry per column is staged, the state carries its key; a header longer than the sample is read
whole), 7 (decompressed bytes, the decompression ratio and the function's time are limits),
8 (objects the roles cannot read are refused as a business error) and 14 (outputs S3 would refuse
are refused at Validate).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any

import msgspec
import pytest
from botocore.stub import Stubber

from tasks.common.errors import (
    BusinessError,
    ObjectTooLarge,
    StagedOutputMissing,
    UnsupportedFormat,
    ValidationError,
)
from tasks.common.layout import COLUMNS_FILE, MAX_KEY_BYTES, staging_key, staging_keys
from tasks.common.models import (
    ColumnSummary,
    Compression,
    CsvDialect,
    Format,
    OutputFormat,
    StagedOutput,
    TransformEvent,
    WriteOutputEvent,
)
from tasks.fetch.logic import MAX_SAMPLE_BYTES, profile, stage_profile
from tasks.transform.logic import TransformSettings
from tasks.transform.staged import transform
from tasks.write_output.logic import commit
from tasks.write_parquet.logic import WriteParquetSettings, check_room, write_parquet
from tests.handlers.conftest import BUCKET
from tests.handlers.steps import EXECUTION, put, source, staged_run, validated

HOURS_LEFT = 3_600_000


def wide_csv(columns: int, rows: int = 2) -> tuple[list[str], bytes]:
    """A CSV of ``columns`` columns named by 20 characters that compress poorly, and ``rows`` rows."""
    names = [f"c{index:05d}_{hashlib.sha1(str(index).encode()).hexdigest()[:13]}" for index in range(columns)]
    lines = [
        ",".join(names),
        *(",".join(str(row * columns + column) for column in range(columns)) for row in range(rows)),
    ]
    return names, ("\n".join(lines) + "\n").encode()


def staged_keys_present(s3: Any) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="staging/").get("Contents", [])
    return [item["Key"] for item in listed]


def transformed(
    s3: Any, key: str, body: bytes, settings: TransformSettings, *, remaining_ms: int = HOURS_LEFT
) -> StagedOutput:
    """Fetch then the transform of ``body`` uploaded at ``key``, as the workflow runs them."""
    compression = Compression.GZIP if key.endswith(".gz") else Compression.NONE
    described = source(s3, key, body, Format.CSV, compression)
    found = profile(s3, described)
    staged_profile = stage_profile(s3, execution_arn=EXECUTION, bucket=BUCKET, found=found)
    event = TransformEvent(execution_arn=EXECUTION, source=described, profile=staged_profile)
    return transform(s3, event, settings, remaining_ms=lambda: remaining_ms)


class TestStagedOutputGone:
    """Finding 5: a late redrive finds the staged output expired; that is the system's doing."""

    def test_a_commit_whose_staged_data_is_gone_fails_as_a_system_error_and_commits_nothing(self, s3: Any) -> None:
        # Given a run whose staged data expired before its commit
        described = source(s3, "incoming/a.jsonl", b'{"a": 1}\n')
        event = staged_run(s3, described, b'{"a":1}\n', b"")
        s3.delete_object(Bucket=BUCKET, Key=event.staged.data_key)

        # When it is committed
        with pytest.raises(StagedOutputMissing, match="start a new run") as raised:
            commit(s3, event)

        # Then the step fails as a system error named for what happened, never as a rejection
        assert not isinstance(raised.value, BusinessError)
        assert event.staged.data_key in str(raised.value)
        assert s3.list_objects_v2(Bucket=BUCKET, Prefix="processed/")["KeyCount"] == 0

    def test_a_commit_whose_column_summaries_are_gone_fails_as_a_system_error(self, s3: Any) -> None:
        described = source(s3, "incoming/a.csv", b"a\n1\n", Format.CSV)
        event = staged_run(s3, described, b'{"a":1}\n', b"")
        missing = staging_key(EXECUTION, COLUMNS_FILE)
        event = msgspec.structs.replace(event, staged=msgspec.structs.replace(event.staged, columns_key=missing))
        with pytest.raises(StagedOutputMissing, match=missing):
            commit(s3, event)

    def test_a_parquet_conversion_whose_staged_records_are_gone_fails_as_a_system_error(self, s3: Any) -> None:
        described = msgspec.structs.replace(
            source(s3, "incoming/a.jsonl", b'{"a": 1}\n'), output_format=OutputFormat.PARQUET
        )
        data_key, rejects_key = staging_keys(EXECUTION)
        staged = StagedOutput(bucket=BUCKET, data_key=data_key, rejects_key=rejects_key, records=1, rejected=0)
        with pytest.raises(StagedOutputMissing, match=data_key):
            write_parquet(
                s3,
                WriteOutputEvent(execution_arn=EXECUTION, source=described, staged=staged),
                WriteParquetSettings(),
                remaining_ms=lambda: HOURS_LEFT,
            )

    def test_a_transform_whose_staged_dialect_is_gone_fails_as_a_system_error(self, s3: Any) -> None:
        described = source(s3, "incoming/a.csv", b"a,b\n1,2\n", Format.CSV)
        staged_profile = stage_profile(s3, execution_arn=EXECUTION, bucket=BUCKET, found=profile(s3, described))
        assert staged_profile.csv_dialect_key is not None
        s3.delete_object(Bucket=BUCKET, Key=staged_profile.csv_dialect_key)
        event = TransformEvent(execution_arn=EXECUTION, source=described, profile=staged_profile)
        with pytest.raises(StagedOutputMissing):
            transform(s3, event, TransformSettings(), remaining_ms=lambda: HOURS_LEFT)

    def test_parquet_conversion_left_no_time_refuses_the_records_as_too_large(self, s3: Any) -> None:
        # Given staged records, and a function with only its stop margin left
        described = msgspec.structs.replace(
            source(s3, "incoming/a.jsonl", b'{"a": 1}\n'), output_format=OutputFormat.PARQUET
        )
        data_key, rejects_key = staging_keys(EXECUTION)
        s3.put_object(Bucket=BUCKET, Key=data_key, Body=b'{"a": 1}\n')
        staged = StagedOutput(bucket=BUCKET, data_key=data_key, rejects_key=rejects_key, records=1, rejected=0)
        settings = WriteParquetSettings()
        # Then it does not start: a conversion the timeout would cut is the input's size, not a fault
        with pytest.raises(ObjectTooLarge, match=r"within the function's timeout \(0.0 s were left for it\)"):
            write_parquet(
                s3,
                WriteOutputEvent(execution_arn=EXECUTION, source=described, staged=staged),
                settings,
                remaining_ms=lambda: settings.stop_margin_ms,
            )


class TestWideCsv:
    """Finding 6: the state carries keys, never one entry per column."""

    @pytest.mark.parametrize("key", ["incoming/wide.csv", "incoming/wide.csv.gz"])
    def test_a_header_longer_than_the_sample_is_read_whole(self, s3: Any, key: str) -> None:
        # Given a CSV whose header (10,000 names, about 200 KB) is longer than Fetch's first sample
        names, body = wide_csv(10_000)
        stored = gzip.compress(body) if key.endswith(".gz") else body
        assert len(",".join(names)) > 64 * 1024
        compression = Compression.GZIP if key.endswith(".gz") else Compression.NONE

        # When Fetch profiles it
        found = profile(s3, source(s3, key, stored, Format.CSV, compression))

        # Then the header is read whole: every name, none cut
        assert found.csv is not None
        assert found.csv.header == names
        assert found.csv.delimiter == ","

    def test_a_header_row_that_never_ends_is_refused_past_what_fetch_reads(self, s3: Any) -> None:
        described = source(s3, "incoming/endless.csv", b"a" * (MAX_SAMPLE_BYTES + 1), Format.CSV)
        with pytest.raises(UnsupportedFormat, match=f"does not end within the first {MAX_SAMPLE_BYTES} bytes"):
            profile(s3, described)

    def test_the_state_carries_the_keys_of_the_staged_dialect_and_column_summaries(self, s3: Any) -> None:
        # Given a 10,000-column CSV through Fetch and the transform
        names, body = wide_csv(10_000)
        described = source(s3, "incoming/wide.csv", body, Format.CSV)
        staged_profile = stage_profile(s3, execution_arn=EXECUTION, bucket=BUCKET, found=profile(s3, described))
        event = TransformEvent(execution_arn=EXECUTION, source=described, profile=staged_profile)

        # When the transform stages the records
        staged = transform(s3, event, TransformSettings(), remaining_ms=lambda: HOURS_LEFT)

        # Then what the state carries is small, and the per-column lists are staged under the run
        assert len(msgspec.json.encode(staged_profile)) < 1024
        assert len(msgspec.json.encode(staged)) < 1024
        assert staged_profile.csv_dialect_key is not None
        assert staged.columns_key is not None
        dialect_body = s3.get_object(Bucket=BUCKET, Key=staged_profile.csv_dialect_key)["Body"].read()
        assert msgspec.json.decode(dialect_body, type=CsvDialect).header == names
        columns_body = s3.get_object(Bucket=BUCKET, Key=staged.columns_key)["Body"].read()
        columns = msgspec.json.decode(columns_body, type=list[ColumnSummary])
        assert [(column.name, column.type) for column in columns] == [(name, "integer") for name in names]
        assert staged.records == 2

    def test_the_manifest_lists_the_staged_column_summaries(self, s3: Any) -> None:
        # Given a CSV run whose column summaries were staged by the transform
        described = source(s3, "incoming/a.csv", b"id,name\n1,x\n2,y\n", Format.CSV)
        staged_profile = stage_profile(s3, execution_arn=EXECUTION, bucket=BUCKET, found=profile(s3, described))
        staged = transform(
            s3,
            TransformEvent(execution_arn=EXECUTION, source=described, profile=staged_profile),
            TransformSettings(),
            remaining_ms=lambda: HOURS_LEFT,
        )

        # When it is committed
        location = commit(s3, WriteOutputEvent(execution_arn=EXECUTION, source=described, staged=staged))

        # Then the manifest holds one summary per column
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=location.manifest_key)["Body"].read())
        assert manifest["columns"] == [
            {"name": "id", "type": "integer", "nonConforming": 0},
            {"name": "name", "type": "string", "nonConforming": 0},
        ]


class TestReadBudget:
    """Finding 7: sizes are enforced on what is processed, and time is a limit too."""

    def test_a_gzip_bomb_is_refused_naming_the_ratio_and_leaves_no_staged_records(self, s3: Any) -> None:
        # Given a gzip source that expands a thousand times (20 MB from about 20 KB)
        bomb = gzip.compress(b"a,b\n" + b"0,0\n" * 5_000_000)
        assert len(bomb) < 100_000

        # When it is transformed under the default ratio limit (100)
        with pytest.raises(ObjectTooLarge, match="maxCompressionRatio") as raised:
            transformed(s3, "incoming/bomb.csv.gz", bomb, TransformSettings())

        # Then it stops as a business error, after at most 100 times its stored size, staging nothing
        assert f"more than {100 * len(bomb)} bytes" in str(raised.value)
        assert staged_keys_present(s3) == [staging_key(EXECUTION, "csv-dialect.json")]

    def test_decompressed_bytes_over_the_limit_are_refused_naming_it(self, s3: Any) -> None:
        body = b"a,b\n" + b"1,2\n" * 1000
        with pytest.raises(ObjectTooLarge, match=r"maxDecompressedBytes \(2000 bytes\)"):
            transformed(s3, "incoming/a.csv", body, TransformSettings(max_decompressed_bytes=2000))

    def test_a_transform_short_of_time_stops_cleanly_naming_the_timeout(self, s3: Any) -> None:
        # Given a function with less time left than the transform keeps to stop cleanly
        settings = TransformSettings(stop_margin_ms=20_000)

        # When it transforms a source
        with pytest.raises(ObjectTooLarge, match="within the function's timeout: 5000 ms were left"):
            transformed(s3, "incoming/a.csv", b"a,b\n1,2\n", settings, remaining_ms=5000)

        # Then it stops as a business error, leaving no staged records behind
        assert staging_keys(EXECUTION)[0] not in staged_keys_present(s3)

    def test_parquet_conversion_refuses_staged_records_that_cannot_sit_twice_in_tmp(self) -> None:
        check_room(staged_bytes=500, free_bytes=1000)
        with pytest.raises(ObjectTooLarge, match="write this file as JSON Lines"):
            check_room(staged_bytes=501, free_bytes=1000)


class TestUnreadableSources:
    """Finding 8: what the roles cannot read is a business error, whatever let it in."""

    @pytest.mark.parametrize(
        ("extra", "reason"),
        [
            ({"ServerSideEncryption": "aws:kms"}, "encrypted with a KMS key"),
            ({"StorageClass": "GLACIER"}, r"is archived \(GLACIER\)"),
            ({"StorageClass": "DEEP_ARCHIVE"}, r"is archived \(DEEP_ARCHIVE\)"),
        ],
    )
    def test_objects_the_head_shows_unreadable_are_refused(self, s3: Any, extra: dict[str, str], reason: str) -> None:
        put(s3, "incoming/a.csv", b"a,b\n1,2\n", **extra)
        with pytest.raises(ValidationError, match=reason):
            validated(s3, {"bucket": BUCKET, "key": "incoming/a.csv"})

    @pytest.mark.parametrize(
        ("operation", "code", "status"),
        [
            ("head_object", "400", 400),  # SSE-C: HEAD without the customer key
            ("get_object", "InvalidRequest", 400),  # SSE-C: GET without the customer key
            ("get_object", "InvalidObjectState", 403),  # an archived object, not restored
        ],
    )
    def test_s3_refusals_to_read_are_a_business_error(self, s3: Any, operation: str, code: str, status: int) -> None:
        # Given an object S3 refuses to return as it is
        put(s3, "incoming/a.csv", b"a,b\n1,2\n")
        head = s3.head_object(Bucket=BUCKET, Key="incoming/a.csv")
        with Stubber(s3) as stubber:
            if operation == "get_object":
                stubber.add_response("head_object", {key: head[key] for key in ("ContentLength", "ETag", "VersionId")})
            stubber.add_client_error(operation, service_error_code=code, http_status_code=status)

            # When Validate reads it
            # Then the run is rejected, not failed as a system error
            with pytest.raises(ValidationError, match=f"cannot be read \\({code}\\)"):
                validated(s3, {"bucket": BUCKET, "key": "incoming/a.csv"})


class TestOutputLimits:
    """Finding 14: Validate refuses a source whose outputs S3 would refuse."""

    def test_a_key_whose_outputs_would_pass_s3s_key_limit_is_refused(self, s3: Any) -> None:
        # Given a source key that fits S3's limit but whose output keys would not
        key = "incoming/" + "k" * 960 + ".csv"
        assert len(key.encode()) <= MAX_KEY_BYTES
        put(s3, key, b"a,b\n1,2\n")

        # When Validate checks it
        # Then it is rejected, saying by how much to shorten it
        with pytest.raises(ValidationError, match=r"would be \d+ bytes, over S3's 1024; shorten the key by \d+ bytes"):
            validated(s3, {"bucket": BUCKET, "key": key})

    def test_the_longest_key_whose_outputs_fit_is_accepted(self, s3: Any) -> None:
        version = put(s3, "incoming/probe.csv", b"a,b\n1,2\n")
        # processed/ + the key without incoming/ + /<version>/ + notified.json (the longest file name)
        room = MAX_KEY_BYTES - len("processed/") - len(f"/{version}/notified.json") - len(".csv")
        key = "incoming/" + "k" * room + ".csv"
        put(s3, key, b"a,b\n1,2\n")
        assert validated(s3, {"bucket": BUCKET, "key": key}).key == key

    def test_a_key_whose_encoded_metadata_would_pass_2_kb_is_refused(self, s3: Any) -> None:
        # Given a key of 400 non-ASCII characters: 813 bytes, but three times that percent-encoded
        key = "incoming/" + "é" * 400 + ".csv"
        put(s3, key, b"a,b\n1,2\n")

        # When Validate checks it
        # Then it is rejected before any output is written
        with pytest.raises(ValidationError, match=r"metadata: \d+ bytes .* over S3's 2048"):
            validated(s3, {"bucket": BUCKET, "key": key})
