"""The split's Lambda handlers against moto's S3, chained as the workflow chains them.

Each handler gets the event the state machine would build (the ranges read from the staged JSON
arrays, as a Distributed Map's ItemReader hands them out) and must leave in staging exactly what
the single-pass transform leaves there for the same source.
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import msgspec
import pytest

from tasks.commit_ranges import handler as commit_handler
from tasks.common.aws import s3_client
from tasks.common.errors import (
    BusinessError,
    ObjectNotFound,
    ObjectTooLarge,
    StagedOutputMissing,
    UnsupportedEncoding,
)
from tasks.common.layout import staging_keys
from tasks.common.models import (
    Compression,
    CsvDialect,
    Format,
    ObjectProfile,
    ProcessingType,
    SourceObject,
    TransformEvent,
    Trigger,
    to_payload,
)
from tasks.cut_ranges import handler as cut_handler
from tasks.inflate_source import handler as inflate_handler
from tasks.inflate_source.logic import InflateSettings, inflate
from tasks.plan_ranges import handler as plan_handler
from tasks.scan_range import handler as scan_handler
from tasks.split.layout import part_keys
from tasks.split.models import InflateSourceEvent
from tasks.split.plan import MiB, SplitSettings
from tasks.transform.handler import transform
from tasks.transform.logic import TransformSettings
from tasks.transform_range import handler as transform_range_handler
from tests.handlers.conftest import BUCKET
from workflow.local.lambdas import LambdaContext

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:Pipeline:split-run"
ONE_PASS = "arn:aws:states:us-east-1:123456789012:execution:Pipeline:one-pass-run"
KEEP_REJECTS = TransformSettings(max_reject_ratio=1.0)


@pytest.fixture(autouse=True)
def handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Powertools metrics off (no namespace here), and the handlers' settings as the test needs."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setattr(transform_range_handler, "SETTINGS", KEEP_REJECTS)
    monkeypatch.setattr(commit_handler, "SETTINGS", KEEP_REJECTS)


def context(seconds: float = 300) -> LambdaContext:
    return LambdaContext(
        function_name="split",
        function_version="1",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:split",
        memory_limit_in_mb=1769,
        aws_request_id="request",
        log_group_name="/aws/lambda/split",
        log_stream_name="stream",
        deadline=time.monotonic() + seconds,
    )


def stored(s3: Any, key: str, body: bytes, fmt: Format, compression: Compression = Compression.NONE) -> SourceObject:
    version = s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    return SourceObject(
        bucket=BUCKET,
        key=key,
        version_id=version,
        etag=etag,
        size=len(body),
        format=fmt,
        compression=compression,
        processing_type=ProcessingType.STANDARD,
        trigger=Trigger.S3,
    )


def profile_of(source: SourceObject, *, encoding: str = "utf-8", header: list[str] | None = None) -> ObjectProfile:
    dialect = None if header is None else CsvDialect(delimiter=",", quotechar='"', doublequote=True, header=header)
    return ObjectProfile(version_id=source.version_id, etag=source.etag, encoding=encoding, csv=dialect)


def read(s3: Any, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


def items(s3: Any, key: str) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(read(s3, key))
    return loaded


def split_run(
    s3: Any,
    source: SourceObject,
    profile: ObjectProfile,
    *,
    staged: dict[str, Any] | None = None,
    commit: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """PlanRanges, the scan's children, CutRanges, the transform's children, CommitRanges: each
    event built as the state machine builds it. Returns (the parts plan, the commit's output)."""
    event: dict[str, Any] = {"executionArn": EXECUTION, "source": to_payload(source), "profile": to_payload(profile)}
    if staged is not None:
        event["staged"] = staged
    plan = plan_handler.lambda_handler(event, context())
    for item in items(s3, plan["itemsKey"]):
        scan_handler.lambda_handler({"executionArn": EXECUTION, "split": plan["split"], "range": item}, context())
    parts = cut_handler.lambda_handler({"executionArn": EXECUTION, "plan": plan}, context())
    for item in items(s3, parts["itemsKey"]):
        transform_range_handler.lambda_handler(
            {"executionArn": EXECUTION, "split": parts["split"], "range": item}, context()
        )
    if not commit:
        return parts, {}
    output = commit_handler.lambda_handler(
        {"executionArn": EXECUTION, "source": to_payload(source), "plan": parts}, context()
    )
    return parts, output


def one_pass(s3: Any, source: SourceObject, profile: ObjectProfile) -> tuple[dict[str, Any], bytes, bytes]:
    """What the single-pass transform stages for the same source: its output, data and rejects."""
    staged = transform(s3, TransformEvent(execution_arn=ONE_PASS, source=source, profile=profile), KEEP_REJECTS)
    return to_payload(staged), read(s3, staged.data_key), read(s3, staged.rejects_key)


class CallCounter:
    """Counts the calls a client makes of some operations."""

    def __init__(self, client: Any, *operations: str) -> None:
        self.counts = dict.fromkeys(operations, 0)
        for operation in operations:
            client.meta.events.register(f"before-call.s3.{operation}", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.counts[model.name] += 1


def csv_body(rows: int) -> bytes:
    """A CSV whose records hold quoted line breaks, with a byte order mark; in its middle third
    nine records in ten are rejected (a field too many)."""
    lines = ["id,note,amount"]
    for number in range(rows):
        note = f'"first line\r\nsecond ""line"" {number}"' if number % 3 else "plain"
        rejected = rows // 3 <= number < 2 * rows // 3 and number % 10
        lines.append(f"{number},{note},{number % 100}.5" + (",extra" if rejected else ""))
    return b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n"


def test_a_split_csv_stages_byte_for_byte_what_one_pass_stages(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a CSV of about 9 MB split every 3 MiB: the middle part's records are mostly rejected,
    # so its data is under S3's 5 MiB minimum part and the others' over it (and the reverse for
    # the rejects): the commit copies parts and re-uploads the small ones with their neighbours
    monkeypatch.setattr(plan_handler, "SETTINGS", SplitSettings(range_bytes=3 * MiB))
    body = csv_body(220_000)
    source = stored(s3, "incoming/big.csv", body, Format.CSV)
    profile = profile_of(source, encoding="utf-8-sig", header=["id", "note", "amount"])

    # When it runs through the split's steps, and through the single-pass transform
    parts, _ = split_run(s3, source, profile, commit=False)
    calls = CallCounter(s3_client(), "UploadPartCopy", "UploadPart")
    output = commit_handler.lambda_handler(
        {"executionArn": EXECUTION, "source": to_payload(source), "plan": parts}, context()
    )
    expected, data, rejects = one_pass(s3, source, profile)

    # Then the staged data and rejects are the same bytes, and so are the counts and column types
    assert parts["parts"] == 3
    assert calls.counts["UploadPartCopy"] >= 1
    assert calls.counts["UploadPart"] >= 1
    assert read(s3, output["dataKey"]) == data
    assert read(s3, output["rejectsKey"]) == rejects
    assert {**output, "dataKey": None, "rejectsKey": None} == {**expected, "dataKey": None, "rejectsKey": None}
    assert (output["dataKey"], output["rejectsKey"]) == staging_keys(EXECUTION)
    assert output["rejected"] > output["records"] // 4


def test_every_event_and_item_stays_small_whatever_the_file(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a JSON Lines file split into forty ranges
    monkeypatch.setattr(plan_handler, "SETTINGS", SplitSettings(range_bytes=2500))
    body = b"".join(b'{"n": %d, "text": "%s"}\n' % (number, b"x" * 40) for number in range(2000))
    source = stored(s3, "incoming/lines.jsonl", body, Format.JSONL)
    parts, output = split_run(s3, source, profile_of(source))
    # Then the state carries pointers and counts only, and each Map item is a few numbers
    assert len(json.dumps(parts)) < 1000
    assert len(json.dumps(output)) < 1000
    assert max(len(json.dumps(item)) for item in items(s3, parts["itemsKey"])) < 120
    assert read(s3, output["dataKey"]) == one_pass(s3, source, profile_of(source))[1]


def test_a_retried_commit_writes_the_same_output_again(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_handler, "SETTINGS", SplitSettings(range_bytes=500))
    source = stored(s3, "incoming/a.csv", csv_body(100), Format.CSV)
    parts, first = split_run(s3, source, profile_of(source, encoding="utf-8-sig", header=["id", "note", "amount"]))
    data = read(s3, first["dataKey"])
    # When the commit runs again (its first reply lost, or a redrive)
    again = commit_handler.lambda_handler(
        {"executionArn": EXECUTION, "source": to_payload(source), "plan": parts}, context()
    )
    # Then it stages the same output under the same keys
    assert again == first
    assert read(s3, again["dataKey"]) == data


def test_a_part_gone_from_staging_is_a_system_error(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_handler, "SETTINGS", SplitSettings(range_bytes=500))
    source = stored(s3, "incoming/a.csv", csv_body(100), Format.CSV)
    parts, _ = split_run(
        s3, source, profile_of(source, encoding="utf-8-sig", header=["id", "note", "amount"]), commit=False
    )
    s3.delete_object(Bucket=BUCKET, Key=part_keys(EXECUTION, 1).data)
    # When the commit finds a part's data missing
    with pytest.raises(StagedOutputMissing) as raised:
        commit_handler.lambda_handler(
            {"executionArn": EXECUTION, "source": to_payload(source), "plan": parts}, context()
        )
    # Then the run fails as a system error (redrivable), not as a rejection of the file
    assert not isinstance(raised.value, BusinessError)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=staging_keys(EXECUTION)[0])["KeyCount"] == 0


def test_the_first_business_error_in_file_order_rejects_the_file(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given JSON Lines with bytes that are not UTF-8 on line 30 and line 80, in different parts
    monkeypatch.setattr(plan_handler, "SETTINGS", SplitSettings(range_bytes=400))
    lines = [b'{"n": %d}' % number for number in range(100)]
    lines[30], lines[80] = b'{"n": "\xff"}', b'{"n": "\xfe"}'
    source = stored(s3, "incoming/bad.jsonl", b"\n".join(lines), Format.JSONL)
    # When the parts are transformed: each records its error instead of failing its child
    parts, _ = split_run(s3, source, profile_of(source), commit=False)
    errors = [
        msgspec.json.decode(read(s3, part_keys(EXECUTION, index).result))["error"] for index in range(parts["parts"])
    ]
    assert sum(error is not None for error in errors) == 2
    # Then the commit raises the first, as one pass meets it, and stages nothing
    with pytest.raises(UnsupportedEncoding, match="near line 31"):
        commit_handler.lambda_handler(
            {"executionArn": EXECUTION, "source": to_payload(source), "plan": parts}, context()
        )
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=staging_keys(EXECUTION)[0])["KeyCount"] == 0


def test_a_source_version_gone_before_the_scan_rejects_the_file_at_the_cut(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run whose source version is deleted after PlanRanges
    monkeypatch.setattr(plan_handler, "SETTINGS", SplitSettings(range_bytes=400))
    source = stored(s3, "incoming/gone.jsonl", b'{"a": 1}\n' * 200, Format.JSONL)
    event = {"executionArn": EXECUTION, "source": to_payload(source), "profile": to_payload(profile_of(source))}
    plan = plan_handler.lambda_handler(event, context())
    s3.delete_object(Bucket=BUCKET, Key=source.key, VersionId=source.version_id)
    # When the scan's children run, each stages the error instead of failing (and failing the Map)
    for item in items(s3, plan["itemsKey"]):
        scan_handler.lambda_handler({"executionArn": EXECUTION, "split": plan["split"], "range": item}, context())
    # Then CutRanges raises it as the business error one pass raises
    with pytest.raises(ObjectNotFound, match=r"incoming/gone\.jsonl"):
        cut_handler.lambda_handler({"executionArn": EXECUTION, "plan": plan}, context())


def test_a_json_array_is_not_split(s3: Any) -> None:
    source = stored(s3, "incoming/a.json", b'[{"a": 1}]', Format.JSON)
    event = {"executionArn": EXECUTION, "source": to_payload(source), "profile": to_payload(profile_of(source))}
    with pytest.raises(ObjectTooLarge, match="JSON Lines"):
        plan_handler.lambda_handler(event, context())


# --- gzip ---------------------------------------------------------------------------------------


def test_a_gzip_source_is_decompressed_once_and_its_copy_split(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a gzip CSV
    monkeypatch.setattr(plan_handler, "SETTINGS", SplitSettings(range_bytes=2000))
    source = stored(s3, "incoming/a.csv.gz", gzip.compress(csv_body(500)), Format.CSV, Compression.GZIP)
    profile = profile_of(source, encoding="utf-8-sig", header=["id", "note", "amount"])
    # When InflateSource stages its decompressed copy and the split reads that copy
    staged = inflate_handler.lambda_handler({"executionArn": EXECUTION, "source": to_payload(source)}, context())
    _, output = split_run(s3, source, profile, staged=staged)
    # Then the copy is the decompressed source, pinned by its version, and the output is one pass's
    assert read(s3, staged["key"]) == csv_body(500)
    assert staged["size"] == len(csv_body(500))
    expected, data, _ = one_pass(s3, source, profile)
    assert read(s3, output["dataKey"]) == data
    assert output["records"] == expected["records"]


def test_a_gzip_source_is_split_only_from_its_copy(s3: Any) -> None:
    source = stored(s3, "incoming/a.csv.gz", gzip.compress(b"a\n1\n"), Format.CSV, Compression.GZIP)
    event = {
        "executionArn": EXECUTION,
        "source": to_payload(source),
        "profile": to_payload(profile_of(source, header=["a"])),
    }
    with pytest.raises(BusinessError, match="InflateSource"):
        plan_handler.lambda_handler(event, context())


@pytest.mark.parametrize(
    ("settings", "seconds_left", "reason"),
    [
        (InflateSettings(max_decompressed_bytes=10_000), 300.0, "limit of decompressed bytes"),
        (InflateSettings(), 10.0, "time ran out"),
    ],
    ids=["bytes", "time"],
)
def test_inflating_stops_at_its_limits_and_leaves_nothing_staged(
    s3: Any, settings: InflateSettings, seconds_left: float, reason: str
) -> None:
    # Given a gzip bomb: a little gzip that expands to 64 MiB
    bomb = gzip.compress(b"0" * (64 * MiB))
    source = stored(s3, "incoming/bomb.csv.gz", bomb, Format.CSV, Compression.GZIP)
    # When it is decompressed with a byte limit, or with little time left
    with pytest.raises(ObjectTooLarge, match=reason):
        inflate(s3, InflateSourceEvent(EXECUTION, source), settings, seconds_left=lambda: seconds_left)
    # Then the file is rejected naming the limit, and no copy is left behind
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="staging/")["KeyCount"] == 0


def test_a_decompressed_copy_gone_from_staging_is_a_system_error(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    source = stored(s3, "incoming/a.csv.gz", gzip.compress(csv_body(50)), Format.CSV, Compression.GZIP)
    staged = inflate_handler.lambda_handler({"executionArn": EXECUTION, "source": to_payload(source)}, context())
    s3.delete_object(Bucket=BUCKET, Key=staged["key"], VersionId=staged["versionId"])
    with pytest.raises(StagedOutputMissing):
        split_run(s3, source, profile_of(source, encoding="utf-8-sig", header=["id", "note", "amount"]), staged=staged)
