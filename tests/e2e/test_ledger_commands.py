"""The ledger's commands against ``pipeline serve``, as an operator runs them: backfill objects
uploaded before the stack existed, list what happened to them, reconcile, replay."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import BIN, SAMPLE, Served, serving, wait_until

PREFIX = "incoming/old/"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving() as server:
        yield server


def pipeline(served: Served, *args: str) -> tuple[int, str, str]:
    result = served.run_cli(str(BIN / "pipeline"), *args)
    return result.returncode, result.stdout, result.stderr


def test_objects_from_before_the_stack_are_backfilled_listed_reconciled_and_replayed(served: Served) -> None:
    # Given two objects uploaded while the S3 rule was off (as before the stack existed)
    events = served.client("events")
    (rule,) = [rule["Name"] for rule in events.list_rules()["Rules"] if "S3Trigger" in rule["Name"]]
    events.disable_rule(Name=rule)
    s3 = served.client("s3")
    for name in ("a.csv", "b.csv"):
        s3.put_object(Bucket=served.bucket, Key=PREFIX + name, Body=SAMPLE.read_bytes())
    events.enable_rule(Name=rule)

    # When reconcile looks, it finds them; a dry-run backfill counts them and starts nothing
    code, out, _ = pipeline(served, "reconcile", "--json")
    assert code == 1
    assert sorted(found["key"] for found in json.loads(out)["unrecorded"]) == [PREFIX + "a.csv", PREFIX + "b.csv"]
    code, out, err = pipeline(served, "backfill", "--prefix", PREFIX, "--dry-run", "--json")
    assert code == 0, err
    assert json.loads(out.split("\n", 1)[1])["outcomes"]["wouldStart"] == 2

    # When they are backfilled
    code, out, err = pipeline(served, "backfill", "--prefix", PREFIX, "--concurrency", "2")

    # Then the command printed the backfill's ARN and its progress, ending SUCCEEDED
    assert code == 0, err
    lines = out.splitlines()
    assert ":execution:ServerlessDataPipeline-Backfill:backfill-" in lines[0]
    assert lines[-1].startswith("SUCCEEDED")
    assert "started 2" in lines[-1]
    assert "succeeded 2" in lines[-1]
    # And pipeline sources says what happened to each, and reconcile finds nothing left
    code, out, err = pipeline(served, "sources", "--prefix", PREFIX, "--json")
    assert code == 0, err
    assert {(item["key"], item["status"]) for item in json.loads(out)} == {
        (PREFIX + "a.csv", "SUCCEEDED"),
        (PREFIX + "b.csv", "SUCCEEDED"),
    }
    code, out, err = pipeline(served, "reconcile")
    assert code == 0, err
    assert "every upload under the prefix is accounted for" in out

    # When the prefix is replayed with a reason
    code, out, err = pipeline(served, "replay", "--prefix", PREFIX, "--reason", "e2e check", "--json")
    assert code == 0, err
    started = [start["executionArn"] for start in json.loads(out)]
    assert len(started) == 2

    # Then both replays end, and the ledger records the reason with each
    sfn = served.client("stepfunctions")
    for arn in started:
        wait_until(lambda arn=arn: sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED", arn)
    code, out, _ = pipeline(served, "sources", "--prefix", PREFIX, "--json")
    reasons = {entry["reason"] for item in json.loads(out) for entry in item["runs"] if entry["trigger"] == "replay"}
    assert reasons == {"e2e check"}


def test_usage_mistakes_are_one_line_errors(served: Served) -> None:
    for args, message in (
        (("backfill", "--prefix", "processed/"), "--prefix must start with 'incoming/'"),
        (("replay", "--dataset", "orders", "--reason", " "), "--reason must say why"),
        (("reconcile", "--prefix", "uploads/"), "--prefix must start with 'incoming/'"),
    ):
        code, _, err = pipeline(served, *args)
        assert (code, err.count("\n")) == (2, 1), err
        assert message in err
