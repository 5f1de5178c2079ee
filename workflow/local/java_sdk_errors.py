"""The names Step Functions gives its optimized integrations' service errors: the Java SDK's classes.

Step Functions calls Lambda, DynamoDB and itself (``arn:aws:states:::lambda:invoke``,
``arn:aws:states:::dynamodb:updateItem``, ``arn:aws:states:::states:startExecution``) with the AWS
SDK for Java 1.x, and a task's error is ``<Service>.<the SDK's exception class>``:

- an error the service's API models keeps its code as its class, with ``Exception`` appended when
  the code lacks it: DynamoDB's ``InternalServerError`` is ``DynamoDB.InternalServerErrorException``
  and ``RequestLimitExceeded`` ``DynamoDB.RequestLimitExceededException``;
- any other code is the SDK's base class for the service: DynamoDB's ``ValidationException`` (not in
  its API model) is ``DynamoDB.AmazonDynamoDBException``, a Lambda ``AccessDeniedException``
  ``Lambda.AWSLambdaException``, Step Functions' ``ThrottlingException``
  ``StepFunctions.AWSStepFunctionsException``.

Evidence: LocalStack's snapshots recorded against AWS
(``tests/aws/services/stepfunctions/v2/error_handling/test_task_service_dynamodb.snapshot.json``:
a ValidationException is ``DynamoDB.AmazonDynamoDBException``; SNS's ``NotFound`` is
``SNS.NotFoundException``), AWS's own semaphore sample (aws-samples/aws-stepfunctions-examples,
``dynamodb-semaphore.asl.json``, which catches ``DynamoDB.AmazonDynamoDBException`` for an update
of a missing attribute), and https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html.
moto's interpreter names a DynamoDB error ``DynamoDB.<code>`` instead
(``StateTaskServiceDynamoDB._error_cause_from_client_error``) and a Step Functions error
``StepFunctions.<code>Exception`` whatever the code (``StateTaskServiceSfn._from_error``; internals
guarded by tests), so a retrier written for them would never match on AWS.

The ``aws-sdk:`` integrations use the SDK for Java 2.x: ``<Service>.<class>``, the class being the
error's code, with ``Exception`` appended when it lacks it, or the service's base class
(``DynamoDb.DynamoDbException``, ``S3.S3Exception``), under the 2.x service name (``DynamoDb``,
``S3``). moto names them so for the services it lists in ``_SERVICE_ERROR_NAMES`` (an internal,
guarded by a test) and by the lower-case resource name for the others (``s3.s3Exception``): S3,
which the backfill's ``FindVersion`` calls, is added; and a ``HeadObject`` of a missing key, a bare
404 to botocore, is ``S3.NoSuchKeyException``, as the SDK 2.x raises it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import cache
from typing import Any

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb import (
    StateTaskServiceDynamoDB,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)

from tasks.common.aws import error_code
from workflow.local.held import Held
from workflow.local.service_models import reader_session

DYNAMODB_GENERIC = "AmazonDynamoDBException"
STEP_FUNCTIONS_GENERIC = "AWSStepFunctionsException"


def java_sdk_error_name(service: str, code: str, modelled: frozenset[str], generic: str) -> str:
    """``<service>.<class>``: a modelled ``code``, ending in ``Exception``; else the ``generic`` class."""
    if code not in modelled:
        return f"{service}.{generic}"
    return f"{service}.{code if code.endswith('Exception') else code + 'Exception'}"


@cache
def modelled_errors(service: str) -> frozenset[str]:
    """The error codes ``service``'s API models, in any operation (botocore's model); read at the
    first error, not when an environment starts (DynamoDB's model costs 20 ms)."""
    model = reader_session().get_service_model(service)
    return frozenset(shape.name for shape in model.error_shapes)


# The Java SDK 2.x's names of the services whose aws-sdk integrations the stack's workflows call.
AWS_SDK_SERVICE_NAMES = {"s3": "S3"}
# The SDK 2.x's class for a HeadObject of a missing key, which has no error code (a bare 404).
S3_HEAD_NOT_FOUND = "S3.NoSuchKeyException"


def _install() -> Callable[[], None]:
    """Name the integrations' errors as Step Functions does; return what restores moto's names."""
    original_dynamodb = vars(StateTaskServiceDynamoDB)["_error_cause_from_client_error"]
    original_sfn = vars(StateTaskServiceSfn)["_from_error"]
    original_sdk = vars(StateTaskServiceAwsSdk)["_normalise_exception_name"]
    sdk_names: dict[str, str] = vars(state_task_service_aws_sdk)["_SERVICE_ERROR_NAMES"]
    added = {service: name for service, name in AWS_SDK_SERVICE_NAMES.items() if service not in sdk_names}

    def dynamodb_error_cause(client_error: ClientError) -> tuple[str, str]:
        _, cause = original_dynamodb.__func__(client_error)
        return java_sdk_error_name(
            "DynamoDB", error_code(client_error), modelled_errors("dynamodb"), DYNAMODB_GENERIC
        ), cause

    def sfn_from_error(self: StateTaskServiceSfn, env: Any, ex: Exception) -> Any:
        failure: Any = original_sfn(self, env, ex)
        if isinstance(ex, ClientError):
            name = java_sdk_error_name(
                "StepFunctions", error_code(ex), modelled_errors("stepfunctions"), STEP_FUNCTIONS_GENERIC
            )
            failure.error_name = CustomErrorName(name)
            failure.event_details["taskFailedEventDetails"]["error"] = name
        return failure

    def sdk_exception_name(norm_service_name: str, ex: Exception) -> str:
        if isinstance(ex, ClientError) and ex.operation_name == "HeadObject" and error_code(ex) == "404":
            return S3_HEAD_NOT_FOUND
        named: str = original_sdk.__func__(norm_service_name, ex)
        return named

    StateTaskServiceDynamoDB._error_cause_from_client_error = staticmethod(dynamodb_error_cause)  # type: ignore[method-assign]
    StateTaskServiceSfn._from_error = sfn_from_error  # type: ignore[method-assign]
    StateTaskServiceAwsSdk._normalise_exception_name = staticmethod(sdk_exception_name)  # type: ignore[method-assign]
    sdk_names.update(added)

    def restore() -> None:
        StateTaskServiceDynamoDB._error_cause_from_client_error = original_dynamodb  # type: ignore[method-assign]
        StateTaskServiceSfn._from_error = original_sfn  # type: ignore[method-assign]
        StateTaskServiceAwsSdk._normalise_exception_name = original_sdk  # type: ignore[method-assign]
        for service in added:
            sdk_names.pop(service, None)

    return restore


_NAMES = Held(_install)


def errors_named() -> AbstractContextManager[None]:
    """The integrations' errors named as Step Functions names them, until the block ends (and every
    other such block: environments may overlap)."""
    return _NAMES.held()
