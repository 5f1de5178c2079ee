"""The operator role: what the ``pipeline executions``, ``show`` and ``redrive`` commands need."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.roles import ServiceRole


class OperatorRole(Construct):
    """Assumable by this account's principals (an administrator grants sts:AssumeRole to people)."""

    def __init__(self, scope: Construct, construct_id: str, *, state_machine: sfn.StateMachine, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        stack = Stack.of(self)
        self.role = ServiceRole(
            self,
            "Operators",
            principal=iam.AccountRootPrincipal(),
            description="Inspects and redrives pipeline runs",
        )
        executions = (
            f"arn:{stack.partition}:states:{stack.region}:{stack.account}:execution:"
            f"{state_machine.state_machine_name}:*"
        )
        self.role.allow(
            sid="ListAndDescribeTheStateMachine",
            actions=["states:ListExecutions", "states:DescribeStateMachine"],
            resources=[state_machine.state_machine_arn],
        )
        self.role.allow(
            sid="InspectAndRedriveItsExecutions",
            actions=["states:DescribeExecution", "states:GetExecutionHistory", "states:RedriveExecution"],
            resources=[executions],
        )
        self.role.allow(
            sid="FindTheStackOutputs", actions=["cloudformation:DescribeStacks"], resources=[stack.stack_id]
        )
        acknowledge(
            self.role.policy,
            "AwsSolutions-IAM5",
            "Executions are named per run; the wildcard covers this state machine's executions and no others.",
            applies_to=[
                {"regex": "/^Resource::arn:<AWS::Partition>:states:[^:]*:<AWS::AccountId>:execution:.*:\\*$/g"}
            ],
        )
