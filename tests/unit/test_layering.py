"""The import rules between the rooms hold, and each one bites: an import across its seam breaks it.

The rules are import-linter contracts in pyproject.toml (`make lint` runs them); here the same
contracts are checked on the real import graph, then on that graph with one crossing import added.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from importlinter.application import use_cases
from importlinter.application.app_config import settings
from importlinter.configuration import configure

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def contract_kept(monkeypatch: pytest.MonkeyPatch, contract: str | None, crossing: tuple[str, str] | None) -> bool:
    """Whether ``contract`` (None: every contract) holds on the project's import graph with
    ``crossing`` (importer, imported) added, as ``lint-imports`` checks it."""
    build = settings.GRAPH_BUILDER.build

    def build_with_crossing(**kwargs: Any) -> Any:
        graph = build(**kwargs)
        if crossing is not None:
            importer, imported = crossing
            graph.add_import(importer=importer, imported=imported, line_number=1, line_contents=f"import {imported}")
        return graph

    monkeypatch.setattr(settings.GRAPH_BUILDER, "build", build_with_crossing)
    only = () if contract is None else (contract,)
    kept: bool = use_cases.lint_imports(str(PYPROJECT), limit_to_contracts=only, cache_dir=None, no_logo=True)
    return kept


@pytest.fixture(autouse=True)
def _import_linter(monkeypatch: pytest.MonkeyPatch) -> None:
    """import-linter's adapters, as its command line sets them up, run from the project root."""
    configure()
    monkeypatch.chdir(PYPROJECT.parent)


def test_the_project_keeps_every_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    assert contract_kept(monkeypatch, None, None)


@pytest.mark.parametrize(
    ("importer", "imported", "contract"),
    [
        # The Lambda runtime knows nothing of the tooling or the stack.
        ("tasks.common.aws", "workflow.executions", "runtime"),
        ("tasks.transform.handler", "stacks.tasks", "runtime"),
        # The stack reads the contract only.
        ("stacks.alerts", "workflow.ops.runs", "stack"),
        ("stacks.tasks", "workflow.local.template", "stack"),
        # The operations client never imports the emulator, nor the emulator the client.
        ("workflow.ops.runs", "workflow.local.environment", "workflow-rooms"),
        ("workflow.local.redrive", "workflow.ops.runs", "workflow-rooms"),
        # Nothing below the CLI imports it; the contract imports no room.
        ("workflow.local.environment", "workflow.cli.text", "workflow-rooms"),
        ("workflow.ops.graph", "workflow.cost.report", "workflow-rooms"),
        ("workflow.executions", "workflow.ops.stack", "workflow-rooms"),
        # The tools never import the CDK app.
        ("workflow.deployment", "stacks.pipeline_stack", "tools-apart"),
        # Pricing and the contract never load moto.
        ("workflow.cost.estimate", "workflow.local.environment", "pure-contract"),
        ("workflow.executions", "moto", "pure-contract"),
        # The engine's pure parts never import moto.
        ("workflow.local.delivery", "workflow.local.eventbridge", "pure-engine-parts"),
        ("workflow.local.invoke_url", "moto", "pure-engine-parts"),
    ],
)
def test_an_import_across_a_seam_breaks_its_contract(
    monkeypatch: pytest.MonkeyPatch, importer: str, imported: str, contract: str
) -> None:
    # Given the project's graph, which keeps the contract guarding a seam
    assert contract_kept(monkeypatch, contract, None)
    # When one import crosses that seam
    # Then the contract is broken
    assert not contract_kept(monkeypatch, contract, (importer, imported))
