"""The embedded engine runs a Distributed Map and nested executions with AWS's semantics.

Each test runs a small definition of its own on the local engine: failure tolerance, the S3
listing item reader, ``states:startExecution`` (plain and ``.sync:2``) and the context's start time.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from workflow.local.environment import Execution, LocalPipeline

ROLE = "arn:aws:iam::123456789012:role/local"
LISTED_BUCKET = "listed-objects"


def run(pipeline: LocalPipeline, name: str, definition: dict[str, Any], payload: dict[str, Any]) -> Execution:
    sfn = pipeline.client("stepfunctions")
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, name=f"{name}-1", input=json.dumps(payload))["executionArn"]
    return pipeline.wait(arn, timeout=60)


def failing_children_map(**tolerance: Any) -> dict[str, Any]:
    """A Distributed Map over ``$.items``; an item ``{"fail": true}`` fails its child."""
    return {
        "StartAt": "Children",
        "States": {
            "Children": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                **tolerance,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Decide",
                    "States": {
                        "Decide": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Broken"}],
                            "Default": "Fine",
                        },
                        "Broken": {"Type": "Fail", "Error": "ChildBroke", "Cause": "asked to"},
                        "Fine": {"Type": "Pass", "End": True},
                    },
                },
                "End": True,
            }
        },
    }


def items(failing: int, total: int) -> list[dict[str, bool]]:
    return [{"fail": index < failing} for index in range(total)]


def map_run_of(pipeline: LocalPipeline, execution_arn: str) -> dict[str, Any]:
    sfn = pipeline.client("stepfunctions")
    (listed,) = sfn.list_map_runs(executionArn=execution_arn)["mapRuns"]
    described: dict[str, Any] = sfn.describe_map_run(mapRunArn=listed["mapRunArn"])
    return described


def test_one_failed_child_fails_a_map_run_that_declares_no_tolerance(pipeline: LocalPipeline) -> None:
    # Given a Distributed Map with no tolerance declared, one of whose four children fails
    # When it runs
    execution = run(pipeline, "no-tolerance", failing_children_map(), {"items": items(1, 4)})

    # Then the execution fails at the Map with AWS's threshold error
    assert (execution.status, execution.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert "1 of 4" in (execution.cause or "")
    # And the Map Run says FAILED and counts the failed child as failed, not running
    map_run = map_run_of(pipeline, execution.arn)
    assert map_run["status"] == "FAILED"
    assert (map_run["itemCounts"]["failed"], map_run["itemCounts"]["succeeded"]) == (1, 3)
    assert (map_run["executionCounts"]["failed"], map_run["executionCounts"]["running"]) == (1, 0)
    assert "MapRunFailed" in [event["type"] for event in pipeline.history(execution.arn)]


@pytest.mark.parametrize(
    ("tolerance", "failing", "status"),
    [
        ({"ToleratedFailureCount": 1}, 1, "SUCCEEDED"),
        ({"ToleratedFailureCount": 1}, 2, "FAILED"),
        ({"ToleratedFailurePercentagePath": "$.tolerated"}, 2, "SUCCEEDED"),
        ({"ToleratedFailurePercentagePath": "$.tolerated"}, 3, "FAILED"),
        # Both declared: exceeding either one fails the Map Run.
        ({"ToleratedFailureCount": 1, "ToleratedFailurePercentagePath": "$.tolerated"}, 2, "FAILED"),
    ],
)
def test_failures_within_the_declared_tolerance_let_the_map_run_succeed(
    pipeline: LocalPipeline, tolerance: dict[str, Any], failing: int, status: str
) -> None:
    # Given a Map tolerating what the case declares (the percentage, 50, comes from the input)
    # When `failing` of its four children fail
    execution = run(
        pipeline, "tolerance", failing_children_map(**tolerance), {"items": items(failing, 4), "tolerated": 50}
    )

    # Then the run succeeds within the tolerance and fails past it
    assert execution.status == status
    assert map_run_of(pipeline, execution.arn)["status"] == status


def test_a_catch_on_the_threshold_error_takes_the_run_on(pipeline: LocalPipeline) -> None:
    # Given a Map that catches States.ExceedToleratedFailureThreshold
    definition = failing_children_map()
    definition["States"]["Children"].pop("End")
    definition["States"]["Children"]["Catch"] = [
        {"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "ResultPath": "$.failure", "Next": "Caught"}
    ]
    definition["States"]["Children"]["Next"] = "Caught"
    definition["States"]["Caught"] = {"Type": "Pass", "End": True}

    # When a child fails
    execution = run(pipeline, "caught", definition, {"items": items(1, 2)})

    # Then the run goes on through the Catch with AWS's error shape
    assert execution.status == "SUCCEEDED"
    assert execution.output is not None
    assert execution.output["failure"]["Error"] == "States.ExceedToleratedFailureThreshold"


def listing_map(prefix: str) -> dict[str, Any]:
    """A Distributed Map over an S3 listing whose children return the item they were given."""
    return {
        "StartAt": "Objects",
        "States": {
            "Objects": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:listObjectsV2",
                    "Parameters": {"Bucket": LISTED_BUCKET, "Prefix": prefix},
                },
                "MaxConcurrency": 8,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Echo",
                    "States": {"Echo": {"Type": "Pass", "End": True}},
                },
                "End": True,
            }
        },
    }


def test_an_s3_listing_reaches_past_one_thousand_keys_in_aws_s_item_shape(pipeline: LocalPipeline) -> None:
    # Given 1,001 objects under a prefix (one more than a ListObjectsV2 page) and one outside it
    s3 = pipeline.client("s3")
    s3.create_bucket(Bucket=LISTED_BUCKET)
    for index in range(1001):
        s3.put_object(Bucket=LISTED_BUCKET, Key=f"in/{index:04d}.csv", Body=b"a\n1\n")
    s3.put_object(Bucket=LISTED_BUCKET, Key="out/other.csv", Body=b"a\n")

    # When a Distributed Map lists the prefix
    execution = run(pipeline, "listing", listing_map("in/"), {})

    # Then every object under it became one child, with the fields AWS gives a listed item
    assert execution.status == "SUCCEEDED"
    assert execution.output is not None
    assert len(execution.output) == 1001
    first = execution.output[0]
    assert set(first) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}
    assert (first["Key"], first["Size"], first["StorageClass"]) == ("in/0000.csv", 4, "STANDARD")
    assert isinstance(first["LastModified"], int)
    assert re.fullmatch(r'"[0-9a-f]{32}"', first["Etag"])


def test_an_s3_listing_of_an_empty_prefix_has_no_children(pipeline: LocalPipeline) -> None:
    # Given a bucket with nothing under the prefix
    pipeline.client("s3").create_bucket(Bucket=LISTED_BUCKET)

    # When a Distributed Map lists it
    execution = run(pipeline, "empty", listing_map("nothing/"), {})

    # Then the Map succeeds with no child
    assert (execution.status, execution.output) == ("SUCCEEDED", [])


def child_machine(pipeline: LocalPipeline) -> str:
    """A state machine that echoes its input, or fails when the input says so."""
    definition = {
        "StartAt": "Decide",
        "States": {
            "Decide": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Broken"}],
                "Default": "Echo",
            },
            "Broken": {"Type": "Fail", "Error": "ChildBroke", "Cause": "asked to"},
            "Echo": {"Type": "Pass", "Parameters": {"echoed.$": "$.value"}, "End": True},
        },
    }
    sfn = pipeline.client("stepfunctions")
    arn: str = sfn.create_state_machine(name="child", definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    return arn


def parent(child: str, pattern: str) -> dict[str, Any]:
    return {
        "StartAt": "StartChild",
        "States": {
            "StartChild": {
                "Type": "Task",
                "Resource": f"arn:aws:states:::states:startExecution{pattern}",
                "Parameters": {
                    "StateMachineArn": child,
                    "Name.$": "$.name",
                    "Input": {"value.$": "$.value", "fail.$": "$.fail"},
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }


def test_start_execution_starts_the_named_child_and_answers_its_arn(pipeline: LocalPipeline) -> None:
    # Given a child state machine
    child = child_machine(pipeline)

    # When a task starts it by name without waiting
    execution = run(pipeline, "plain", parent(child, ""), {"name": "child-a", "value": 1, "fail": False})

    # Then the output has the integration's fields and the child exists under that name
    assert execution.status == "SUCCEEDED"
    assert execution.output is not None
    assert execution.output["ExecutionArn"].endswith(":execution:child:child-a")
    assert isinstance(execution.output["StartDate"], int)
    described = pipeline.client("stepfunctions").describe_execution(executionArn=execution.output["ExecutionArn"])
    assert json.loads(described["input"]) == {"value": 1, "fail": False}


def test_sync_2_waits_for_the_child_and_returns_its_parsed_output(pipeline: LocalPipeline) -> None:
    # Given a child state machine
    child = child_machine(pipeline)

    # When a .sync:2 task starts it
    execution = run(pipeline, "sync", parent(child, ".sync:2"), {"name": "child-b", "value": 7, "fail": False})

    # Then the task waited for the child's end and returned its status and output as JSON
    assert execution.status == "SUCCEEDED"
    assert execution.output is not None
    assert (execution.output["Status"], execution.output["Output"]) == ("SUCCEEDED", {"echoed": 7})


def test_sync_2_fails_with_the_child_s_error_in_the_cause(pipeline: LocalPipeline) -> None:
    # Given a child that fails
    child = child_machine(pipeline)

    # When a .sync:2 task starts it
    execution = run(pipeline, "sync-fail", parent(child, ".sync:2"), {"name": "child-c", "value": 0, "fail": True})

    # Then the task fails with States.TaskFailed and the child's DescribeExecution as the cause
    assert execution.output is not None
    failure = execution.output["failure"]
    assert failure["Error"] == "States.TaskFailed"
    child_description = json.loads(failure["Cause"])
    assert (child_description["Status"], child_description["Error"]) == ("FAILED", "ChildBroke")


def test_a_name_taken_by_another_input_is_aws_s_already_exists_error(pipeline: LocalPipeline) -> None:
    # Given a child already started under a name
    child = child_machine(pipeline)
    run(pipeline, "first", parent(child, ".sync:2"), {"name": "child-d", "value": 1, "fail": False})

    # When another task starts the same name with another input
    execution = run(pipeline, "second", parent(child, ""), {"name": "child-d", "value": 2, "fail": False})

    # Then it fails with the error name AWS gives
    assert execution.output is not None
    assert execution.output["failure"]["Error"] == "StepFunctions.ExecutionAlreadyExistsException"


def test_the_context_start_time_is_an_iso_string_in_utc_milliseconds(pipeline: LocalPipeline) -> None:
    # Given a state that passes the context's start time on
    definition = {
        "StartAt": "Stamp",
        "States": {"Stamp": {"Type": "Pass", "Parameters": {"at.$": "$$.Execution.StartTime"}, "End": True}},
    }

    # When it runs
    execution = run(pipeline, "stamp", definition, {})

    # Then the time has AWS's format
    assert execution.output is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", execution.output["at"])
