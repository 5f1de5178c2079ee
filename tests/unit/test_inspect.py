"""Inspecting runs without AWS: the redrive rule, durations, the listing and the state-by-state view."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflow.cli.run_report import RunReport
from workflow.cli.text import parse_duration, render_run, render_runs, state_table
from workflow.executions import StateVisit, console_url
from workflow.local.environment import Execution
from workflow.ops.runs import (
    ItemCounts,
    MapRunSummary,
    RunSummary,
    RunView,
    list_runs,
    map_run_label,
    map_runs,
    redrivability,
    show_run,
)

NOW = datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC)
ARN_PREFIX = "arn:aws:states:eu-west-1:123456789012:execution:Pipeline:"
MAP_RUN_PREFIX = "arn:aws:states:eu-west-1:123456789012:mapRun:Pipeline/"
LAMBDA_CAUSE = json.dumps({"errorType": "InjectedFault", "errorMessage": "disk on fire", "stackTrace": ["x"]})


# -- redrivability -------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_a_recent_system_failure_is_redrivable(status: str) -> None:
    # Given a run that stopped an hour ago on a system error (or timed out, or was aborted)
    # When its redrivability is judged
    verdict = redrivability(status, "States.TaskFailed" if status == "FAILED" else None, NOW - timedelta(hours=1), NOW)
    # Then it can be redriven, with no reason against it
    assert verdict == (True, "")


@pytest.mark.parametrize(
    ("status", "error", "stopped_ago", "reason"),
    [
        ("SUCCEEDED", None, timedelta(minutes=5), "succeeded"),
        ("RUNNING", None, None, "still running"),
        (
            "FAILED",
            "UnsupportedFormat",
            timedelta(minutes=5),
            "business error UnsupportedFormat: fix the input and upload it again",
        ),
        (
            "FAILED",
            "TooManyRejects",
            timedelta(minutes=5),
            "business error TooManyRejects: fix the input and upload it again",
        ),
        ("FAILED", "InjectedFault", timedelta(days=14, seconds=1), "stopped more than 14 days ago"),
        ("TIMED_OUT", None, timedelta(days=30), "stopped more than 14 days ago"),
    ],
)
def test_a_run_that_redrive_cannot_help_says_why(
    status: str, error: str | None, stopped_ago: timedelta | None, reason: str
) -> None:
    # Given a run that succeeded, still runs, was rejected on a business error, or stopped too long ago
    stop = None if stopped_ago is None else NOW - stopped_ago
    # When its redrivability is judged
    # Then it is not redrivable, and the reason tells the operator what to do instead
    assert redrivability(status, error, stop, NOW) == (False, reason)


def test_redrive_window_is_fourteen_days_inclusive() -> None:
    # Given a system failure exactly 14 days old
    # Then it is still redrivable (AWS allows redrive within 14 days of the stop)
    assert redrivability("FAILED", "InjectedFault", NOW - timedelta(days=14), NOW) == (True, "")


def test_naive_dates_are_taken_as_utc() -> None:
    # Given a stop date without a time zone, 15 days before an aware "now"
    stop = (NOW - timedelta(days=15)).replace(tzinfo=None)
    # Then the comparison works and the run is past the window
    assert redrivability("FAILED", "InjectedFault", stop, NOW) == (False, "stopped more than 14 days ago")


# -- parse_duration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("45s", timedelta(seconds=45)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 2H ", timedelta(hours=2)),
    ],
)
def test_parse_duration_reads_a_number_and_a_unit(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "m", "2x", "1.5h", "-2h", "2 h", "two hours", "0m", "0h0m"])
def test_parse_duration_rejects_anything_else_with_a_clear_message(text: str) -> None:
    # When a malformed or zero duration is parsed
    with pytest.raises(ValueError, match="invalid duration") as raised:
        parse_duration(text)
    # Then the message quotes the input and shows what is accepted (or why zero is not)
    message = str(raised.value)
    assert repr(text) in message
    assert ("e.g. 30m, 2h, 7d" in message) or ("longer than zero" in message)


# -- console_url ---------------------------------------------------------------------------


def test_console_url_takes_the_region_from_the_arn() -> None:
    arn = ARN_PREFIX + "run-1"
    assert console_url(arn) == (
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/" + arn
    )
    with pytest.raises(ValueError, match="not a Step Functions execution ARN"):
        console_url("arn:aws:lambda:eu-west-1:123456789012:function:f")


# -- list_runs against a fake client -------------------------------------------------------


class FakeStepFunctions:
    """ListExecutions (newest first, paginated, status filter), DescribeExecution, GetExecutionHistory,
    ListMapRuns (newest first, paginated) and DescribeMapRun."""

    def __init__(self, executions: list[dict[str, Any]], *, page_size: int = 2) -> None:
        self.executions = sorted(executions, key=lambda item: item["startDate"], reverse=True)
        self.page_size = page_size
        self.list_calls: list[dict[str, Any]] = []
        self.histories: dict[str, list[list[dict[str, Any]]]] = {}
        self.map_runs: dict[str, list[dict[str, Any]]] = {}

    def list_executions(self, **request: Any) -> dict[str, Any]:
        self.list_calls.append(request)
        matching = [e for e in self.executions if request.get("statusFilter") in (None, e["status"])]
        start = int(request.get("nextToken", 0))
        size = min(self.page_size, request["maxResults"])
        page: dict[str, Any] = {"executions": [self._listed(e) for e in matching[start : start + size]]}
        if start + size < len(matching):
            page["nextToken"] = str(start + size)
        return page

    @staticmethod
    def _listed(execution: dict[str, Any]) -> dict[str, Any]:
        keys = ("executionArn", "name", "status", "startDate", "stopDate")
        return {key: execution[key] for key in keys if key in execution}

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:
        return next(dict(e) for e in self.executions if e["executionArn"] == executionArn)

    def list_map_runs(self, **request: Any) -> dict[str, Any]:
        described = sorted(self.map_runs.get(request["executionArn"], []), key=lambda run: run["startDate"])[::-1]
        start = int(request.get("nextToken", 0))
        size = min(self.page_size, request["maxResults"])
        keys = ("executionArn", "mapRunArn", "startDate", "stopDate")
        page: dict[str, Any] = {
            "mapRuns": [{k: run[k] for k in keys if k in run} for run in described[start : start + size]]
        }
        if start + size < len(described):
            page["nextToken"] = str(start + size)
        return page

    def describe_map_run(self, *, mapRunArn: str) -> dict[str, Any]:
        return next(dict(run) for runs in self.map_runs.values() for run in runs if run["mapRunArn"] == mapRunArn)

    def get_execution_history(self, **request: Any) -> dict[str, Any]:
        pages = self.histories[request["executionArn"]]
        index = int(request.get("nextToken", 0))
        page: dict[str, Any] = {"events": pages[index]}
        if index + 1 < len(pages):
            page["nextToken"] = str(index + 1)
        return page


def execution(
    name: str,
    status: str,
    started_ago: timedelta,
    *,
    run_input: dict[str, Any] | None = None,
    error: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    start = NOW - started_ago
    described: dict[str, Any] = {
        "executionArn": ARN_PREFIX + name,
        "stateMachineArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:Pipeline",
        "name": name,
        "status": status,
        "startDate": start,
        "input": json.dumps(run_input if run_input is not None else {"key": f"incoming/{name}.csv", "trigger": "s3"}),
        **extra,
    }
    if status != "RUNNING":
        described["stopDate"] = start + timedelta(seconds=3)
    if error is not None:
        described["error"] = error
    return described


def test_list_runs_pages_through_newest_first_and_judges_each_run() -> None:
    # Given five executions over the last days, across pages of two
    sfn = FakeStepFunctions(
        [
            execution("ok", "SUCCEEDED", timedelta(minutes=10)),
            execution("rejected", "FAILED", timedelta(minutes=20), error="EmptyObject"),
            execution("broken", "FAILED", timedelta(hours=1), error="InjectedFault"),
            execution("busy", "RUNNING", timedelta(minutes=1)),
            execution("ancient", "FAILED", timedelta(days=20), error="InjectedFault"),
        ]
    )

    # When they are listed
    runs = list_runs(sfn, "sm", status=None, since=None, now=NOW)

    # Then every run comes back, newest first, each with its verdict
    assert [run.name for run in runs] == ["busy", "ok", "rejected", "broken", "ancient"]
    verdicts = {run.name: (run.redrivable, run.redrive_reason) for run in runs}
    assert verdicts == {
        "busy": (False, "still running"),
        "ok": (False, "succeeded"),
        "rejected": (False, "business error EmptyObject: fix the input and upload it again"),
        "broken": (True, ""),
        "ancient": (False, "stopped more than 14 days ago"),
    }
    # And trigger, key, error and durations come from the described execution
    broken = runs[3]
    assert (broken.trigger, broken.source_key, broken.error) == ("S3", "incoming/broken.csv", "InjectedFault")
    assert broken.duration == timedelta(seconds=3)
    assert runs[0].duration is None
    assert runs[0].stop is None
    assert len(sfn.list_calls) == 3


def test_list_runs_filters_by_status_since_and_limit() -> None:
    # Given runs of several statuses and ages
    sfn = FakeStepFunctions(
        [
            execution("a", "FAILED", timedelta(minutes=5), error="InjectedFault"),
            execution("b", "SUCCEEDED", timedelta(minutes=15)),
            execution("c", "FAILED", timedelta(minutes=50), error="InjectedFault"),
            execution("d", "FAILED", timedelta(hours=3), error="InjectedFault"),
            execution("e", "FAILED", timedelta(hours=5), error="InjectedFault"),
        ],
        page_size=1,
    )

    # When only failed runs of the last hour are asked for, the status in any case
    runs = list_runs(sfn, "sm", status="failed", since=timedelta(hours=1), now=NOW)

    # Then the service filters by status, and paging stops at the first older run
    assert [run.name for run in runs] == ["a", "c"]
    assert {call.get("statusFilter") for call in sfn.list_calls} == {"FAILED"}
    assert len(sfn.list_calls) == 3

    # And a limit caps the listing (and the page size asked for)
    sfn.list_calls.clear()
    assert [run.name for run in list_runs(sfn, "sm", status=None, since=None, now=NOW, limit=2)] == ["a", "b"]
    assert sfn.list_calls[0]["maxResults"] == 2  # never asks for more than the limit

    # And a bad status or limit is refused with a clear message
    with pytest.raises(ValueError, match="unknown status 'DONE': use one of RUNNING, SUCCEEDED, FAILED"):
        list_runs(sfn, "sm", status="DONE", since=None, now=NOW)
    with pytest.raises(ValueError, match="limit must be at least 1"):
        list_runs(sfn, "sm", status=None, since=None, now=NOW, limit=0)


def test_trigger_comes_from_the_input_then_the_name_prefix() -> None:
    # Given runs whose input names the trigger, and runs whose input does not
    sfn = FakeStepFunctions(
        [
            execution(
                "api-key-1", "SUCCEEDED", timedelta(minutes=1), run_input={"key": "uploads/a.csv", "trigger": "api"}
            ),
            execution("s3-b-csv-1234", "SUCCEEDED", timedelta(minutes=2), run_input={"key": "incoming/b.csv"}),
            execution("api-c", "SUCCEEDED", timedelta(minutes=3), run_input={"key": "uploads/c.csv"}),
            execution(
                "manual", "SUCCEEDED", timedelta(minutes=4), run_input={"key": "incoming/d.csv", "trigger": "S3"}
            ),
        ]
    )

    # When they are listed
    runs = list_runs(sfn, "sm", status=None, since=None, now=NOW)

    # Then each trigger is recognised
    assert [(run.name, run.trigger) for run in runs] == [
        ("api-key-1", "API"),
        ("s3-b-csv-1234", "S3"),
        ("api-c", "API"),
        ("manual", "S3"),
    ]


def test_the_service_can_overrule_redrivability() -> None:
    # Given a system failure Step Functions itself reports as not redrivable
    sfn = FakeStepFunctions(
        [
            execution(
                "huge",
                "FAILED",
                timedelta(minutes=5),
                error="InjectedFault",
                redriveStatus="NOT_REDRIVABLE",
                redriveStatusReason="Execution history event limit exceeded",
            )
        ]
    )

    # Then the listing reports the service's reason
    (run,) = list_runs(sfn, "sm", status=None, since=None, now=NOW)
    assert (run.redrivable, run.redrive_reason) == (False, "Execution history event limit exceeded")


# -- show_run against a fake client --------------------------------------------------------


def event(kind: str, seconds: float, **details: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"type": kind, "timestamp": NOW - timedelta(hours=1) + timedelta(seconds=seconds)}
    if details:
        detail_key = kind[0].lower() + kind[1:] + "EventDetails"
        if kind.endswith("StateEntered"):
            detail_key = "stateEnteredEventDetails"
        elif kind.endswith("StateExited"):
            detail_key = "stateExitedEventDetails"
        item[detail_key] = details
    return item


def test_show_run_folds_a_paginated_history_and_marks_the_failed_state() -> None:
    # Given a run that failed at Transform after a retry, redriven once, with a two-page history
    name = "s3-people-csv-1"
    described = execution(
        name,
        "FAILED",
        timedelta(hours=1),
        error="InjectedFault",
        cause=LAMBDA_CAUSE,
        redriveCount=1,
        redriveDate=NOW - timedelta(minutes=30),
    )
    sfn = FakeStepFunctions([described])
    sfn.histories[described["executionArn"]] = [
        [
            event("ExecutionStarted", 0, input="{}"),
            event("TaskStateEntered", 0.1, name="Validate", input='{"key":"incoming/people.csv"}'),
            event("LambdaFunctionScheduled", 0.1, resource="f"),
            event("LambdaFunctionSucceeded", 0.3, output="{}"),
            event("TaskStateExited", 0.3, name="Validate", output='{"key":"é"}'),
        ],
        [
            event("TaskStateEntered", 0.4, name="Transform", input='{"a":1}'),
            event("LambdaFunctionScheduled", 0.4, resource="f"),
            event("LambdaFunctionFailed", 0.5, error="TransientError", cause="slow"),
            event("LambdaFunctionScheduled", 0.6, resource="f"),
            event("LambdaFunctionFailed", 0.7, error="InjectedFault", cause=LAMBDA_CAUSE),
            event("ExecutionFailed", 0.7, error="InjectedFault", cause=LAMBDA_CAUSE),
        ],
    ]

    # When the run is shown
    view = show_run(sfn, described["executionArn"], now=NOW)

    # Then each visit has its status, attempts, duration, sizes and error message
    assert [(s.name, s.status, s.attempts, s.duration_ms) for s in view.states] == [
        ("Validate", "SUCCEEDED", 1, 200),
        ("Transform", "FAILED", 2, 300),
    ]
    validate, transform = view.states
    assert (validate.input_bytes, validate.output_bytes) == (
        len(b'{"key":"incoming/people.csv"}'),
        len('{"key":"é"}'.encode()),
    )
    assert (transform.input_bytes, transform.output_bytes) == (7, None)
    assert (transform.error, transform.message) == ("InjectedFault", "disk on fire")
    # And the failed state is the one that failed the execution, redrivable from there
    assert view.failed_state == "Transform"
    assert [s.failed_execution for s in view.states] == [False, True]
    assert (view.redrivable, view.redrive_count, view.message) == (True, 1, "disk on fire")
    assert view.state_statuses() == {"Validate": "SUCCEEDED", "Transform": "FAILED"}
    # And the JSON carries the same, with the console link only for a deployed run
    data = view.as_json()
    assert data["failedState"] == "Transform"
    assert data["consoleUrl"] is None
    assert view.as_json(deployed=True)["consoleUrl"] == console_url(described["executionArn"])
    assert data["states"][1]["inputBytes"] == 7
    assert data["redriveDate"] == "2026-03-15T11:30:00+00:00"


def test_show_run_marks_the_state_a_timeout_stopped() -> None:
    # Given a run that timed out while its second state ran
    described = execution("slow", "TIMED_OUT", timedelta(hours=1))
    sfn = FakeStepFunctions([described])
    sfn.histories[described["executionArn"]] = [
        [
            event("ExecutionStarted", 0, input="{}"),
            event("PassStateEntered", 0, name="Prepare", input="{}"),
            event("PassStateExited", 0.001, name="Prepare", output="{}"),
            event("TaskStateEntered", 0.002, name="Work", input="{}"),
            event("LambdaFunctionScheduled", 0.002, resource="f"),
            event("ExecutionTimedOut", 5.002, error="States.Timeout", cause="execution timed out"),
        ]
    ]

    # When it is shown
    view = show_run(sfn, described["executionArn"], now=NOW)

    # Then the state that was running is the one that failed the execution, with the timeout
    work = view.states[-1]
    assert (work.name, work.status, work.error, work.duration_ms) == ("Work", "FAILED", "States.Timeout", 5000)
    assert view.failed_state == "Work"
    assert view.redrivable


def test_show_run_of_a_redriven_run_groups_visits_by_redrive() -> None:
    # Given a run that failed at Transform, was redriven, and then succeeded from Transform on
    described = execution("again", "SUCCEEDED", timedelta(hours=1), redriveCount=1, redriveDate=NOW)
    sfn = FakeStepFunctions([described])
    sfn.histories[described["executionArn"]] = [
        [
            event("ExecutionStarted", 0, input="{}"),
            event("TaskStateEntered", 0.1, name="Transform", input="{}"),
            event("LambdaFunctionScheduled", 0.1, resource="f"),
            event("LambdaFunctionFailed", 0.2, error="InjectedFault", cause=LAMBDA_CAUSE),
            event("ExecutionFailed", 0.2, error="InjectedFault", cause=LAMBDA_CAUSE),
            event("ExecutionRedriven", 60, redriveCount=1),
            event("TaskStateEntered", 60.1, name="Transform", input="{}"),
            event("LambdaFunctionScheduled", 60.1, resource="f"),
            event("LambdaFunctionSucceeded", 60.2, output="{}"),
            event("TaskStateExited", 60.2, name="Transform", output='{"ok":true}'),
            event("ExecutionSucceeded", 60.3, output="{}"),
        ]
    ]

    # When it is shown
    view = show_run(sfn, described["executionArn"], now=NOW)

    # Then both visits are kept, the second one belongs to redrive 1, and nothing failed the run
    assert [(s.name, s.status, s.redrive) for s in view.states] == [
        ("Transform", "FAILED", 0),
        ("Transform", "SUCCEEDED", 1),
    ]
    assert view.failed_state is None
    assert view.state_statuses() == {"Transform": "SUCCEEDED"}
    # And the text separates the redrive and marks no state
    text = render_run(view, deployed=False)
    assert "  -- redrive 1 --" in text
    assert "  redriven   1 time(s), last 2026-03-15 12:00:00 UTC" in text
    assert not [line for line in text.splitlines() if line.startswith(">")]


# -- renderers on hand-made data -----------------------------------------------------------


def summary(name: str, status: str, *, redrivable: bool, reason: str, duration: timedelta | None) -> RunSummary:
    start = datetime(2026, 3, 15, 9, 30, 5, tzinfo=UTC)
    return RunSummary(
        name=name,
        execution_arn=ARN_PREFIX + name,
        trigger="S3",
        source_key=f"incoming/{name}.csv",
        status=status,
        start=start,
        stop=None if duration is None else start + duration,
        duration=duration,
        error=None,
        redrivable=redrivable,
        redrive_reason=reason,
    )


def test_render_runs_is_an_aligned_table() -> None:
    # Given three runs with names and keys of different lengths
    runs = [
        summary("s3-a-1", "SUCCEEDED", redrivable=False, reason="succeeded", duration=timedelta(seconds=1.5)),
        summary("s3-longer-name-2", "FAILED", redrivable=True, reason="", duration=timedelta(minutes=2, seconds=5)),
        summary("s3-c-3", "RUNNING", redrivable=False, reason="still running", duration=None),
    ]

    # When they are rendered
    lines = render_runs(runs).splitlines()

    # Then there is a header, a rule and one line per run, every column starting at the same offset
    assert lines[0].split() == ["name", "trigger", "key", "status", "start", "(UTC)", "duration", "redrivable"]
    assert set(lines[1]) == {"-", " "}
    assert len(lines) == 5
    for column in ("trigger", "key", "status", "start"):
        offset = lines[0].index(column)
        assert all(line[offset - 2 : offset] == "  " and line[offset] != " " for line in lines[2:])
    assert lines[2].startswith("s3-a-1 ")
    assert "incoming/s3-longer-name-2.csv" in lines[3]
    assert lines[2].rstrip().endswith("no: succeeded")
    assert lines[3].rstrip().endswith("yes")
    assert "2026-03-15 09:30:05" in lines[3]
    assert " 1.5 s " in lines[2]
    assert " 2 min 5 s " in lines[3]
    assert " running " in lines[4]
    # And nothing to list says so
    assert render_runs([]) == "no executions"


def state(
    name: str, status: str, *, duration_ms: int = 12, output_bytes: int | None = 2048, **fields: Any
) -> StateVisit:
    entered = datetime(2026, 3, 15, 9, 30, 5, tzinfo=UTC)
    values: dict[str, Any] = {
        "name": name,
        "type": "Task",
        "status": status,
        "attempts": 1,
        "entered": entered,
        "exited": entered + timedelta(milliseconds=duration_ms),
        "input": "i" * 120,
        "output": None if output_bytes is None else "o" * output_bytes,
    }
    values.update(fields)
    return StateVisit(**values)


def view(**fields: Any) -> RunView:
    start = datetime(2026, 3, 15, 9, 30, 5, tzinfo=UTC)
    values: dict[str, Any] = {
        "name": "s3-x-csv-1",
        "execution_arn": ARN_PREFIX + "s3-x-csv-1",
        "state_machine_arn": None,
        "status": "FAILED",
        "trigger": "S3",
        "source_key": "incoming/x.csv",
        "input": {"key": "incoming/x.csv"},
        "error": "InjectedFault",
        "cause": LAMBDA_CAUSE,
        "start": start,
        "stop": start + timedelta(seconds=0.6),
        "duration": timedelta(seconds=0.6),
        "redrive_count": None,
        "redrive_date": None,
        "redrivable": True,
        "redrive_reason": "",
        "states": (
            state("Validate", "SUCCEEDED"),
            state("RouteByFormat", "SUCCEEDED", type="Choice", attempts=0, duration_ms=1),
            state(
                "TransformCsv",
                "FAILED",
                error="InjectedFault",
                cause=LAMBDA_CAUSE,
                output_bytes=None,
                failed_execution=True,
            ),
        ),
        "map_runs": (),
    }
    values.update(fields)
    return RunView(**values)


def test_render_run_makes_the_failed_state_stand_out() -> None:
    # When a failed local run is rendered
    text = render_run(view(), deployed=False)
    lines = text.splitlines()

    # Then the header gives status, name, trigger, key, error message and the redrive verdict
    assert lines[0] == "FAILED  s3-x-csv-1  (600 ms)"
    assert "  trigger    S3  incoming/x.csv" in lines
    assert "  error      InjectedFault: disk on fire" in lines
    assert "  failed at  TransformCsv" in lines
    assert "  redrive    yes (restarts at TransformCsv)" in lines
    # And only the failed state is marked, with its error message under it
    (failed,) = [line for line in lines if line.startswith(">")]
    assert failed.split()[1:4] == ["TransformCsv", "Task", "FAILED"]
    assert failed.endswith("<- failed the execution")
    assert lines[lines.index(failed) + 1].split() == ["InjectedFault:", "disk", "on", "fire"]
    # And sizes are readable, attempts of a Choice are "-"
    validate = next(line for line in lines if "Validate" in line and "SUCCEEDED" in line)
    assert validate.split()[-4:] == ["120", "B", "2.0", "KiB"]
    route = next(line for line in lines if "RouteByFormat" in line)
    assert route.split()[3] == "-"
    # And a local run gets no console link
    assert "console" not in text


def test_render_run_of_a_deployed_rejected_run_shows_console_and_why_not_redrive() -> None:
    # Given a deployed run rejected on a business error, redriven once before
    rejected = view(
        status="FAILED",
        error="UnsupportedFormat",
        cause="no transform exists for this format",
        redrivable=False,
        redrive_reason="business error UnsupportedFormat: fix the input and upload it again",
        redrive_count=1,
        redrive_date=datetime(2026, 3, 15, 10, 0, 0, tzinfo=UTC),
        states=(
            state("Validate", "CAUGHT", error="UnsupportedFormat", cause="no transform exists for this format"),
            state("Rejected", "FAILED", type="Fail", attempts=0, error="UnsupportedFormat", failed_execution=True),
        ),
    )

    # When it is rendered for a deployed stack
    text = render_run(rejected, deployed=True)

    # Then it says why a redrive will not help, shows the redrive history and the console link
    assert "  redrive    no: business error UnsupportedFormat: fix the input and upload it again" in text
    assert "  redriven   1 time(s), last 2026-03-15 10:00:00 UTC" in text
    assert f"  console    {console_url(rejected.execution_arn)}" in text
    assert "> Rejected" in text


def test_as_json_round_trips_through_json() -> None:
    # Given hand-made results
    run = summary("s3-a-1", "SUCCEEDED", redrivable=False, reason="succeeded", duration=timedelta(seconds=1.5))

    # Then their JSON forms serialise and carry the documented fields
    listed = json.loads(json.dumps(run.as_json()))
    assert listed == {
        "name": "s3-a-1",
        "executionArn": ARN_PREFIX + "s3-a-1",
        "trigger": "S3",
        "sourceKey": "incoming/s3-a-1.csv",
        "status": "SUCCEEDED",
        "startDate": "2026-03-15T09:30:05+00:00",
        "stopDate": "2026-03-15T09:30:06.500000+00:00",
        "durationMs": 1500,
        "error": None,
        "redrivable": False,
        "redriveReason": "succeeded",
    }
    shown = json.loads(json.dumps(view().as_json()))
    assert shown["failedState"] == "TransformCsv"
    assert shown["message"] == "disk on fire"
    assert [item["failedExecution"] for item in shown["states"]] == [False, False, True]


# -- Map Runs ------------------------------------------------------------------------------


def described_map_run(label: str, status: str, started_ago: timedelta, **counts: int) -> dict[str, Any]:
    """A DescribeMapRun answer of the execution ``split`` (ARN_PREFIX + "split")."""
    items = {"total": 6, "succeeded": 0, "failed": 0, "running": 0, "pending": 0, "timedOut": 0, "aborted": 0}
    items.update(counts)
    described: dict[str, Any] = {
        "mapRunArn": f"{MAP_RUN_PREFIX}{label}:0f8a9d4e-{label.lower()}",
        "executionArn": ARN_PREFIX + "split",
        "status": status,
        "startDate": NOW - started_ago,
        "maxConcurrency": 3,
        "toleratedFailureCount": 0,
        "toleratedFailurePercentage": 0.0,
        "itemCounts": items,
        "executionCounts": items,
    }
    if status != "RUNNING":
        described["stopDate"] = NOW - started_ago + timedelta(seconds=2)
    return described


def test_map_runs_pages_through_and_describes_each_oldest_first() -> None:
    # Given an execution with two Map Runs, listed newest first in pages of one
    sfn = FakeStepFunctions([execution("split", "RUNNING", timedelta(minutes=5))], page_size=1)
    sfn.map_runs[ARN_PREFIX + "split"] = [
        described_map_run("TransformRanges", "RUNNING", timedelta(minutes=1), succeeded=2, running=3, pending=1),
        described_map_run("ScanRanges", "SUCCEEDED", timedelta(minutes=4), succeeded=6),
    ]

    # When its Map Runs are read
    found = map_runs(sfn, ARN_PREFIX + "split")

    # Then both come back, oldest first, named after their Map state, with their items' counts
    assert [(run.state, run.status) for run in found] == [("ScanRanges", "SUCCEEDED"), ("TransformRanges", "RUNNING")]
    assert found[1].items == ItemCounts(total=6, succeeded=2, failed=0, running=3, pending=1, timed_out=0, aborted=0)
    assert found[0].map_run_arn == MAP_RUN_PREFIX + "ScanRanges:0f8a9d4e-scanranges"
    assert (found[0].max_concurrency, found[1].stop) == (3, None)
    # And their JSON says the same, with the duration of the one that stopped
    assert json.loads(json.dumps(found[0].as_json())) == {
        "state": "ScanRanges",
        "mapRunArn": MAP_RUN_PREFIX + "ScanRanges:0f8a9d4e-scanranges",
        "status": "SUCCEEDED",
        "items": {"total": 6, "succeeded": 6, "failed": 0, "running": 0, "pending": 0, "timedOut": 0, "aborted": 0},
        "maxConcurrency": 3,
        "startDate": "2026-03-15T11:56:00+00:00",
        "stopDate": "2026-03-15T11:56:02+00:00",
        "durationMs": 2000,
    }
    # And an execution that entered no Distributed Map has none
    assert map_runs(sfn, ARN_PREFIX + "small") == []


def test_show_run_carries_the_map_runs() -> None:
    # Given a run whose TransformRanges Map Run failed on one range
    described = execution("split", "FAILED", timedelta(minutes=5), error="States.ExceedToleratedFailureThreshold")
    sfn = FakeStepFunctions([described])
    sfn.histories[described["executionArn"]] = [[event("ExecutionStarted", 0, input="{}")]]
    sfn.map_runs[described["executionArn"]] = [
        described_map_run("ScanRanges", "SUCCEEDED", timedelta(minutes=4), succeeded=6),
        described_map_run("TransformRanges", "FAILED", timedelta(minutes=3), succeeded=5, failed=1),
    ]

    # When it is shown
    shown = show_run(sfn, described["executionArn"], now=NOW)

    # Then the view and its JSON carry both Map Runs, in order
    assert [(run.state, run.items.failed) for run in shown.map_runs] == [("ScanRanges", 0), ("TransformRanges", 1)]
    assert [run["state"] for run in shown.as_json()["mapRuns"]] == ["ScanRanges", "TransformRanges"]


@pytest.mark.parametrize(
    "arn",
    [
        ARN_PREFIX + "split",
        "arn:aws:states:eu-west-1:123456789012:mapRun:Pipeline",
        "arn:aws:lambda:eu-west-1:123456789012:mapRun:Pipeline/Label:id",
        "mapRun:Pipeline/Label:id",
    ],
)
def test_map_run_label_refuses_what_is_not_a_map_run_arn(arn: str) -> None:
    with pytest.raises(ValueError, match="not a Map Run ARN"):
        map_run_label(arn)


def map_run(state_name: str, status: str, **counts: int) -> MapRunSummary:
    values = {"total": 6, "succeeded": 0, "failed": 0, "running": 0, "pending": 0, "timed_out": 0, "aborted": 0}
    values.update(counts)
    return MapRunSummary(
        state=state_name,
        map_run_arn=f"{MAP_RUN_PREFIX}{state_name}:0f8a9d4e",
        status=status,
        items=ItemCounts(**values),
        max_concurrency=3,
        start=NOW,
        stop=None,
    )


SPLIT_MAP_RUNS = (
    map_run("ScanRanges", "SUCCEEDED", succeeded=6),
    map_run("TransformRanges", "FAILED", succeeded=3, failed=1, timed_out=1, running=0, pending=1),
)


def test_render_run_lists_each_map_run_with_its_ranges_under_the_states() -> None:
    # When a split run is rendered, one of its states' names longer than the Map states'
    states = (state("Validate", "SUCCEEDED"), state("RouteByOutputFormatOf", "SUCCEEDED", type="Choice"))
    lines = render_run(view(states=states, map_runs=SPLIT_MAP_RUNS), deployed=False).splitlines()

    # Then under the state table, after a blank line, come the Map Runs: state, status, ranges by
    # status (timed out only when some did), each one's ARN under it
    start = lines.index(next(line for line in lines if line.startswith("  map run")))
    assert lines[start - 1] == ""
    assert lines[start].split() == ["map", "run", "status", "ranges"]
    assert lines[start + 1].split(maxsplit=2) == [
        "ScanRanges",
        "SUCCEEDED",
        "6 succeeded, 0 failed, 0 running, 0 pending of 6",
    ]
    assert lines[start + 2].strip() == MAP_RUN_PREFIX + "ScanRanges:0f8a9d4e"
    assert lines[start + 3].split(maxsplit=2) == [
        "TransformRanges",
        "FAILED",
        "3 succeeded, 1 failed, 1 timed out, 0 running, 1 pending of 6",
    ]
    assert lines[start + 4].strip() == MAP_RUN_PREFIX + "TransformRanges:0f8a9d4e"
    # And the columns line up: the second with the state table's, the ARNs under the statuses
    state_header = next(line for line in lines if line.startswith("  state "))
    assert lines[start].index("status") == state_header.index("type")
    assert lines[start + 1].index("SUCCEEDED") == lines[start].index("status") == lines[start + 2].index("arn:")


def test_a_run_without_a_map_run_renders_no_map_run_section() -> None:
    # When a run that started no Map Run is rendered / Then no Map Run header or blank line is added
    lines = render_run(view(), deployed=False).splitlines()
    assert not [line for line in lines if "map run" in line]
    assert lines[-1].split() == ["InjectedFault:", "disk", "on", "fire"]


def test_pipeline_run_shows_the_same_map_run_lines_as_show() -> None:
    # Given the report of a local split run and the view of the same run
    report = RunReport(
        execution=Execution(ARN_PREFIX + "split", "split", "FAILED", {"key": "incoming/x.csv"}, None, None, None),
        states=view().states,
        map_runs=SPLIT_MAP_RUNS,
        output=None,
        notifications=[],
        alarms=[],
        retry_delays=[],
        duration_ms=600,
        log_file=None,
    )

    # When both are rendered
    ran = report.as_text().splitlines()
    shown = render_run(view(map_runs=SPLIT_MAP_RUNS), deployed=False).splitlines()

    # Then `run` prints the state and Map Run lines `show` prints, and its JSON lists the Map Runs
    table = state_table(view().states, SPLIT_MAP_RUNS)
    assert any(line.startswith("  map run") for line in table)
    for lines in (ran, shown):
        start = lines.index(table[0])
        assert lines[start : start + len(table)] == table
    assert [run["state"] for run in report.as_json()["mapRuns"]] == ["ScanRanges", "TransformRanges"]
