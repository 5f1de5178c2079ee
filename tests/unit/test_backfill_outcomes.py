"""The backfill's outcomes are one list: the counters its definition adds to, the ones
``pipeline backfill`` reads, and the ones it prints; and its two reads of a version are one read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workflow.cli.ledger_text import render_progress
from workflow.ops.backfill import OUTCOMES, BackfillProgress

DEFINITION = Path(__file__).resolve().parents[2] / "workflow" / "backfill.asl.json"


def counters(states: dict[str, Any]) -> set[str]:
    """The progress counters the child's states add to (``ADD #counter :one``, and what one of
    them moves a count from)."""
    return {
        name
        for state in states.values()
        if str(state.get("Parameters", {}).get("UpdateExpression", "")).startswith("ADD #counter :one")
        for name in state["Parameters"]["ExpressionAttributeNames"].values()
    }


def test_every_counter_the_definition_adds_to_is_an_outcome_the_command_reads() -> None:
    definition = json.loads(DEFINITION.read_text())
    states = definition["States"]["Objects"]["ItemProcessor"]["States"]
    assert counters(states) == set(OUTCOMES)


def test_every_outcome_is_printed_with_its_count() -> None:
    progress = BackfillProgress(execution_arn="arn", status="RUNNING", outcomes=dict.fromkeys(OUTCOMES, 7))
    line = render_progress(progress)
    assert line.count(" 7") == len(OUTCOMES)


def test_the_second_read_of_a_version_is_the_first_without_its_catch() -> None:
    # ASL cannot share a state's parameters: the two reads are kept equal here
    states = json.loads(DEFINITION.read_text())["States"]["Objects"]["ItemProcessor"]["States"]
    first, again = dict(states["FindVersion"]), dict(states["FindVersionAgain"])
    assert "Catch" in first
    assert "Catch" not in again
    for state in (first, again):
        state.pop("Comment")
        state.pop("Catch", None)
    assert first == again
