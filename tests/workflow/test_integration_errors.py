"""The names Step Functions gives the service errors of its integrations, which Retry and Catch match.

The DynamoDB integration's names are crossed by the ledger's tests (``test_ledger.py``,
``test_unchanged_content.py``); these cover the aws-sdk integration's S3 errors, which the
backfill's FindVersion retries, and the Step Functions integration's, which its RunPipeline retries.
"""

from __future__ import annotations

from typing import Any

import pytest
from moto.core.exceptions import JsonRESTError
from moto.s3.exceptions import S3ClientError
from moto.s3.models import S3Backend
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from tests.scenarios import run_machine
from workflow.local.environment import LocalPipeline


def run_task(pipeline: LocalPipeline, name: str, resource: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Run a state machine of one Task calling ``resource`` with ``parameters``; describe its end."""
    task = {"Type": "Task", "Resource": resource, "Parameters": parameters, "End": True}
    return run_machine(pipeline, name, {"StartAt": "Task", "States": {"Task": task}})


@pytest.mark.parametrize(
    ("code", "named"),
    [
        # A code S3's API models keeps it, as the Java SDK 2.x's class
        ("InvalidObjectState", "S3.InvalidObjectStateException"),
        # Any other is the SDK's base class for S3
        ("InvalidArgument", "S3.S3Exception"),
    ],
)
def test_an_aws_sdk_s3_task_s_error_is_named_after_the_java_sdk_2_s_class(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch, code: str, named: str
) -> None:
    # Given S3 refusing every HeadObject with the error
    def head_object(backend: S3Backend, *args: Any, **kwargs: Any) -> Any:
        raise S3ClientError(code, "refused by the test")

    monkeypatch.setattr(S3Backend, "head_object", head_object)

    # When a task calls it through the aws-sdk integration, as the backfill's FindVersion does
    described = run_task(
        pipeline,
        f"sdk-{code.lower()}",
        "arn:aws:states:::aws-sdk:s3:headObject",
        {"Bucket": pipeline.stack.bucket_name, "Key": "incoming/any.csv"},
    )

    # Then the execution fails under the name Step Functions gives it on AWS
    assert (described["status"], described["error"]) == ("FAILED", named)


def test_an_aws_sdk_head_object_of_a_missing_key_is_no_such_key_as_the_java_sdk_2_raises_it(
    pipeline: LocalPipeline,
) -> None:
    # When a task asks for the head of a key that does not exist (a bare 404 to botocore)
    described = run_task(
        pipeline,
        "sdk-missing",
        "arn:aws:states:::aws-sdk:s3:headObject",
        {"Bucket": pipeline.stack.bucket_name, "Key": "incoming/missing.csv"},
    )

    # Then it fails with the SDK 2.x's NoSuchKeyException, which the backfill's retrier of
    # S3.S3Exception does not take for a passing fault
    assert (described["status"], described["error"]) == ("FAILED", "S3.NoSuchKeyException")


@pytest.mark.parametrize(
    ("code", "named"),
    [
        # A code Step Functions' API models, with "Exception" appended as the Java SDK 1.x's class has it
        ("ExecutionLimitExceeded", "StepFunctions.ExecutionLimitExceededException"),
        # A modelled code that is its class's name already
        ("ValidationException", "StepFunctions.ValidationException"),
        # A code the API does not model (a throttled call is ThrottlingException): the SDK's base class
        ("AccessDeniedException", "StepFunctions.AWSStepFunctionsException"),
    ],
)
def test_a_start_execution_task_s_error_is_named_after_the_java_sdk_1_s_class(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch, code: str, named: str
) -> None:
    # Given Step Functions refusing to start any execution named child-*
    original = StepFunctionsParserBackend.start_execution

    def start_execution(
        backend: StepFunctionsParserBackend, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        if name and str(name).startswith("child-"):
            raise JsonRESTError(code, "refused by the test")
        return original(backend, state_machine_arn, name, *args, **kwargs)

    monkeypatch.setattr(StepFunctionsParserBackend, "start_execution", start_execution)

    # When a task starts one, as the backfill's RunPipeline does
    described = run_task(
        pipeline,
        f"start-{code.lower()}",
        "arn:aws:states:::states:startExecution",
        {"StateMachineArn": pipeline.stack.state_machine_arn, "Name": "child-1", "Input": {}},
    )

    # Then the execution fails under the name Step Functions gives it on AWS
    assert (described["status"], described["error"]) == ("FAILED", named)
