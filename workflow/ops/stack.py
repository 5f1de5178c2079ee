"""Find the stack by name through its CloudFormation outputs, and map AWS's refusals to one error.

The caller's standard AWS configuration decides where the calls go: the deployed stack, or
``pipeline serve`` when ``AWS_ENDPOINT_URL`` points at it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from workflow.deployment import OUTPUT_STATE_MACHINE, REGION
from workflow.executions import execution_arn

T = TypeVar("T")


class OperationError(Exception):
    """The stack or the execution cannot be found, or AWS refused the call; the message says which."""


def aws_call(call: Callable[[], T]) -> T:
    """``call()``, with AWS's errors as an ``OperationError`` carrying the service's code and message."""
    try:
        return call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise OperationError(f"{error.get('Code', 'Error')}: {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise OperationError(str(exc)) from None


def session() -> boto3.Session:
    """The caller's credentials in the stack's region: the stack is deployed to REGION only, so a
    default region configured for other work must not send the calls elsewhere."""
    return boto3.Session(region_name=REGION)


def stack_outputs(aws: boto3.Session, stack_name: str) -> dict[str, str]:
    try:
        stacks = aws.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        raise OperationError(f"stack {stack_name!r} not found: {exc.response['Error'].get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise OperationError(f"cannot reach CloudFormation: {exc}") from None
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


@dataclass(frozen=True)
class Target:
    """A stack found by its outputs, and a Step Functions client for its state machine."""

    session: boto3.Session
    stack_name: str
    outputs: dict[str, str]
    sfn: Any
    deployed: bool  # False when AWS_ENDPOINT_URL points at a local endpoint

    @property
    def state_machine_arn(self) -> str:
        return self.outputs[OUTPUT_STATE_MACHINE]

    def output(self, name: str) -> str:
        if name not in self.outputs:
            raise OperationError(f"stack {self.stack_name!r} has no output {name}")
        return self.outputs[name]

    def execution_arn(self, name_or_arn: str) -> str:
        """An execution of this stack's state machine, by name or by ARN."""
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        return execution_arn(self.state_machine_arn, name_or_arn)


def connect(stack_name: str) -> Target:
    aws = session()
    outputs = stack_outputs(aws, stack_name)
    if OUTPUT_STATE_MACHINE not in outputs:
        raise OperationError(f"stack {stack_name!r} has no output {OUTPUT_STATE_MACHINE}")
    return Target(
        session=aws,
        stack_name=stack_name,
        outputs=outputs,
        sfn=aws.client("stepfunctions"),
        deployed="AWS_ENDPOINT_URL" not in os.environ,
    )
