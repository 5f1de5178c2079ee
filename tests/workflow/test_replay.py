"""Replaying sources after a contract change: new runs with the settings deployed now, whose output
replaces the earlier one only when they succeed, the ledger recording both runs and the reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.common import datasets
from tasks.common.layout import INCOMING_PREFIX
from tests.scenarios import as_csv, ledger_item, wait_for_ledger
from workflow.ledger import FAILED, REJECTED, SUCCEEDED
from workflow.local.environment import Execution, LocalPipeline
from workflow.ops.replay import replay
from workflow.ops.sources import SourceFilter, find_sources

DATASET = "ledger-replay"
ROWS = [{"id": str(n), "name": f"name {n}", "score": str(n * 10)} for n in range(6)]
# The contract after the fix: a score must be at least 20 (the first two records become rejects).
STRICTER = {
    "schema": {"type": "object", "properties": {"score": {"type": "integer", "minimum": 20}}},
    "maxRejectRatio": 0.5,
}
# A contract no record meets: every replay under it is rejected.
IMPOSSIBLE = {"schema": {"type": "object", "required": ["missing"]}, "maxRejectRatio": 0.1}


class Contracts:
    """The dataset's settings file, rewritten as a deployment would change it."""

    def __init__(self, pipeline: LocalPipeline, folder: Path) -> None:
        self.pipeline = pipeline
        self.folder = folder
        self.path = folder / f"{DATASET}.json"

    def deploy(self, settings: dict[str, Any]) -> str:
        """Write the settings and redeploy the functions with them (their next invocations are cold,
        as after a deploy); the contract version, as this process computes it."""
        self.path.write_text(json.dumps(settings))
        self.pipeline.lambdas.override(datasets.__name__, "DATASETS_DIR", self.folder)
        datasets.dataset_settings.cache_clear()
        return datasets.contract_version(DATASET)


@pytest.fixture
def contracts(pipeline: LocalPipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Contracts]:
    folder = tmp_path / "datasets"
    folder.mkdir()
    # This process reads the settings (the expected contract version), the sandboxes run with them.
    monkeypatch.setattr(datasets, "DATASETS_DIR", folder)
    datasets.dataset_settings.cache_clear()
    yield Contracts(pipeline, folder)
    datasets.dataset_settings.cache_clear()


def upload_all(pipeline: LocalPipeline, names: list[str]) -> list[Execution]:
    runs = []
    for name in names:
        before = len(pipeline.started)
        pipeline.upload(f"{INCOMING_PREFIX}{DATASET}/{name}", as_csv(ROWS))
        assert len(pipeline.started) == before + 1
        runs.append(pipeline.wait(pipeline.started[-1], timeout=30))
    return runs


def manifest(pipeline: LocalPipeline, execution: Execution) -> dict[str, Any]:
    assert execution.output is not None
    loaded: dict[str, Any] = json.loads(pipeline.read_object(execution.output["output"]["manifestKey"]))
    return loaded


def records_at(pipeline: LocalPipeline, key: str, version_id: str) -> list[dict[str, Any]]:
    body = pipeline.client("s3").get_object(Bucket=pipeline.stack.bucket_name, Key=key, VersionId=version_id)["Body"]
    return [json.loads(line) for line in body.read().splitlines()]


def replay_dataset(pipeline: LocalPipeline, reason: str) -> list[Execution]:
    table = pipeline.stack.tables[0].name
    items = find_sources(
        pipeline.client("dynamodb"), table, SourceFilter(bucket=pipeline.stack.bucket_name, dataset=DATASET)
    )
    started = replay(pipeline.client("stepfunctions"), pipeline.stack.state_machine_arn, items, reason=reason)
    assert all(start.error is None and start.execution_arn for start in started), started
    return [pipeline.wait(str(start.execution_arn), timeout=30) for start in started]


def test_a_replay_after_a_contract_change_replaces_the_output_and_the_ledger_records_both_runs(
    pipeline: LocalPipeline, contracts: Contracts
) -> None:
    # Given two files of a dataset processed under its first contract
    first_contract = contracts.deploy({"maxRejectRatio": 0.5})
    originals = upload_all(pipeline, ["a.csv", "b.csv"])
    assert [run.status for run in originals] == ["SUCCEEDED", "SUCCEEDED"]
    before = {run.input["key"]: manifest(pipeline, run) for run in originals}

    # When the contract is fixed and the dataset is replayed with a reason
    second_contract = contracts.deploy(STRICTER)
    replays = replay_dataset(pipeline, "scores under 20 are errors (ticket 42)")

    # Then each replay succeeded and its manifest names it and the versions it wrote
    assert [run.status for run in replays] == ["SUCCEEDED", "SUCCEEDED"]
    for run in replays:
        key, version = run.input["key"], run.input["versionId"]
        after = manifest(pipeline, run)
        assert after["run"]["executionArn"] == run.arn
        assert after["counts"] == {"input": 6, "records": 4, "rejected": 2}
        new_records = records_at(pipeline, after["output"]["key"], after["output"]["versionId"])
        assert [record["id"] for record in new_records] == [2, 3, 4, 5]
        # And the earlier output is still there, as the noncurrent version the earlier manifest named
        earlier = before[key]
        old_records = records_at(pipeline, earlier["output"]["key"], earlier["output"]["versionId"])
        assert [record["id"] for record in old_records] == [0, 1, 2, 3, 4, 5]
        # And the ledger's item says SUCCEEDED under the new contract, with both runs and the reason
        item = ledger_item(pipeline, key, version)
        assert item is not None
        assert (item.status, item.contract_version, item.run_arn) == (SUCCEEDED, second_contract, run.arn)
        assert item.output is not None
        assert (item.output["records"], item.output["rejected"]) == (4, 2)
        entries = {entry.trigger: entry for entry in item.runs}
        assert set(item.executions) == {entries["s3"].execution_arn, run.arn}
        assert (entries["s3"].status, entries["s3"].contract_version) == (SUCCEEDED, first_contract)
        assert (entries["replay"].status, entries["replay"].reason) == (
            SUCCEEDED,
            "scores under 20 are errors (ticket 42)",
        )
        assert entries["replay"].contract_version == second_contract


def test_a_rejected_replay_leaves_the_earlier_output_current(pipeline: LocalPipeline, contracts: Contracts) -> None:
    # Given a file processed under a first contract
    contracts.deploy({"maxRejectRatio": 0.5})
    (original,) = upload_all(pipeline, ["c.csv"])
    committed = manifest(pipeline, original)

    # When a contract that rejects every record is deployed and the dataset replayed
    contracts.deploy(IMPOSSIBLE)
    (replayed,) = replay_dataset(pipeline, "try the new contract")

    # Then the replay is rejected, the manifest is untouched, and the ledger says REJECTED and why,
    # keeping the earlier run's output as the current one
    assert (replayed.status, replayed.error) == ("FAILED", "TooManyRejects")
    assert manifest(pipeline, original) == committed
    item = ledger_item(pipeline, original.input["key"], original.input["versionId"])
    assert item is not None
    assert (item.status, item.error) == (REJECTED, "TooManyRejects")
    assert original.output is not None
    assert item.output is not None
    assert item.output["manifestKey"] == original.output["output"]["manifestKey"]
    assert [entry.status for entry in item.runs] == [SUCCEEDED, REJECTED]


def test_an_older_run_redriven_after_a_replay_ends_superseded_and_changes_nothing(
    pipeline: LocalPipeline, contracts: Contracts
) -> None:
    # Given a run that failed on a system error, then a replay of the failed version that succeeded
    contracts.deploy({"maxRejectRatio": 0.5})
    pipeline.lambdas.inject_fault(pipeline.function_for_state("TransformCsv"), error="InjectedFault")
    (failed,) = upload_all(pipeline, ["d.csv"])
    key, version = failed.input["key"], failed.input["versionId"]
    wait_for_ledger(pipeline, key, version, FAILED)
    table = pipeline.stack.tables[0].name
    items = find_sources(
        pipeline.client("dynamodb"), table, SourceFilter(bucket=pipeline.stack.bucket_name, status=FAILED)
    )
    (started,) = replay(pipeline.client("stepfunctions"), pipeline.stack.state_machine_arn, items, reason="retry")
    replayed = pipeline.wait(str(started.execution_arn), timeout=30)
    assert replayed.status == "SUCCEEDED"
    committed = manifest(pipeline, replayed)

    # When the old run is redriven afterwards and commits late
    pipeline.redrive(failed.arn)
    late = pipeline.wait(failed.arn, timeout=30)

    # Then it ends at Superseded without replacing the replay's output or its ledger result
    assert late.status == "SUCCEEDED"
    assert [visit.name for visit in pipeline.visits(failed.arn)][-3:] == [
        "WriteOutput",
        "RecordSuperseded",
        "Superseded",
    ]
    assert manifest(pipeline, replayed) == committed
    item = ledger_item(pipeline, key, version)
    assert item is not None
    assert (item.status, item.run_arn) == (SUCCEEDED, replayed.arn)
    assert {entry.execution_arn: entry.status for entry in item.runs} == {
        failed.arn: "SUPERSEDED",
        replayed.arn: SUCCEEDED,
    }
