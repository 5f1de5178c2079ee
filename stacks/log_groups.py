"""Every log group of the stack is made here: the same retention and the same KMS key for all.

Log groups are kept when the stack is deleted (they hold the audit trail: API access logs, execution
data), and so is the key that encrypts them (``stacks/keys.py``): a deleted key would leave them
unreadable for good.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Fn, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

VENDED_LOGS_PREFIX = "/aws/vendedlogs/states/"


@dataclass(frozen=True)
class LogGroups:
    retention: logs.RetentionDays
    key: kms.IKey

    def create(self, scope: Construct, construct_id: str, *, name: str | None = None) -> logs.LogGroup:
        """A log group, named by CloudFormation unless ``name`` is given. A given name must be unique to
        this stack instance: the group outlives the stack, and a redeployment cannot create it again."""
        return logs.LogGroup(
            scope,
            construct_id,
            log_group_name=name,
            retention=self.retention,
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def for_state_machine(self, scope: Construct, construct_id: str, *, purpose: str) -> logs.LogGroup:
        """A state machine's log group, under /aws/vendedlogs/: Step Functions adds the group of each
        state machine that logs to the account's one CloudWatch Logs resource policy, which is capped
        at 5,120 characters, unless the group's name starts so
        (https://docs.aws.amazon.com/step-functions/latest/dg/bp-cwl.html); ``purpose`` tells the
        stack's state machines apart. The stack's id ends the name, so a redeployment after the
        stack was deleted does not meet the group the old one kept."""
        stack = Stack.of(scope)
        stack_uuid = Fn.select(2, Fn.split("/", stack.stack_id))
        return self.create(scope, construct_id, name=f"{VENDED_LOGS_PREFIX}{stack.stack_name}-{purpose}-{stack_uuid}")
