"""The README's workflow graph is the one generated from the definition."""

from __future__ import annotations

from pathlib import Path

from workflow.ops.graph import readme_graph

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_shows_the_graph_of_the_current_definition() -> None:
    assert readme_graph() in README.read_text(encoding="utf-8"), (
        "README.md's mermaid block is stale: replace it with workflow.ops.graph.readme_graph()"
    )
