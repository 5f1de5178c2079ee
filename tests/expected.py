"""Expectations several suites share."""

from __future__ import annotations

CSV_TO_JSONL_STATES = [
    "Validate",
    "Fetch",
    "RouteByFormat",
    "TransformCsv",
    "RouteByOutputFormat",
    "WriteOutput",
    "Notify",
]
"""The states a successful CSV run with JSON Lines output enters, in order."""
