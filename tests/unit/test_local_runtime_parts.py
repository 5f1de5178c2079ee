"""Pure parts of the local runtime: input transformer, execution names, invoke URLs."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from workflow.definition import placeholders, substitute
from workflow.executions import NAME_LIMIT
from workflow.local.delivery import apply_input_transformer, execution_name, json_path
from workflow.local.invoke_url import parse_invoke_url

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


def test_an_event_about_no_object_is_named_after_its_detail() -> None:
    # Given two status-change events of one execution, the second after a redrive failed again
    ended = {"source": "aws.states", "detail": {"executionArn": "arn:x", "status": "FAILED", "stopDate": 1}}
    again = {"source": "aws.states", "detail": {"executionArn": "arn:x", "status": "FAILED", "stopDate": 2}}

    # When they are named
    names = [execution_name(ended), execution_name(again)]

    # Then each is a valid name of its own, stable for a redelivery of the same event
    assert names[0] != names[1]
    assert names[0] == execution_name(json.loads(json.dumps(ended)))
    assert all(len(name) <= NAME_LIMIT and re.fullmatch(r"[A-Za-z0-9_-]+", name) for name in names)


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
