"""Shared fixtures. Suites are split by cost; each folder's tests carry that folder's marker."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workflow.deployment import STACK_NAME
from workflow.local.environment import LocalPipeline
from workflow.local.synth import template_path
from workflow.local.template import StackModel, load_stack

SUITES = ("unit", "handlers", "infra", "workflow", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        suite = Path(str(item.fspath)).parent.name
        if suite in SUITES:
            item.add_marker(getattr(pytest.mark, suite))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what tests recorded with ``record_property("report", text)``, from xdist workers too."""
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for name, text in report.user_properties:
                if name == "report":
                    terminalreporter.write_sep("-", f"report of {report.nodeid}")
                    terminalreporter.write_line(str(text))


@pytest.fixture(scope="session")
def template_file() -> Path:
    """The synthesized template, shared by the whole run (and cached on disk across runs)."""
    return template_path()


@pytest.fixture(scope="session")
def template(template_file: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(template_file.read_text())
    return loaded


@pytest.fixture(scope="session")
def stack_model(template_file: Path) -> StackModel:
    return load_stack(template_file, STACK_NAME)


@pytest.fixture
def pipeline(stack_model: StackModel) -> Iterator[LocalPipeline]:
    """A fresh embedded environment per test, its function logs kept in memory."""
    with LocalPipeline(stack_model, log_stream=io.StringIO()) as local:
        yield local
