"""CloudWatch Logs JSON filter patterns, as the local engine evaluates metric filters."""

from __future__ import annotations

import json

import pytest

from workflow.local.filter_patterns import PatternError, parse


@pytest.mark.parametrize(
    ("pattern", "event", "matches"),
    [
        ('{ $.type = "ExecutionFailed" }', {"type": "ExecutionFailed"}, True),
        ('{ $.type = "ExecutionFailed" }', {"type": "ExecutionSucceeded"}, False),
        ('{ $.type = "ExecutionFailed" }', {"kind": "ExecutionFailed"}, False),
        ('{ $.details.error = "A" || $.details.error = "B" }', {"details": {"error": "B"}}, True),
        ('{ ($.type = "X") && (($.e = "A") || ($.e = "B")) }', {"type": "X", "e": "C"}, False),
        ('{ ($.type = "X") && (($.e = "A") || ($.e = "B")) }', {"type": "X", "e": "A"}, True),
        ('{ $.details.error != "A" }', {"details": {"error": "B"}}, True),
        ('{ $.details.error != "A" }', {"details": {}}, False),  # no value: no match either way
        ("{ $.name = Lambda.* }", {"name": "Lambda.Unknown"}, True),
        ('{ $.name = "a[b]?" }', {"name": "a[b]?"}, True),  # only * is a wildcard
        ("{ $.latency > 100 }", {"latency": 150}, True),
        ("{ $.latency >= 100 }", {"latency": "150"}, False),  # a string is not a number
        ("{ $.count = 3 }", {"count": 3.0}, True),
        ("{ $.items[1] = x }", {"items": ["w", "x"]}, True),
    ],
)
def test_json_patterns_match_as_cloudwatch_logs_matches(pattern: str, event: object, matches: bool) -> None:
    assert parse(pattern).matches(json.dumps(event)) is matches


def test_a_message_that_is_not_json_matches_no_json_pattern() -> None:
    assert not parse('{ $.type = "X" }').matches("[ERROR] not json")


@pytest.mark.parametrize(
    "pattern",
    ["ERROR", "{ $.a IS NULL }", "{ $.a NOT EXISTS }", '{ $.a > "x" }', '{ $.a = "x"', "{ ($.a = x }", "{ $.a = }"],
)
def test_what_is_not_emulated_is_refused_when_read(pattern: str) -> None:
    with pytest.raises(PatternError):
        parse(pattern)
