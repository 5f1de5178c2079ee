"""The ``pipeline run`` command as a user meets it: exit codes, reports, copied output."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios import CSV_TO_JSONL_STATES
from workflow.cli.main import EXIT_FAILED, EXIT_SUCCEEDED, EXIT_USAGE, first_run_states, main
from workflow.local.environment import LocalPipeline
from workflow.local.template import StackModel

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_run_succeeds_and_reports_states_output_and_notifications(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the bundled CSV sample and an output folder
    out = tmp_path / "out"
    prewarmed: list[tuple[str, ...]] = []
    from_project = LocalPipeline.from_project.__func__

    def recording(cls: type[LocalPipeline], **settings: Any) -> LocalPipeline:
        prewarmed.append(tuple(settings["prewarm"]))
        engine: LocalPipeline = from_project(cls, **settings)
        return engine

    monkeypatch.setattr(LocalPipeline, "from_project", classmethod(recording))

    # When it runs with --json and --out
    code = main(["run", str(SAMPLES / "orders.csv"), "--json", "--out", str(out), "--type", "priority"])

    # Then it exits 0 with one JSON object describing the run
    assert code == EXIT_SUCCEEDED
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "SUCCEEDED"
    assert (report["error"], report["cause"]) == (None, None)
    assert report["executionArn"].endswith(report["name"])
    assert [state["name"] for state in report["states"]] == CSV_TO_JSONL_STATES
    # (it prewarmed the functions of the Lambda steps it took)
    assert prewarmed == [first_run_states(SAMPLES / "orders.csv", None)]
    assert set(prewarmed[0]) <= set(CSV_TO_JSONL_STATES)
    assert all({"name", "status", "attempts", "durationMs"} <= state.keys() for state in report["states"])
    assert report["output"]["records"] == 40
    assert report["output"]["rejected"] == 0
    (notification,) = report["notifications"]
    assert notification["attributes"]["processingType"] == "priority"
    # And the output, rejects and manifest were copied out
    data = (out / "data.jsonl").read_text().splitlines()
    assert len(data) == 40
    assert json.loads(data[0])["order_id"] == "ORD-1001"
    assert json.loads((out / "manifest.json").read_text())["counts"]["records"] == 40
    assert (out / "rejects.jsonl").read_text() == ""


@pytest.mark.parametrize(
    ("name", "output_format", "states"),
    [
        ("orders.csv", None, ("Validate", "Fetch", "TransformCsv", "WriteOutput", "Notify")),
        ("items.json", None, ("Validate", "Fetch", "TransformJson", "WriteOutput", "Notify")),
        (
            "events.jsonl.gz",
            "parquet",
            ("Validate", "Fetch", "TransformJsonl", "WriteParquet", "WriteOutput", "Notify"),
        ),
        ("notes.txt", None, ("Validate",)),
    ],
)
def test_run_prewarms_the_lambda_steps_its_file_takes_in_one_pass(
    name: str, output_format: str | None, states: tuple[str, ...], stack_model: StackModel
) -> None:
    assert first_run_states(Path(name), output_format) == states
    # each is a Lambda step of the definition (a renamed state would fail here, not at prewarm)
    engine = LocalPipeline(stack_model, log_stream=io.StringIO())
    assert len({engine.function_for_state(state) for state in states}) == len(states)


def test_unsupported_file_fails_with_the_business_error_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("just some text\n")
    out = tmp_path / "out"

    code = main(["run", str(source), "--out", str(out)])

    assert code == EXIT_FAILED
    text = capsys.readouterr().out
    assert "FAILED" in text
    assert "UnsupportedFormat: unsupported file type 'notes.txt'" in text
    assert "Pipeline run rejected" in text
    assert "Traceback" not in text
    assert not out.exists(), "a failed run writes no output"
    assert source.read_text() == "just some text\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "does-not-exist.csv"], "no such file: does-not-exist.csv"),
        (["run", str(SAMPLES)], "not a regular file"),
        (["run", str(SAMPLES / "orders.csv"), "--type", "urgent"], "invalid choice: 'urgent'"),
        (["run", str(SAMPLES / "orders.csv"), "--out", str(SAMPLES / "orders.json")], "--out must be a directory"),
        (["run", str(SAMPLES / "orders.csv"), "--timeout", "0"], "--timeout must be a positive number"),
        (["run", str(SAMPLES / "orders.csv"), "--timeout", "nan"], "--timeout must be a positive number"),
        (["submit", "/no/such/file.csv"], "no such file: /no/such/file.csv"),
        (["redrive"], "redrive takes EXECUTION or --all-failed"),
        (["executions", "--since", "soon"], "--since"),
        (["run"], "the following arguments are required: PATH"),
        (["launch"], "invalid choice: 'launch'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("pipeline: error: ")
    assert message in line
