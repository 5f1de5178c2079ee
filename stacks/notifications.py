"""The SNS topic that announces each run's outcome."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_sns as sns
from constructs import Construct


class NotificationTopic(Construct):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.topic = sns.Topic(self, "Topic", display_name="Data pipeline runs", enforce_ssl=True)
