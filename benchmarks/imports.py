"""Cold import time of every Lambda handler module, from ``python -X importtime``.

Each module is imported in a fresh interpreter pinned to one core (a 1-vCPU Lambda), with the
environment the handlers read at import set to dummy values. The files are in the page cache
after the first run, so this measures Python's work, not the disk: a real cold start is slower.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.pinning import pinned
from workflow.definition import TASK_FUNCTIONS
from workflow.deployment import LOCAL_ACCOUNT, METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME, REGION

# The three Transform steps share one module: measured once.
HANDLER_MODULES = tuple(dict.fromkeys(task.handler.rsplit(".", 1)[0] for task in TASK_FUNCTIONS))

RUNS = 5

TARGET_MS = 250.0

REPO_ROOT = Path(__file__).resolve().parent.parent

# What the handlers read at import (tasks/*/handler.py): the stack sets these on every function; the
# values only need to pass validation.
HANDLER_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "POWERTOOLS_SERVICE_NAME": POWERTOOLS_SERVICE_NAME,
    "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
    "BUCKET_NAME": "bench-bucket",
    "MAX_OBJECT_BYTES": "2147483648",
    "NOTIFICATION_TOPIC_ARN": f"arn:aws:sns:{REGION}:{LOCAL_ACCOUNT}:bench-runs",
}


@dataclass(frozen=True)
class ImportTime:
    module: str
    cumulative_us: int
    """The module's cumulative import time in the median run."""
    contributors: list[tuple[str, int]]
    """The three top-level packages with the most self time under the module, in that run."""


@dataclass(frozen=True)
class _Entry:
    self_us: int
    cumulative_us: int
    depth: int
    name: str


def measure(module: str, runs: int = RUNS) -> ImportTime:
    """Import ``module`` ``runs`` times, each in a fresh process; the run with the median time."""
    measured = sorted((_import_once(module) for _ in range(runs)), key=lambda result: result.cumulative_us)
    return measured[len(measured) // 2]


def _import_once(module: str) -> ImportTime:
    completed = subprocess.run(
        pinned(1, [sys.executable, "-X", "importtime", "-c", f"import {module}"]),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, **HANDLER_ENVIRONMENT},
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"importing {module} failed:\n{completed.stderr}")
    return parse_importtime(module, completed.stderr)


def parse_importtime(module: str, stderr: str) -> ImportTime:
    """The module's cumulative time and the packages that cost most beneath it.

    ``-X importtime`` prints a module after everything it imported, indented one level deeper,
    so the module's subtree is the run of deeper lines just before its own line. Self times are
    summed per top-level package: unlike cumulative times, they do not count a module twice.
    """
    entries = [entry for line in stderr.splitlines() if (entry := _entry(line)) is not None]
    position = max(index for index, entry in enumerate(entries) if entry.name == module)
    own = entries[position]
    start = position
    while start > 0 and entries[start - 1].depth > own.depth:
        start -= 1
    by_package: Counter[str] = Counter()
    for entry in entries[start : position + 1]:
        by_package[entry.name.split(".", 1)[0]] += entry.self_us
    return ImportTime(module, own.cumulative_us, by_package.most_common(3))


def _entry(line: str) -> _Entry | None:
    """One ``import time: self | cumulative | name`` line; None for the header and any other line."""
    if not line.startswith("import time:"):
        return None
    self_text, cumulative_text, name_text = line.removeprefix("import time:").split("|")
    if not self_text.strip().isdigit():
        return None
    # The name follows one space; each level of nesting adds two more.
    name = name_text[1:]
    depth = (len(name) - len(name.lstrip(" "))) // 2
    return _Entry(int(self_text), int(cumulative_text), depth, name.strip())
