"""How Step Functions names an optimized integration's service errors: by the Java SDK 1.x's classes."""

from __future__ import annotations

import pytest

from workflow.local.java_sdk_errors import DYNAMODB_GENERIC, java_sdk_error_name, modelled_errors


@pytest.mark.parametrize(
    ("code", "named"),
    [
        # A modelled code that is its class's name
        ("ConditionalCheckFailedException", "DynamoDB.ConditionalCheckFailedException"),
        ("ProvisionedThroughputExceededException", "DynamoDB.ProvisionedThroughputExceededException"),
        # A modelled code whose class adds "Exception"
        ("InternalServerError", "DynamoDB.InternalServerErrorException"),
        ("RequestLimitExceeded", "DynamoDB.RequestLimitExceededException"),
        # A code DynamoDB's API does not model: the SDK's base class
        ("ValidationException", "DynamoDB.AmazonDynamoDBException"),
        ("UnrecognizedClientException", "DynamoDB.AmazonDynamoDBException"),
    ],
)
def test_a_dynamodb_error_is_named_after_the_java_sdk_s_class(code: str, named: str) -> None:
    assert java_sdk_error_name("DynamoDB", code, modelled_errors("dynamodb"), DYNAMODB_GENERIC) == named
