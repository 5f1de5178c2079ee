"""The split's steps against moto's S3, chained as the workflow chains them.

Each step gets the event the state machine would build (the ranges read from the staged JSON
arrays, as a Distributed Map's ItemReader hands them out) and is run as its handler runs it:
the event decoded into its model, the logic called with the S3 client, the result's payload
returned (the handler modules add Powertools around that, which the workflow suite runs; they are
not imported here, as the local runtime must create their logger with the function's settings).
Each run must leave in staging exactly what one pass makes of the same source.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import pytest

from tasks.commit_ranges.logic import commit_ranges, join_objects
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
    Model,
    ObjectProfile,
    ProcessingType,
    SourceObject,
    Trigger,
    decode_event,
    to_payload,
)
from tasks.cut_ranges.logic import cut_ranges
from tasks.fetch.logic import stage_profile
from tasks.inflate_source.logic import InflateSettings, inflate
from tasks.plan_ranges.logic import plan_ranges
from tasks.scan_range.logic import scan
from tasks.split.layout import part_keys
from tasks.split.models import (
    CommitRangesEvent,
    CutRangesEvent,
    InflateSourceEvent,
    PlanRangesEvent,
    ScanRangeEvent,
    TransformRangeEvent,
)
from tasks.split.plan import MiB, SplitSettings
from tasks.transform.logic import TransformSettings
from tasks.transform.output import Lineage
from tasks.transform_range.logic import transform_range
from tests.handlers.conftest import BUCKET
from tests.handlers.part_calls import PartCalls
from tests.unit.splitting import single_pass

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:Pipeline:split-run"
KEEP_REJECTS = TransformSettings(max_reject_ratio=1.0)

E = TypeVar("E", bound=Model)


def step(model: type[E], logic: Callable[[E], Model]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A step as its handler runs it: event → model → logic → payload."""

    def run(event: dict[str, Any]) -> dict[str, Any]:
        return to_payload(logic(decode_event(event, model)))

    return run


class Steps:
    """The split's steps on one S3 client, with the settings their functions would read."""

    def __init__(self, s3: Any, *, range_bytes: int) -> None:
        self.s3 = s3
        split_settings = SplitSettings(range_bytes=range_bytes)
        self.inflate = step(
            InflateSourceEvent,
            lambda event: inflate(s3, event, InflateSettings(), seconds_left=lambda: 300.0),
        )
        self.plan = step(PlanRangesEvent, lambda event: plan_ranges(s3, event, split_settings, KEEP_REJECTS))
        self.scan = step(ScanRangeEvent, lambda event: scan(s3, event))
        self.cut = step(CutRangesEvent, lambda event: cut_ranges(s3, event))
        self.transform = step(TransformRangeEvent, lambda event: transform_range(s3, event, KEEP_REJECTS))
        self.commit = step(CommitRangesEvent, lambda event: commit_ranges(s3, event, KEEP_REJECTS))


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


def plan_event(s3: Any, source: SourceObject, profile: ObjectProfile) -> dict[str, Any]:
    """PlanRanges' event as the workflow builds it: Fetch's profile with its CSV dialect staged."""
    staged_profile = stage_profile(s3, execution_arn=EXECUTION, bucket=source.bucket, found=profile)
    return {"executionArn": EXECUTION, "source": to_payload(source), "profile": to_payload(staged_profile)}


def read(s3: Any, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


def items(s3: Any, key: str) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(read(s3, key))
    return loaded


def split_run(
    steps: Steps, source: SourceObject, profile: ObjectProfile, *, staged: dict[str, Any] | None = None
) -> dict[str, Any]:
    """PlanRanges, the scan's children, CutRanges and the transform's children, each event built as
    the state machine builds it (the Map items read from S3); returns CutRanges' parts plan."""
    s3 = steps.s3
    event = plan_event(s3, source, profile)
    if staged is not None:
        event["staged"] = staged
    plan = steps.plan(event)
    for item in items(s3, plan["itemsKey"]):
        steps.scan({"executionArn": EXECUTION, "split": plan["split"], "range": item})
    parts = steps.cut({"executionArn": EXECUTION, "plan": plan})
    for item in items(s3, parts["itemsKey"]):
        steps.transform({"executionArn": EXECUTION, "split": parts["split"], "range": item})
    return parts


def commit(steps: Steps, source: SourceObject, parts: dict[str, Any]) -> dict[str, Any]:
    return steps.commit({"executionArn": EXECUTION, "source": to_payload(source), "plan": parts})


def one_pass(body: bytes, source: SourceObject, profile: ObjectProfile) -> dict[str, Any]:
    """What one pass makes of the same source: its data, rejects, counts and column summary."""
    outcome = single_pass(
        body,
        source.format,
        profile,
        settings=KEEP_REJECTS,
        lineage=Lineage(source.key, source.version_id),
        compression=source.compression,
    )
    assert outcome.error is None
    return {
        "data": outcome.data,
        "rejects": outcome.rejects,
        "records": outcome.records,
        "rejected": outcome.rejected,
        "columns": [to_payload(column) for column in outcome.columns],
    }


def staged(s3: Any, output: dict[str, Any]) -> dict[str, Any]:
    """The run's staged output as ``one_pass`` describes it, and where it is."""
    assert (output["dataKey"], output["rejectsKey"]) == staging_keys(EXECUTION)
    return {
        "data": read(s3, output["dataKey"]),
        "rejects": read(s3, output["rejectsKey"]),
        "records": output["records"],
        "rejected": output["rejected"],
        # The column summaries are staged (one entry per column), as the single pass stages them.
        "columns": json.loads(read(s3, output["columnsKey"])) if output.get("columnsKey") else [],
    }


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


CSV_HEADER = ["id", "note", "amount"]


def test_a_split_csv_stages_byte_for_byte_what_one_pass_makes(s3: Any) -> None:
    # Given a CSV of about 9 MB split every 3 MiB: the middle part's records are mostly rejected,
    # so its data is under S3's 5 MiB minimum part and the others' over it (and the reverse for
    # the rejects): the commit copies parts and re-uploads the small ones with their neighbours
    steps = Steps(s3, range_bytes=3 * MiB)
    body = csv_body(220_000)
    source = stored(s3, "incoming/big.csv", body, Format.CSV)
    profile = profile_of(source, encoding="utf-8-sig", header=CSV_HEADER)

    # When it runs through the split's steps
    parts = split_run(steps, source, profile)
    calls = CallCounter(s3, "UploadPartCopy", "UploadPart")
    output = commit(steps, source, parts)

    # Then the staged data and rejects are one pass's bytes, and so are the counts and column types
    assert parts["parts"] == 3
    assert calls.counts["UploadPartCopy"] >= 1
    assert calls.counts["UploadPart"] >= 1
    assert staged(s3, output) == one_pass(body, source, profile)
    assert output["rejected"] > output["records"] // 4


def test_every_event_and_item_stays_small_whatever_the_file(s3: Any) -> None:
    # Given a JSON Lines file split into forty ranges
    steps = Steps(s3, range_bytes=2500)
    body = b"".join(b'{"n": %d, "text": "%s"}\n' % (number, b"x" * 40) for number in range(2000))
    source = stored(s3, "incoming/lines.jsonl", body, Format.JSONL)
    parts = split_run(steps, source, profile_of(source))
    output = commit(steps, source, parts)
    # Then the state carries pointers and counts only, and each Map item is a few numbers
    assert parts["parts"] >= 40
    assert len(json.dumps(parts)) < 1000
    assert len(json.dumps(output)) < 1000
    assert max(len(json.dumps(item)) for item in items(s3, parts["itemsKey"])) < 120
    assert staged(s3, output) == one_pass(body, source, profile_of(source))


def test_a_retried_commit_writes_the_same_output_again(s3: Any) -> None:
    # Given a committed split run
    steps = Steps(s3, range_bytes=500)
    source = stored(s3, "incoming/a.csv", csv_body(100), Format.CSV)
    parts = split_run(steps, source, profile_of(source, encoding="utf-8-sig", header=CSV_HEADER))
    first = commit(steps, source, parts)
    data = read(s3, first["dataKey"])
    # When the commit runs again (its first reply lost, or a redrive)
    again = commit(steps, source, parts)
    # Then it stages the same output under the same keys
    assert again == first
    assert read(s3, again["dataKey"]) == data


def test_the_join_copies_its_parts_at_once_and_lists_them_in_order(s3: Any) -> None:
    # Given four staged parts: three of 6 MiB, copied by S3, and a small one uploaded again with the
    # head of the next, then the rest of it; the first copy is held until the second has finished
    sizes = [6 * MiB, 6 * MiB, 1000, 6 * MiB]
    pieces = [(f"staging/join/part-{index}", size) for index, size in enumerate(sizes)]
    bodies = [bytes([65 + index]) * size for index, size in enumerate(sizes)]
    for (key, _), body in zip(pieces, bodies, strict=True):
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    copies = PartCalls(s3)
    copies.hold(1, until=2)

    # When they are joined
    join_objects(s3, bucket=BUCKET, key="staging/join/data.jsonl", pieces=pieces)

    # Then the copies ran at once, and the object is the parts end to end, in order
    assert copies.finished == [2, 1]
    assert read(s3, "staging/join/data.jsonl") == b"".join(bodies)


def test_a_part_gone_from_staging_is_a_system_error(s3: Any) -> None:
    # Given transformed parts, one of which is gone from staging
    steps = Steps(s3, range_bytes=500)
    source = stored(s3, "incoming/a.csv", csv_body(100), Format.CSV)
    parts = split_run(steps, source, profile_of(source, encoding="utf-8-sig", header=CSV_HEADER))
    s3.delete_object(Bucket=BUCKET, Key=part_keys(EXECUTION, 1).data)
    # When the commit joins them
    with pytest.raises(StagedOutputMissing) as raised:
        commit(steps, source, parts)
    # Then the run fails as a system error (redrivable), not as a rejection of the file
    assert not isinstance(raised.value, BusinessError)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=staging_keys(EXECUTION)[0])["KeyCount"] == 0


def test_the_first_business_error_in_file_order_rejects_the_file(s3: Any) -> None:
    # Given JSON Lines with bytes that are not UTF-8 on line 31 and line 81, in different parts
    steps = Steps(s3, range_bytes=400)
    lines = [b'{"n": %d}' % number for number in range(100)]
    lines[30], lines[80] = b'{"n": "\xff"}', b'{"n": "\xfe"}'
    source = stored(s3, "incoming/bad.jsonl", b"\n".join(lines), Format.JSONL)
    # When the parts are transformed: each stages its error instead of failing its Map child
    parts = split_run(steps, source, profile_of(source))
    errors = [
        msgspec.json.decode(read(s3, part_keys(EXECUTION, index).result))["error"] for index in range(parts["parts"])
    ]
    assert sum(error is not None for error in errors) == 2
    # Then the commit raises the first, as one pass meets it, and stages nothing
    with pytest.raises(UnsupportedEncoding, match="near line 31"):
        commit(steps, source, parts)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=staging_keys(EXECUTION)[0])["KeyCount"] == 0


def test_a_source_version_gone_before_the_scan_rejects_the_file_at_the_cut(s3: Any) -> None:
    # Given a run whose source version is deleted after PlanRanges
    steps = Steps(s3, range_bytes=400)
    source = stored(s3, "incoming/gone.jsonl", b'{"a": 1}\n' * 200, Format.JSONL)
    event = plan_event(s3, source, profile_of(source))
    plan = steps.plan(event)
    s3.delete_object(Bucket=BUCKET, Key=source.key, VersionId=source.version_id)
    # When the scan's children run, each stages the error instead of failing (and failing the Map)
    for item in items(s3, plan["itemsKey"]):
        steps.scan({"executionArn": EXECUTION, "split": plan["split"], "range": item})
    # Then CutRanges raises it as the business error one pass raises
    with pytest.raises(ObjectNotFound, match=r"incoming/gone\.jsonl"):
        steps.cut({"executionArn": EXECUTION, "plan": plan})


def test_a_json_array_is_not_split(s3: Any) -> None:
    source = stored(s3, "incoming/a.json", b'[{"a": 1}]', Format.JSON)
    event = plan_event(s3, source, profile_of(source))
    # When PlanRanges is given a JSON array; Then it refuses it, pointing to JSON Lines
    with pytest.raises(ObjectTooLarge, match="JSON Lines"):
        Steps(s3, range_bytes=100).plan(event)


# --- gzip ---------------------------------------------------------------------------------------


def test_a_gzip_source_is_decompressed_once_and_its_copy_split(s3: Any) -> None:
    # Given a gzip CSV
    steps = Steps(s3, range_bytes=2000)
    body = csv_body(500)
    source = stored(s3, "incoming/a.csv.gz", gzip.compress(body), Format.CSV, Compression.GZIP)
    profile = profile_of(source, encoding="utf-8-sig", header=CSV_HEADER)
    # When InflateSource stages its decompressed copy and the split reads that copy
    copy = steps.inflate({"executionArn": EXECUTION, "source": to_payload(source)})
    output = commit(steps, source, split_run(steps, source, profile, staged=copy))
    # Then the copy is the decompressed source, pinned by its version, and the output is one pass's
    assert read(s3, copy["key"]) == body
    assert copy["size"] == len(body)
    assert staged(s3, output) == one_pass(gzip.compress(body), source, profile)


def test_a_gzip_source_is_split_only_from_its_copy(s3: Any) -> None:
    source = stored(s3, "incoming/a.csv.gz", gzip.compress(b"a\n1\n"), Format.CSV, Compression.GZIP)
    event = plan_event(s3, source, profile_of(source, header=["a"]))
    # When PlanRanges is given a gzip source without its copy; Then it says which step is missing
    with pytest.raises(BusinessError, match="InflateSource"):
        Steps(s3, range_bytes=100).plan(event)


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


def test_a_decompressed_copy_gone_from_staging_is_a_system_error(s3: Any) -> None:
    # Given a decompressed copy deleted before the split reads it
    steps = Steps(s3, range_bytes=2000)
    source = stored(s3, "incoming/a.csv.gz", gzip.compress(csv_body(50)), Format.CSV, Compression.GZIP)
    copy = steps.inflate({"executionArn": EXECUTION, "source": to_payload(source)})
    s3.delete_object(Bucket=BUCKET, Key=copy["key"], VersionId=copy["versionId"])
    # When the split starts; Then it fails as a system error
    with pytest.raises(StagedOutputMissing):
        split_run(steps, source, profile_of(source, encoding="utf-8-sig", header=CSV_HEADER), staged=copy)
