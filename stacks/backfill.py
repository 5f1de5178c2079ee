"""The backfill: a second Standard state machine (``workflow/backfill.asl.json``) that lists a prefix
of the bucket with a Distributed Map and starts the pipeline, as a child run, for each object
version the ledger has no result for.

Listing is S3's ``ListObjectsV2`` through the Map's item reader, which pages through any number of
keys. For buckets of tens of millions of objects an S3 Inventory manifest (``InputType: MANIFEST``)
would list more cheaply and carry the version ids (saving one HeadObject per object); it needs an
inventory configuration and a day's delay, so it is left to such a deployment.

The role follows the Distributed Map's documented needs
(https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html): start its own
child executions, describe and stop them; and the ``.sync`` integration's
(https://docs.aws.amazon.com/step-functions/latest/dg/stepfunctions-iam.html): start, describe and
stop the pipeline's executions and manage the managed rule that reports their ends.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.compliance import acknowledge, set_depends_on
from stacks.ledger import SourceLedger
from stacks.log_groups import LogGroups
from stacks.roles import ServiceRole
from stacks.workflow import LOG_DELIVERY_ACTIONS, TRACING_ACTIONS
from tasks.common.layout import INCOMING_PREFIX
from workflow.definition import BACKFILL_PATH, BUCKET_PLACEHOLDER, PIPELINE_PLACEHOLDER, definition_text
from workflow.ledger import TABLE_PLACEHOLDER

RESULTS_PREFIX = "backfills/"
OBJECT_PREFIXES = f"{INCOMING_PREFIX.rstrip('/')}|{RESULTS_PREFIX.rstrip('/')}"
SYNC_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule"


class PipelineBackfill(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        ledger: SourceLedger,
        pipeline: sfn.StateMachine,
        log_groups: LogGroups,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        stack = Stack.of(self)
        # Named, so that the role can name the state machine's own executions without a cycle.
        name = f"{stack.stack_name}-Backfill"
        arn_prefix = f"arn:{stack.partition}:states:{stack.region}:{stack.account}"
        self.role = ServiceRole(
            self, "Role", service="states.amazonaws.com", description="Backfills the pipeline from a bucket prefix"
        )
        self.role.allow(
            sid="ListSources",
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{INCOMING_PREFIX}*"]}},
        )
        self.role.allow(
            sid="FindTheVersions", actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{INCOMING_PREFIX}*")]
        )
        self.role.allow(
            sid="WriteTheResults", actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{RESULTS_PREFIX}*")]
        )
        self.role.allow(
            sid="ReadTheLedgerAndCountProgress",
            actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
            resources=[ledger.table.table_arn],
        )
        self.role.allow(
            sid="StartPipelineRuns", actions=["states:StartExecution"], resources=[pipeline.state_machine_arn]
        )
        self.role.allow(
            sid="FollowPipelineRuns",
            actions=["states:DescribeExecution", "states:StopExecution"],
            resources=[f"{arn_prefix}:execution:{pipeline.state_machine_name}:*"],
        )
        self.role.allow(
            sid="HearOfPipelineRunEnds",
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[f"arn:{stack.partition}:events:{stack.region}:{stack.account}:rule/{SYNC_RULE}"],
        )
        self.role.allow(
            sid="RunChildren", actions=["states:StartExecution"], resources=[f"{arn_prefix}:stateMachine:{name}"]
        )
        self.role.allow(
            sid="FollowChildren",
            actions=["states:DescribeExecution", "states:StopExecution"],
            resources=[f"{arn_prefix}:execution:{name}/*"],
        )
        # A redriven backfill redrives its Map Run's failed children, as this role
        # (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-map-run.html, its IAM section).
        self.role.allow(
            sid="RedriveChildren", actions=["states:RedriveExecution"], resources=[f"{arn_prefix}:execution:{name}/*"]
        )
        self.role.allow(sid="LogDelivery", actions=LOG_DELIVERY_ACTIONS, resources=["*"])
        self.role.allow(sid="Tracing", actions=TRACING_ACTIONS, resources=["*"])
        acknowledge(
            self.role.policy,
            "AwsSolutions-IAM5",
            "Executions are named per run: the wildcards cover the pipeline's executions and the backfill's own "
            "child executions, no others; objects under incoming/ are the sources it backfills and backfills/ "
            "the Map Run results it writes; CloudWatch Logs delivery and X-Ray actions have no resource-level "
            "permissions.",
            applies_to=[
                "Resource::*",
                {"regex": "/^Resource::arn:<AWS::Partition>:states:[^:]*:<AWS::AccountId>:execution:.*$/g"},
                {"regex": f"/^Resource::<.*Bucket.*\\.Arn>\\/({OBJECT_PREFIXES})\\/\\*$/g"},
            ],
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition_text(BACKFILL_PATH)),
            definition_substitutions={
                BUCKET_PLACEHOLDER: bucket.bucket_name,
                TABLE_PLACEHOLDER: ledger.table.table_name,
                PIPELINE_PLACEHOLDER: pipeline.state_machine_arn,
            },
            role=self.role.role,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_groups.for_state_machine(self, "Logs", purpose="backfill"),
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
        )
        set_depends_on(self.state_machine, [self.role.policy])
