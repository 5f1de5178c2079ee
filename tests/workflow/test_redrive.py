"""Local RedriveExecution with AWS semantics: restart at the failed state, keep what succeeded."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tasks.common.layout import PROCESSED_PREFIX
from tests.scenarios import SOURCES, run_upload
from workflow.deployment import LOCAL_ACCOUNT
from workflow.executions import FAILED, SUCCEEDED
from workflow.local.environment import LocalPipeline


def test_a_system_failure_redrives_from_the_failed_state_to_success(pipeline: LocalPipeline) -> None:
    # Given a run that failed on a system error at TransformCsv
    pipeline.lambdas.inject_fault(pipeline.function_for_state("TransformCsv"), error="InjectedFault")
    failed = run_upload(pipeline, "people.csv", SOURCES["people.csv"])
    assert failed.status == "FAILED"

    # When it is redriven through the Step Functions API
    pipeline.redrive(failed.arn)
    redriven = pipeline.wait(failed.arn, timeout=30)

    # Then the same execution succeeds, counted as redriven once
    assert (redriven.arn, redriven.status) == (failed.arn, "SUCCEEDED")
    described = pipeline.client("stepfunctions").describe_execution(executionArn=failed.arn)
    assert described["redriveCount"] == 1
    assert "redriveDate" in described
    # And the states before the failed one ran once; the failed one ran again from its recorded input
    invoked = [invocation.function for invocation in pipeline.lambdas.invocations]
    for state, times in {"Validate": 1, "Fetch": 1, "TransformCsv": 2, "WriteOutput": 1, "Notify": 1}.items():
        assert invoked.count(pipeline.function_for_state(state)) == times, state
    visits = [(state.name, state.status) for state in pipeline.visits(failed.arn)]
    assert visits == [
        ("Validate", SUCCEEDED),
        ("RecordStart", SUCCEEDED),
        ("HasDataset", SUCCEEDED),
        ("Fetch", SUCCEEDED),
        ("RouteByFormat", SUCCEEDED),
        ("TransformCsv", FAILED),
        ("TransformCsv", SUCCEEDED),
        ("RouteByOutputFormat", SUCCEEDED),
        ("WriteOutput", SUCCEEDED),
        ("RecordSucceeded", SUCCEEDED),
        ("Notify", SUCCEEDED),
    ]
    assert "ExecutionRedriven" in [event["type"] for event in pipeline.history(failed.arn)]
    # And exactly one output exists, and the success is announced once after the failure
    data = [key for key in pipeline.object_keys(PROCESSED_PREFIX) if key.endswith("/data.jsonl")]
    assert len(data) == 1
    statuses = [n.attributes.get("status") for n in pipeline.notifications()]
    assert statuses.count("SUCCEEDED") == 1


def test_a_succeeded_execution_is_not_redrivable(pipeline: LocalPipeline) -> None:
    done = run_upload(pipeline, "people.jsonl", SOURCES["people.jsonl"])
    with pytest.raises(ClientError) as refused:
        pipeline.client("stepfunctions").redrive_execution(executionArn=done.arn)
    assert refused.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    assert "SUCCEEDED" in str(refused.value)


def test_describe_execution_says_whether_a_run_may_be_redriven_now_as_aws_does(pipeline: LocalPipeline) -> None:
    # Given a run that failed on a system error
    pipeline.lambdas.inject_fault(pipeline.function_for_state("Fetch"), error="InjectedFault")
    failed = run_upload(pipeline, "people.csv", SOURCES["people.csv"])
    sfn = pipeline.client("stepfunctions")

    # Then it is REDRIVABLE
    assert sfn.describe_execution(executionArn=failed.arn)["redriveStatus"] == "REDRIVABLE"
    # And once redriven to success, NOT_REDRIVABLE, with AWS's reason
    pipeline.redrive(failed.arn)
    assert pipeline.wait(failed.arn, timeout=30).status == "SUCCEEDED"
    described = sfn.describe_execution(executionArn=failed.arn)
    assert (described["redriveStatus"], described["redriveStatusReason"]) == (
        "NOT_REDRIVABLE",
        "Execution is SUCCEEDED and cannot be redriven",
    )


def test_an_express_execution_is_not_redriven_nor_said_to_be_redrivable(pipeline: LocalPipeline) -> None:
    # Given a failed execution of an Express state machine (the ledger's failure recorder is one)
    sfn = pipeline.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="express-probe",
        type="EXPRESS",
        definition=json.dumps({"StartAt": "Fail", "States": {"Fail": {"Type": "Fail", "Error": "Probe"}}}),
        roleArn=f"arn:aws:iam::{LOCAL_ACCOUNT}:role/probe",
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, name="express-1", input="{}")["executionArn"]
    assert pipeline.wait(arn, timeout=30).status == "FAILED"

    # Then no redrive status is given, and RedriveExecution refuses it
    assert "redriveStatus" not in sfn.describe_execution(executionArn=arn)
    with pytest.raises(ClientError) as refused:
        sfn.redrive_execution(executionArn=arn)
    assert refused.value.response["Error"]["Code"] == "ExecutionNotRedrivable"


def test_a_second_failure_can_be_redriven_again(pipeline: LocalPipeline) -> None:
    # Given a run whose Fetch fails, and fails once more on the first redrive
    pipeline.lambdas.inject_fault(pipeline.function_for_state("Fetch"), error="InjectedFault", times=2)
    failed = run_upload(pipeline, "people.json", SOURCES["people.json"])
    pipeline.redrive(failed.arn)
    assert pipeline.wait(failed.arn, timeout=30).status == "FAILED"

    # When it is redriven a second time
    pipeline.redrive(failed.arn)

    # Then it succeeds with redriveCount 2
    assert pipeline.wait(failed.arn, timeout=30).status == "SUCCEEDED"
    described = pipeline.client("stepfunctions").describe_execution(executionArn=failed.arn)
    assert described["redriveCount"] == 2
