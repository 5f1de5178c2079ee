"""Every log group of the stack is made here: the same retention and the same KMS key for all.

Log groups are kept when the stack is deleted (they hold the audit trail: API access logs, execution
data), and so is the key that encrypts them (``stacks/keys.py``): a deleted key would leave them
unreadable for good.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct


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
