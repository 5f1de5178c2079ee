"""The HTTP API's contract in Python: caller namespaces, execution names, what a failure discloses."""

from __future__ import annotations

import json

import pytest

from workflow.api_contract import (
    CALLER_LENGTH,
    caller_of,
    caller_prefix,
    execution_name,
    public_cause,
    valid_idempotency_key,
)
from workflow.executions import API_NAME_PREFIX

NAME_LIMIT = 80
NAME_CHARACTERS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@pytest.mark.parametrize(
    ("principal", "caller"),
    [
        # An assumed role: its unique id, the session name dropped, the last 11 characters kept.
        ("AROARSEDSYT4BXBD4YZYI:botocore-session-1773732261", "T4BXBD4YZYI"),
        # An IAM user: its unique id.
        ("AIDAJTIO5AN3JK6JIYFHE", "N3JK6JIYFHE"),
        # The account's root user is the account id; pipeline serve's one identity is its access key.
        ("123456789012", "23456789012"),
        ("testing", "testing"),
    ],
)
def test_a_caller_is_the_end_of_its_principal_id_without_the_session(principal: str, caller: str) -> None:
    assert caller_of(principal) == caller
    assert len(caller) <= CALLER_LENGTH


def test_every_session_of_a_role_is_one_caller_and_two_roles_are_two() -> None:
    # Given two sessions of one role and a session of another
    first = caller_of("AROAZUFPDMJL6KJM4LLZI:alice")
    second = caller_of("AROAZUFPDMJL6KJM4LLZI:botocore-session-1")
    other = caller_of("AROARSEDSYT4BXBD4YZYI:alice")
    # Then the sessions share one namespace and the other role has its own
    assert first == second
    assert first != other


def test_a_principal_id_with_other_characters_gives_a_name_safe_caller() -> None:
    assert set(caller_of("arn/odd=id.with@chars")) <= NAME_CHARACTERS


def test_an_api_name_is_a_valid_execution_name_in_the_callers_namespace() -> None:
    # Given the longest caller and Idempotency-Key the contract allows
    caller = caller_of("AROA" + "X" * 17)
    key = "k" * 64
    assert valid_idempotency_key(key)
    # When the name is made
    name = execution_name(caller, key, request_id="unused")
    # Then it fits Step Functions' limit, in the caller's namespace
    assert len(name) <= NAME_LIMIT
    assert set(name) <= NAME_CHARACTERS
    assert name.startswith(caller_prefix(caller))
    assert name.startswith(API_NAME_PREFIX)


def test_the_same_key_from_two_callers_names_two_runs() -> None:
    assert execution_name("callerone", "nightly", "r") != execution_name("callertwo", "nightly", "r")
    assert execution_name("callerone", None, "request-1") == "api-callerone-request-1"


LAMBDA_ERROR = json.dumps(
    {
        "errorMessage": "disk on fire",
        "errorType": "InjectedFault",
        "requestId": "1",
        "stackTrace": ['  File "/var/task/tasks/write_output/logic.py", line 97, in commit\n'],
    }
)


@pytest.mark.parametrize(
    ("cause", "answered"),
    [
        (LAMBDA_ERROR, "disk on fire"),
        # A rejection's cause is already its message; Step Functions' own causes are plain text.
        ("the file is empty", "the file is empty"),
        ('{not json but mentions "errorMessage"', '{not json but mentions "errorMessage"'),
        (json.dumps({"errorType": "X", "errorMessage": None}), None),
        (None, None),
    ],
)
def test_a_failures_cause_is_answered_without_its_stack_trace(cause: str | None, answered: str | None) -> None:
    assert public_cause(cause) == answered
