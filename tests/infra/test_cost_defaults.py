"""The cost model's defaults are the stack's: the cost package may not import stacks/, so the two
are held together here."""

from __future__ import annotations

import json

import pytest

from stacks.config import PipelineConfig
from workflow.cli.main import EXIT_SUCCEEDED, main
from workflow.cost.scale import DEFAULT_SCALE


def test_the_model_s_map_concurrency_is_the_stack_s_range_concurrency_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the stack's default concurrency of the Maps
    stack = PipelineConfig().range_concurrency
    # When the cost model and its command are asked without a concurrency
    code = main(["cost", "--file-size", "100GB", "--json"])
    report = json.loads(capsys.readouterr().out)
    # Then both take the stack's
    assert DEFAULT_SCALE.concurrency == stack
    assert code == EXIT_SUCCEEDED
    assert report["concurrency"] == stack
    assert report["waves"] == -(-report["ranges"] // stack)
