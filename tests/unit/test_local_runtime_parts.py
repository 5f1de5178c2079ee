"""Pure parts of the local runtime: input transformer, execution names, invoke URLs, traces."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflow.definition import placeholders, substitute
from workflow.local.eventbridge import NAME_LIMIT, apply_input_transformer, execution_name, json_path
from workflow.local.lambdas import parse_invoke_url
from workflow.local.trace import CAUGHT, FAILED, SUCCEEDED, trace_from_history
from workflow.report import error_message

EVENT: dict[str, Any] = {
    "detail-type": "Object Created",
    "detail": {
        "bucket": {"name": "b"},
        "object": {"key": 'incoming/a "quoted" name.csv', "version-id": "v1", "size": 10},
    },
}


def test_json_path_reads_hyphenated_keys_and_misses_as_null() -> None:
    assert json_path(EVENT, "$.detail.object.version-id") == "v1"
    assert json_path(EVENT, "$.detail.nothing.here") is None


def test_input_transformer_inserts_json_values_and_escapes_quoted_strings() -> None:
    paths = {"key": "$.detail.object.key", "size": "$.detail.object.size", "v": "$.detail.object.version-id"}
    template = '{"key":<key>,"size":<size>,"v":"<v>","label":"<key> is <size> bytes","t":"s3"}'
    result = json.loads(apply_input_transformer(EVENT, paths, template))
    assert result == {
        "key": 'incoming/a "quoted" name.csv',
        "size": 10,
        "v": "v1",
        "label": 'incoming/a "quoted" name.csv is 10 bytes',
        "t": "s3",
    }


def test_without_a_template_the_whole_event_is_the_input() -> None:
    assert json.loads(apply_input_transformer(EVENT, {}, None)) == EVENT


def test_execution_names_are_valid_unique_per_version_and_stable() -> None:
    name = execution_name(EVENT)
    assert len(name) <= NAME_LIMIT
    assert all(char.isalnum() or char in "-_" for char in name)
    assert name == execution_name(json.loads(json.dumps(EVENT)))
    other = json.loads(json.dumps(EVENT))
    other["detail"]["object"]["version-id"] = "v2"
    assert execution_name(other) != name
    long_key = json.loads(json.dumps(EVENT))
    long_key["detail"]["object"]["key"] = "incoming/" + "x" * 500 + ".csv"
    assert len(execution_name(long_key)) == NAME_LIMIT


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/"
            "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3AFn%3Alive/invocations",
            ("Fn", "live"),
        ),
        ("https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/Fn/invocations?Qualifier=7", ("Fn", "7")),
        ("https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/Fn/invocations", ("Fn", None)),
    ],
)
def test_invoke_urls_name_the_function_and_qualifier(url: str, expected: tuple[str, str | None]) -> None:
    assert parse_invoke_url(url) == expected


def test_definition_placeholders_are_all_substituted_or_refused() -> None:
    text = '{"A": "${One}", "B": "${Two}"}'
    assert placeholders(text) == {"One", "Two"}
    assert substitute(text, {"One": "1", "Two": "2"}) == {"A": "1", "B": "2"}
    with pytest.raises(KeyError, match="Two"):
        substitute(text, {"One": "1"})


def _event(kind: str, seconds: int, **details: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "timestamp": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)}
    if details:
        event["stateEnteredEventDetails" if kind.endswith("Entered") else "taskFailedEventDetails"] = details
    return event


def test_trace_counts_attempts_and_marks_caught_and_failed_states() -> None:
    history = [
        _event("TaskStateEntered", 0, name="Validate"),
        _event("LambdaFunctionScheduled", 0),
        _event("LambdaFunctionFailed", 1, error="TransientError", cause="c"),
        _event("LambdaFunctionScheduled", 2),
        _event("LambdaFunctionSucceeded", 3),
        _event("TaskStateExited", 3),
        _event("TaskStateEntered", 3, name="Fetch"),
        _event("LambdaFunctionScheduled", 3),
        _event("LambdaFunctionFailed", 4, error="EmptyObject", cause="empty"),
        _event("TaskStateExited", 4),
        _event("TaskStateEntered", 4, name="Transform"),
        _event("LambdaFunctionScheduled", 4),
        _event("LambdaFunctionFailed", 5, error="Boom", cause="bad"),
        {
            "type": "ExecutionFailed",
            "timestamp": datetime(2026, 1, 1, 0, 0, 6, tzinfo=UTC),
            "executionFailedEventDetails": {"error": "Boom", "cause": "bad"},
        },
    ]
    run = trace_from_history(history)
    summary = [(state.name, state.status, state.attempts, state.duration_ms, state.error) for state in run.states]
    assert summary == [
        ("Validate", SUCCEEDED, 2, 3000, None),
        ("Fetch", CAUGHT, 1, 1000, "EmptyObject"),
        ("Transform", FAILED, 1, 2000, "Boom"),
    ]
    assert (run.error, run.cause) == ("Boom", "bad")


def test_error_message_unpacks_lambda_causes() -> None:
    assert error_message('{"errorType": "X", "errorMessage": "it broke"}') == "it broke"
    assert error_message("plain cause") == "plain cause"
    assert error_message(None) is None
