"""The S3 trigger: an EventBridge rule on ``Object Created`` under ``incoming/`` starts a run."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.roles import ServiceRole
from tasks.common.layout import INCOMING_PREFIX

# EventBridge retries a failed delivery with backoff for up to a day, then parks it in the DLQ.
DELIVERY_RETRIES = 185
DELIVERY_MAX_AGE = Duration.hours(24)


class DeliveryDeadLetterQueue(Construct):
    """Events that EventBridge could not deliver to their target, kept 14 days for inspection."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(self.queue, "AwsSolutions-SQS3", "This queue is itself the dead-letter queue of the rules.")
        acknowledge(self.queue, "Serverless-SQSRedrivePolicy", "This queue is itself the dead-letter queue.")


class S3Trigger(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        state_machine: sfn.IStateMachine,
        dead_letter_queue: sqs.IQueue,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.rule = events.Rule(
            self,
            "ObjectCreated",
            description=f"Start a pipeline run for each object created under {INCOMING_PREFIX}",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [bucket.bucket_name]},
                    # Only sources: outputs under processed/ and staging/ never start a run.
                    "object": {"key": [{"prefix": INCOMING_PREFIX}]},
                    # Nor "folders": the console's "Create folder" puts a zero-byte object whose key
                    # ends in "/". An empty file still starts its run (and is rejected, with a reason).
                    "$or": [
                        {"object": {"key": [{"anything-but": {"suffix": "/"}}]}},
                        {"object": {"size": [{"numeric": [">", 0]}]}},
                    ],
                },
            ),
        )
        # EventBridge's own role, allowed to start this state machine and nothing else.
        self.events_role = ServiceRole(
            self, "StartRun", service="events.amazonaws.com", description="Starts pipeline runs for S3 events"
        )
        self.events_role.allow(actions=["states:StartExecution"], resources=[state_machine.state_machine_arn])
        self.rule.add_target(
            targets.SfnStateMachine(
                state_machine,
                role=self.events_role.role,
                input=events.RuleTargetInput.from_object(
                    {
                        "bucket": events.EventField.from_path("$.detail.bucket.name"),
                        "key": events.EventField.from_path("$.detail.object.key"),
                        "versionId": events.EventField.from_path("$.detail.object.version-id"),
                        "trigger": "s3",
                    }
                ),
                dead_letter_queue=dead_letter_queue,
                retry_attempts=DELIVERY_RETRIES,
                max_event_age=DELIVERY_MAX_AGE,
            )
        )
