"""Operating ``pipeline serve`` as an operator would: a system failure, inspected and redriven."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import BIN, SAMPLE, Served, finished, serving, wait_until


@pytest.fixture(scope="module")
def faulty() -> Iterator[Served]:
    # The CSV and JSON Lines transforms each fail once with a system error.
    with serving("--fail", "TransformCsv", "--fail", "TransformJsonl:InjectedFault:1") as server:
        yield server


def upload_and_finish(served: Served, key: str, body_path: str = str(SAMPLE)) -> str:
    before = set(served.executions())
    result = served.run_cli(str(BIN / "aws"), "s3", "cp", body_path, f"s3://{served.bucket}/{key}")
    assert result.returncode == 0, result.stderr
    (name,) = wait_until(lambda: set(served.executions()) - before, f"the run of {key}")
    wait_until(lambda: finished(served, name), name)
    return str(name)


def entered_states(served: Served, name: str) -> list[str]:
    arn = served.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    history = served.run_cli(str(BIN / "aws"), "stepfunctions", "get-execution-history", "--execution-arn", arn)
    events = json.loads(history.stdout)["events"]
    return [event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event]


def data_objects(served: Served) -> list[str]:
    listed = served.client("s3").list_objects_v2(Bucket=served.bucket, Prefix="processed/")
    return [item["Key"] for item in listed.get("Contents", []) if item["Key"].endswith("/data.jsonl")]


def test_a_failed_run_is_shown_announced_and_redriven_with_pipeline_redrive(faulty: Served) -> None:
    # Given a run that fails at TransformCsv on a system error
    name = upload_and_finish(faulty, "incoming/first.csv")
    assert finished(faulty, name) == "FAILED"
    wait_until(lambda: any(f"Pipeline run {name} ended FAILED" in line for line in faulty.output), "the announcement")

    # When the operator looks at it
    shown = faulty.run_cli(str(BIN / "pipeline"), "show", name)
    assert shown.returncode == 0, shown.stderr
    assert "failed at  TransformCsv" in shown.stdout
    # (through the served ListMapRuns: a single-pass run started no Map Run, and shows none)
    assert "map run" not in shown.stdout
    assert json.loads(faulty.run_cli(str(BIN / "pipeline"), "show", name, "--json").stdout)["mapRuns"] == []
    listed = json.loads(faulty.run_cli(str(BIN / "pipeline"), "executions", "--json").stdout)
    assert {run["name"]: run["redrivable"] for run in listed}[name] is True

    # And redrives it
    redriven = faulty.run_cli(str(BIN / "pipeline"), "redrive", name)
    assert redriven.returncode == 0, redriven.stderr
    assert f"{name}: redriven" in redriven.stdout

    # Then it succeeds; the states before the failed one ran once; one output exists
    assert wait_until(lambda: finished(faulty, name), name) == "SUCCEEDED"
    entered = entered_states(faulty, name)
    assert entered.count("Validate") == 1
    assert entered.count("TransformCsv") == 2
    assert len(data_objects(faulty)) == 1


def test_the_aws_cli_redrives_too_and_describe_reports_it(faulty: Served) -> None:
    # Given a JSON Lines run that failed at its transform
    name = upload_and_finish(faulty, "incoming/second.jsonl", str(SAMPLE.parent / "orders.jsonl"))
    assert finished(faulty, name) == "FAILED"
    arn = faulty.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"

    # When the AWS CLI redrives it
    result = faulty.run_cli(str(BIN / "aws"), "stepfunctions", "redrive-execution", "--execution-arn", arn)
    assert result.returncode == 0, result.stderr
    assert "redriveDate" in json.loads(result.stdout)

    # Then it succeeds and describe-execution counts the redrive
    assert wait_until(lambda: finished(faulty, name), name) == "SUCCEEDED"
    described = json.loads(
        faulty.run_cli(str(BIN / "aws"), "stepfunctions", "describe-execution", "--execution-arn", arn).stdout
    )
    assert described["redriveCount"] == 1
    assert entered_states(faulty, name).count("Fetch") == 1


def test_runs_that_redriving_cannot_help_are_refused_with_the_reason(faulty: Served) -> None:
    # Given a business rejection and a success
    rejected = upload_and_finish(faulty, "incoming/notes.txt", str(SAMPLE.parent / "orders.json"))
    succeeded = upload_and_finish(faulty, "incoming/fine.json", str(SAMPLE.parent / "orders.json"))
    assert (finished(faulty, rejected), finished(faulty, succeeded)) == ("FAILED", "SUCCEEDED")

    # When the operator tries to redrive them
    refused = faulty.run_cli(str(BIN / "pipeline"), "redrive", rejected)
    arn = faulty.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{succeeded}"
    aws = faulty.run_cli(str(BIN / "aws"), "stepfunctions", "redrive-execution", "--execution-arn", arn)

    # Then both are refused, each saying why
    assert refused.returncode == 1
    assert "business error UnsupportedFormat: fix the input and upload it again" in refused.stdout
    assert aws.returncode != 0
    assert "ExecutionNotRedrivable" in aws.stderr
