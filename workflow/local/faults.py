"""Fault injection for local runs: ``--fail STATE[:ERROR[:TIMES]]`` on ``pipeline run`` and ``serve``.

Kept free of heavy imports: the command line parses these before anything else loads.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

DEFAULT_FAULT = "InjectedFault"  # neither a business nor a transient error: a system error
FAULT_METAVAR = "STATE[:ERROR[:TIMES]]"
FAULT_HELP = (
    "make the first TIMES (default 1) invocations of STATE's function raise ERROR "
    "(default InjectedFault, a system error); repeatable"
)
_ERROR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


@dataclass(frozen=True, slots=True)
class FaultSpec:
    state: str
    error: str
    times: int


def parse_fault(text: str) -> FaultSpec:
    """``STATE[:ERROR[:TIMES]]``, e.g. ``TransformCsv``, ``Fetch:TransientError:2``."""
    state, _, rest = text.partition(":")
    error, _, times = rest.partition(":")
    if not state:
        raise argparse.ArgumentTypeError(f"--fail needs a state name: {text!r}")
    if error and not _ERROR_NAME.fullmatch(error):
        raise argparse.ArgumentTypeError(f"--fail: {error!r} is not an error name")
    if times and (not times.isdigit() or int(times) < 1):
        raise argparse.ArgumentTypeError(f"--fail: TIMES must be a positive whole number, not {times!r}")
    return FaultSpec(state=state, error=error or DEFAULT_FAULT, times=int(times or 1))
