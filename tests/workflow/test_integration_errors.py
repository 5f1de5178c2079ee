"""The names Step Functions gives the service errors of its integrations, which Retry and Catch match.

The DynamoDB integration's names are crossed by the ledger's tests (``test_ledger.py``,
``test_unchanged_content.py``); these cover the aws-sdk integration's S3 errors, which the
backfill's FindVersion retries.
"""

from __future__ import annotations

from typing import Any

import pytest
from moto.s3.exceptions import S3ClientError
from moto.s3.models import S3Backend

from tests.workflow.test_aws_limits import run_machine
from workflow.local.environment import LocalPipeline


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
    described = run_machine(
        pipeline,
        f"sdk-{code.lower()}",
        {
            "StartAt": "Head",
            "States": {
                "Head": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:s3:headObject",
                    "Parameters": {"Bucket": pipeline.stack.bucket_name, "Key": "incoming/any.csv"},
                    "End": True,
                }
            },
        },
    )

    # Then the execution fails under the name Step Functions gives it on AWS
    assert (described["status"], described["error"]) == ("FAILED", named)
