"""The SNS topics: run outcomes (success, rejection, failure) and operational alarms."""

from __future__ import annotations

from typing import Any

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
