"""The one reader of execution histories: state visits, the failed state, billed transitions, names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflow.executions import (
    CAUGHT,
    FAILED,
    SUCCEEDED,
    console_url,
    error_message,
    execution_arn,
    failed_visit,
    transitions,
    visits,
)


def _event(kind: str, seconds: int, **details: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "timestamp": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)}
    if details:
        event["stateEnteredEventDetails" if kind.endswith("Entered") else "taskFailedEventDetails"] = details
    return event


def test_visits_count_attempts_and_marks_caught_and_failed_states() -> None:
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
    found = visits(history)
    summary = [(state.name, state.status, state.attempts, state.duration_ms, state.error) for state in found]
    assert summary == [
        ("Validate", SUCCEEDED, 2, 3000, None),
        ("Fetch", CAUGHT, 1, 1000, "EmptyObject"),
        ("Transform", FAILED, 1, 2000, "Boom"),
    ]
    assert [state.failed_execution for state in found] == [False, False, True]
    assert failed_visit(found) is found[-1]


def test_error_message_unpacks_lambda_causes() -> None:
    assert error_message('{"errorType": "X", "errorMessage": "it broke"}') == "it broke"
    assert error_message("plain cause") == "plain cause"
    assert error_message(None) is None


def test_transitions_count_each_state_entered_and_each_retry_attempt() -> None:
    kinds = [
        "ExecutionStarted",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        # A task that fails twice and succeeds on the third attempt: two retries.
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionFailed",
        "LambdaFunctionScheduled",
        "LambdaFunctionFailed",
        "LambdaFunctionScheduled",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "ChoiceStateEntered",
        "ChoiceStateExited",
        # A service integration task, once.
        "TaskStateEntered",
        "TaskScheduled",
        "TaskSucceeded",
        "TaskStateExited",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]
    history = [
        _event(kind, i, name=f"S{i}") if kind.endswith("Entered") else _event(kind, i) for i, kind in enumerate(kinds)
    ]
    billed = transitions(visits(history))
    assert (billed.states_entered, billed.retries, billed.total) == (5, 2, 7)


def test_a_state_running_when_the_execution_timed_out_failed_it_with_states_timeout() -> None:
    # Given a history whose execution timed out while its second state ran
    history = [
        _event("TaskStateEntered", 0, name="Validate"),
        _event("TaskStateExited", 1),
        _event("TaskStateEntered", 1, name="TransformCsv"),
        _event("LambdaFunctionScheduled", 1),
        {"type": "ExecutionTimedOut", "timestamp": datetime(2026, 1, 1, 0, 0, 9, tzinfo=UTC)},
    ]
    # When it is folded
    found = visits(history)
    # Then that state failed the execution, with the timeout as its error and its time until then
    assert [(state.name, state.status, state.error) for state in found] == [
        ("Validate", SUCCEEDED, None),
        ("TransformCsv", FAILED, "States.Timeout"),
    ]
    assert failed_visit(found) is found[-1]
    assert found[-1].duration_ms == 8000


def test_a_redriven_run_numbers_its_visits_and_marks_only_the_latest_failure() -> None:
    # Given a run that failed at Work, was redriven, and failed at Work again
    failure = {"type": "ExecutionFailed", "timestamp": datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)}
    history = [
        _event("TaskStateEntered", 0, name="Work"),
        _event("LambdaFunctionFailed", 1, error="Boom", cause="bad"),
        failure,
        {"type": "ExecutionRedriven", "timestamp": failure["timestamp"], "executionRedrivenEventDetails": {}},
        _event("TaskStateEntered", 4, name="Work"),
        _event("LambdaFunctionFailed", 5, error="Boom", cause="again"),
        failure,
    ]
    # When it is folded
    found = visits(history)
    # Then the second visit belongs to redrive 1 and alone failed the execution
    assert [(state.redrive, state.failed_execution, state.cause) for state in found] == [
        (0, False, "bad"),
        (1, True, "again"),
    ]


def test_execution_arns_and_console_links_are_built_in_one_place() -> None:
    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:Pipeline"
    arn = execution_arn(machine, "run-1")
    assert arn == "arn:aws:states:eu-west-1:123456789012:execution:Pipeline:run-1"
    assert console_url(arn).startswith("https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/")
    assert console_url("<arn>", region="us-east-1").endswith("/v2/executions/details/<arn>")
    with pytest.raises(ValueError, match="not a Step Functions execution ARN"):
        console_url(machine)
