"""The S3 trigger: an EventBridge rule on ``Object Created`` under ``incoming/`` starts a run."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from tasks.common.layout import INCOMING_PREFIX


class S3Trigger(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        state_machine: sfn.IStateMachine,
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
                },
            ),
        )
        self.rule.add_target(
            targets.SfnStateMachine(
                state_machine,
                input=events.RuleTargetInput.from_object(
                    {
                        "bucket": events.EventField.from_path("$.detail.bucket.name"),
                        "key": events.EventField.from_path("$.detail.object.key"),
                        "versionId": events.EventField.from_path("$.detail.object.version-id"),
                        "trigger": "s3",
                    }
                ),
            )
        )
