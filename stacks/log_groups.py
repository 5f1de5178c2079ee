"""Every log group of the stack is made here: the same retention and the same KMS key for all."""

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

    def create(self, scope: Construct, construct_id: str) -> logs.LogGroup:
        return logs.LogGroup(
            scope,
            construct_id,
            retention=self.retention,
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
        )
