"""Customer-managed KMS keys: one for log groups, one for messages (SNS topics, the dead-letter queue).

Customer-managed because the AWS-managed keys cannot grant the services that write here:
CloudWatch Logs must encrypt log events, EventBridge and CloudWatch alarms must publish to the
encrypted topics and queue.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

ENCRYPT_ACTIONS = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]


def _key(scope: Construct, construct_id: str, description: str, *, removal_policy: RemovalPolicy) -> kms.Key:
    return kms.Key(
        scope,
        construct_id,
        description=description,
        enable_key_rotation=True,
        removal_policy=removal_policy,
        pending_window=Duration.days(7),
    )


class PipelineKeys(Construct):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        stack = Stack.of(self)
        logs_of_this_account = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:*"
        # Kept with the log groups it encrypts, which outlive the stack (stacks/log_groups.py): deleted,
        # it would make them unreadable. Delete it with them once they are no longer needed.
        self.logs = _key(
            self, "Logs", "Encrypts the pipeline's CloudWatch log groups", removal_policy=RemovalPolicy.RETAIN
        )
        self.logs.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=ENCRYPT_ACTIONS,
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": logs_of_this_account}},
            )
        )
        # Only messages in flight depend on this one, and the topics and queue go with the stack.
        self.messages = _key(
            self,
            "Messages",
            "Encrypts the pipeline's SNS topics and dead-letter queue",
            removal_policy=RemovalPolicy.DESTROY,
        )
        for service in ("events.amazonaws.com", "cloudwatch.amazonaws.com"):
            self.messages.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"PublishFrom{service.split('.')[0].capitalize()}",
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],  # in a key policy, "*" means this key
                    conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
                )
            )
