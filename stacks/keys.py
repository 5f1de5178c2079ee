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
# What a publisher to an encrypted topic or queue needs of its key (SNS and SQS ask KMS for it).
MESSAGE_KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey*"]


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
        # CloudWatch alarms publishing to an encrypted topic: the KMS request carries the alarm as
        # aws:SourceArn and its account as aws:SourceAccount.
        self.messages.add_to_resource_policy(
            iam.PolicyStatement(
                sid="PublishFromAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=MESSAGE_KEY_ACTIONS,
                resources=["*"],  # in a key policy, "*" means this key
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
                    },
                },
            )
        )
        # EventBridge delivering to an encrypted topic (the failure rules) or queue (the rules'
        # dead-letter queue): the KMS request SNS or SQS makes for it does not carry aws:SourceArn
        # or aws:SourceAccount (deploy review, finding 10), so a statement conditioned on them would
        # drop every delivery. What it does carry is the encryption context SNS and SQS always set,
        # the topic's or the queue's ARN: the key serves EventBridge for this account's topics and
        # queues only. Who may publish at all is decided by the topic and queue policies, which
        # name the rules. (SNS's context: https://docs.aws.amazon.com/gamelift/latest/flexmatchguide/queue-notification-sns-sse.html)
        for sid, context, service in (
            ("EventsToTopicsOfThisAccount", "aws:sns:topicArn", "sns"),
            ("EventsToQueuesOfThisAccount", "aws:sqs:arn", "sqs"),
        ):
            of_this_account = f"arn:{stack.partition}:{service}:{stack.region}:{stack.account}:*"
            self.messages.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[iam.ServicePrincipal("events.amazonaws.com")],
                    actions=MESSAGE_KEY_ACTIONS,
                    resources=["*"],
                    conditions={"StringLike": {f"kms:EncryptionContext:{context}": of_this_account}},
                )
            )
