"""The stack: composes the constructs and grants each function exactly what it uses."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import PipelineConfig
from stacks.notifications import NotificationTopic
from stacks.storage import PipelineBucket
from stacks.tasks import TaskFunctions
from stacks.triggers import S3Trigger
from stacks.workflow import PipelineStateMachine
from tasks.common.layout import INCOMING_PREFIX, PROCESSED_PREFIX, STAGING_PREFIX

OUTPUT_BUCKET = "BucketName"
OUTPUT_STATE_MACHINE = "StateMachineArn"
OUTPUT_TOPIC = "NotificationTopicArn"


class PipelineStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        bucket = PipelineBucket(self, "Storage").bucket
        topic = NotificationTopic(self, "Notifications").topic
        retention = config.log_retention()
        tasks = TaskFunctions(
            self,
            "Tasks",
            log_retention=retention,
            environment={
                "Validate": {
                    "BUCKET_NAME": bucket.bucket_name,
                    "MAX_OBJECT_BYTES": str(config.max_object_bytes),
                },
                **{
                    name: {"MAX_REJECT_RATIO": str(config.max_reject_ratio)}
                    for name in ("TransformCsv", "TransformJson", "TransformJsonl")
                },
                "Notify": {"NOTIFICATION_TOPIC_ARN": topic.topic_arn},
            },
        )
        fn = tasks.functions
        sources = f"{INCOMING_PREFIX}*"
        staging = f"{STAGING_PREFIX}*"
        processed = f"{PROCESSED_PREFIX}*"
        for name in ("Validate", "Fetch", "TransformCsv", "TransformJson", "TransformJsonl"):
            bucket.grant_read(fn[name], sources)
        for name in ("TransformCsv", "TransformJson", "TransformJsonl"):
            bucket.grant_put(fn[name], staging)
        bucket.grant_read(fn["WriteOutput"], staging)
        bucket.grant_delete(fn["WriteOutput"], staging)
        bucket.grant_put(fn["WriteOutput"], processed)
        bucket.grant_read_write(fn["Notify"], processed)
        topic.grant_publish(fn["Notify"])

        workflow = PipelineStateMachine(self, "Workflow", aliases=tasks.aliases, topic=topic, log_retention=retention)
        machine = workflow.state_machine
        for alias in tasks.aliases.values():
            alias.grant_invoke(machine)
        topic.grant_publish(machine)
        S3Trigger(self, "S3Trigger", bucket=bucket, state_machine=machine)

        CfnOutput(self, OUTPUT_BUCKET, value=bucket.bucket_name)
        CfnOutput(self, OUTPUT_STATE_MACHINE, value=machine.state_machine_arn)
        CfnOutput(self, OUTPUT_TOPIC, value=topic.topic_arn)
