"""The SNS topics: run outcomes (success, rejection, failure) and operational alarms.

``enforce_ssl`` gives each topic a policy of its own, which replaces SNS's default one (the one
that lets services of the account publish): a service that publishes to a topic must be admitted
by name, with ``admit_service``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class NotificationTopics(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, email: str | None, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.runs = sns.Topic(self, "Runs", display_name="Data pipeline runs", master_key=key, enforce_ssl=True)
        self.alarms = sns.Topic(self, "Alarms", display_name="Data pipeline alarms", master_key=key, enforce_ssl=True)
        if email:
            for topic in (self.runs, self.alarms):
                topic.add_subscription(subscriptions.EmailSubscription(email))


def admit_service(topic: sns.ITopic, *, sid: str, service: str, sources: Sequence[str]) -> None:
    """Let ``service`` publish to ``topic`` for ``sources`` (the ARNs of rules or alarms) and nothing else.

    ``aws:SourceArn`` and ``aws:SourceAccount`` are what AWS sets when a service acts for one of
    the account's resources: without them any rule or alarm, of any account, could publish here
    (the confused deputy: https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
    """
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(service)],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "ArnEquals": {"aws:SourceArn": list(sources)},
                "StringEquals": {"aws:SourceAccount": Stack.of(topic).account},
            },
        )
    )
