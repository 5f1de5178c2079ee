"""The stack: composes one construct per concern and grants each role exactly what it uses."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.alerts import PipelineAlerts
from stacks.api import PipelineApi
from stacks.backfill import PipelineBackfill
from stacks.compliance import acknowledge, set_depends_on
from stacks.config import ApiThrottling, PipelineConfig
from stacks.keys import PipelineKeys
from stacks.ledger import (
    LedgerFailureRecorder,
    LedgerOperatorRole,
    LedgerResources,
    SourceLedger,
    code_version,
    grant_ledger_reads,
)
from stacks.log_groups import LogGroups
from stacks.network import PipelineNetwork
from stacks.notifications import NotificationTopics
from stacks.operators import OperatorRole
from stacks.roles import ServiceRole
from stacks.storage import PipelineBucket
from stacks.tasks import TaskFunctions
from stacks.triggers import DeliveryDeadLetterQueue, S3Trigger
from stacks.workflow import PipelineStateMachine
from tasks.common.layout import PROCESSED_PREFIX, SOURCE_PREFIXES, STAGING_PREFIX
from tasks.split.layout import ITEMS_FILES
from workflow.deployment import (
    OUTPUT_ALARM_TOPIC,
    OUTPUT_API_ID,
    OUTPUT_API_URL,
    OUTPUT_BACKFILL_STATE_MACHINE,
    OUTPUT_BUCKET,
    OUTPUT_DASHBOARD,
    OUTPUT_LEDGER_OPERATOR_ROLE,
    OUTPUT_LEDGER_TABLE,
    OUTPUT_OPERATOR_ROLE,
    OUTPUT_STATE_MACHINE,
    OUTPUT_TOPIC,
    OUTPUT_UNDELIVERED_QUEUE,
)
from workflow.ledger import BY_SUCCEEDED, CODE_VERSION_PLACEHOLDER, TABLE_PLACEHOLDER

TRANSFORMS = ("TransformCsv", "TransformJson", "TransformJsonl")
READ = ["s3:GetObject", "s3:GetObjectVersion"]
WRITE = ["s3:PutObject", "s3:AbortMultipartUpload"]
# The Distributed Maps' item arrays, which the state machine reads itself (ItemReader).
SPLIT_ITEMS = [f"{STAGING_PREFIX}*/split/{name}" for name in ITEMS_FILES]


def allow_objects(role: ServiceRole, bucket: s3.IBucket, prefix: str, actions: list[str]) -> None:
    """Let ``role`` perform ``actions`` on the objects under ``prefix`` and nowhere else."""
    role.allow(actions=actions, resources=[bucket.arn_for_objects(f"{prefix}*")])


def allow_listing(role: ServiceRole, bucket: s3.IBucket, prefix: str) -> None:
    """ListBucket limited to ``prefix``: without it S3 answers 403 instead of 404 for a missing key."""
    role.allow(
        actions=["s3:ListBucket"],
        resources=[bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
    )


def _object_arn_pattern(prefix: str) -> Any:
    """cdk-nag's regex form of an ``appliesTo``: the bucket's object ARNs under ``prefix``."""
    return {"regex": f"/^Resource::<.*Bucket.*\\.Arn>\\/{prefix.rstrip('/')}\\/\\*$/g"}


def acknowledge_prefix_wildcards(role: ServiceRole, *prefixes: str) -> None:
    acknowledge(
        role.policy,
        "AwsSolutions-IAM5",
        "Object ARNs end in '<prefix>*' because the function works on any object under its own prefix "
        f"({', '.join(prefixes)}) of the pipeline bucket, and nothing outside it.",
        applies_to=[_object_arn_pattern(prefix) for prefix in prefixes],
    )


class PipelineStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        keys = PipelineKeys(self, "Keys")
        log_groups = LogGroups(retention=config.log_retention(), key=keys.logs)
        storage = PipelineBucket(self, "Storage", log_retention_days=config.log_retention_days)
        bucket = storage.bucket
        topics = NotificationTopics(self, "Notifications", key=keys.messages, email=config.notification_email)
        network = PipelineNetwork(
            self, "Network", bucket=bucket, log_groups=log_groups, availability_zones=config.availability_zones
        )
        tasks = TaskFunctions(
            self,
            "Tasks",
            log_groups=log_groups,
            vpc=network.vpc,
            subnets=network.subnets,
            security_group=network.functions_security_group,
            environment={
                "Validate": {
                    "BUCKET_NAME": bucket.bucket_name,
                    "MAX_OBJECT_BYTES": str(config.max_object_bytes),
                },
                **{
                    name: {
                        "MAX_REJECT_RATIO": str(config.max_reject_ratio),
                        "NULL_MARKERS": config.null_markers,
                        "MAX_DECOMPRESSED_BYTES": str(config.max_decompressed_bytes),
                        "MAX_COMPRESSION_RATIO": str(config.max_compression_ratio),
                    }
                    for name in TRANSFORMS
                },
                # The parts convert and are counted with the single pass's settings.
                **{
                    name: {
                        "MAX_REJECT_RATIO": str(config.max_reject_ratio),
                        "NULL_MARKERS": config.null_markers,
                    }
                    for name in ("TransformRange", "CommitRanges")
                },
                # A gzip source decompresses to at most what the single pass allows it (the context's value).
                "InflateSource": {"MAX_DECOMPRESSED_BYTES": str(config.max_decompressed_bytes)},
                "Fetch": config.split_environment(),
                "PlanRanges": {
                    **config.split_environment(),
                    "MAX_REJECT_RATIO": str(config.max_reject_ratio),
                    "NULL_MARKERS": config.null_markers,
                },
                "Notify": {"NOTIFICATION_TOPIC_ARN": topics.runs.topic_arn},
            },
        )
        self._grant_data_access(tasks, bucket)
        notify = tasks.roles["Notify"]
        notify.allow(sid="PublishSuccess", actions=["sns:Publish"], resources=[topics.runs.topic_arn])
        notify.allow(
            sid="EncryptSuccess", actions=["kms:Decrypt", "kms:GenerateDataKey*"], resources=[keys.messages.key_arn]
        )
        acknowledge(
            notify.policy,
            "AwsSolutions-IAM5",
            "kms:GenerateDataKey* on the messages key is what SNS needs to encrypt a published message.",
            applies_to=["Action::kms:GenerateDataKey*"],
        )

        ledger = SourceLedger(self, "Ledger")
        workflow = PipelineStateMachine(
            self,
            "Workflow",
            aliases=tasks.aliases,
            topic=topics.runs,
            topic_key=keys.messages,
            log_groups=log_groups,
            more_substitutions={
                TABLE_PLACEHOLDER: ledger.table.table_name,
                CODE_VERSION_PLACEHOLDER: code_version(tasks.functions),
            },
        )
        workflow.allow_distributed_maps(bucket, SPLIT_ITEMS)
        workflow.role.allow(sid="RecordInLedger", actions=["dynamodb:UpdateItem"], resources=[ledger.table.table_arn])
        workflow.role.allow(
            sid="FindTheLastSucceededVersion", actions=["dynamodb:Query"], resources=[ledger.index_arn(BY_SUCCEEDED)]
        )
        machine = workflow.state_machine

        dead_letters = DeliveryDeadLetterQueue(self, "UndeliveredEvents", key=keys.messages).queue
        S3Trigger(self, "S3Trigger", bucket=bucket, state_machine=machine, dead_letter_queue=dead_letters)
        recorder = LedgerFailureRecorder(
            self,
            "LedgerFailures",
            ledger=ledger,
            pipeline=machine,
            log_groups=log_groups,
            dead_letter_queue=dead_letters,
        )
        backfill = PipelineBackfill(
            self, "Backfill", bucket=bucket, ledger=ledger, pipeline=machine, log_groups=log_groups
        )
        api = PipelineApi(
            self,
            "Api",
            state_machine=machine,
            bucket=bucket,
            log_groups=log_groups,
            throttling=ApiThrottling.from_context(self.node),
            cloud_watch_role=config.api_gateway_cloud_watch_role,
        )
        alerts = PipelineAlerts(
            self,
            "Alerts",
            state_machine=machine,
            state_machine_logs=workflow.log_group,
            other_state_machines={
                "LedgerFailureRecorder": recorder.state_machine,
                "Backfill": backfill.state_machine,
            },
            functions=tasks.functions,
            runs_topic=topics.runs,
            alarms_topic=topics.alarms,
            dead_letter_queue=dead_letters,
        )

        routes = [subnet.node.find_child("RouteTableAssociation") for subnet in network.vpc.isolated_subnets]
        for name, function in tasks.functions.items():
            set_depends_on(function, [tasks.roles[name].policy, *routes])
        set_depends_on(machine, [workflow.role.policy])

        operators = OperatorRole(
            self,
            "Operations",
            state_machine=machine,
            bucket=bucket,
            topics=[topics.runs, topics.alarms],
            alarms=alerts.alarms,
            api=api.rest_api,
        )
        ledger_resources = LedgerResources(
            ledger=ledger,
            bucket=bucket,
            pipeline=machine,
            backfill=backfill.state_machine,
            dead_letters=dead_letters,
            dead_letters_key=keys.messages,
        )
        grant_ledger_reads(operators.role, ledger_resources)
        ledger_operators = LedgerOperatorRole(self, "LedgerOperations", resources=ledger_resources)
        CfnOutput(self, OUTPUT_LEDGER_OPERATOR_ROLE, value=ledger_operators.role.mutable_role.role_arn)
        CfnOutput(self, OUTPUT_OPERATOR_ROLE, value=operators.role.mutable_role.role_arn)
        CfnOutput(self, OUTPUT_BUCKET, value=bucket.bucket_name)
        CfnOutput(self, OUTPUT_STATE_MACHINE, value=machine.state_machine_arn)
        CfnOutput(self, OUTPUT_TOPIC, value=topics.runs.topic_arn)
        CfnOutput(self, OUTPUT_ALARM_TOPIC, value=topics.alarms.topic_arn)
        CfnOutput(self, OUTPUT_DASHBOARD, value=alerts.dashboard.dashboard_name)
        CfnOutput(self, OUTPUT_API_URL, value=api.rest_api.url)
        CfnOutput(self, OUTPUT_API_ID, value=api.rest_api.rest_api_id)
        CfnOutput(self, OUTPUT_LEDGER_TABLE, value=ledger.table.table_name)
        CfnOutput(self, OUTPUT_BACKFILL_STATE_MACHINE, value=backfill.state_machine.state_machine_arn)
        CfnOutput(self, OUTPUT_UNDELIVERED_QUEUE, value=dead_letters.queue_url)

    @staticmethod
    def _grant_data_access(tasks: TaskFunctions, bucket: s3.IBucket) -> None:
        roles = tasks.roles
        # Sources: incoming/ (S3-triggered) and uploads/ (submitted through the API).
        for name in ("Validate", "Fetch", "Checksum", *TRANSFORMS):
            for prefix in SOURCE_PREFIXES:
                allow_objects(roles[name], bucket, prefix, READ)
                allow_listing(roles[name], bucket, prefix)
        for name in ("Validate", "Checksum"):
            acknowledge_prefix_wildcards(roles[name], *SOURCE_PREFIXES)
        # Fetch stages a CSV source's dialect for the transform, which stages the column summaries:
        # one entry per column, too many for the state.
        allow_objects(roles["Fetch"], bucket, STAGING_PREFIX, ["s3:PutObject"])
        acknowledge_prefix_wildcards(roles["Fetch"], *SOURCE_PREFIXES, STAGING_PREFIX)
        for name in TRANSFORMS:
            allow_objects(roles[name], bucket, STAGING_PREFIX, ["s3:GetObject", *WRITE])
            allow_listing(roles[name], bucket, STAGING_PREFIX)
            acknowledge_prefix_wildcards(roles[name], *SOURCE_PREFIXES, STAGING_PREFIX)
        # WriteParquet reads the staged JSON Lines and writes the Parquet file next to them.
        allow_objects(roles["WriteParquet"], bucket, STAGING_PREFIX, ["s3:GetObject", *WRITE])
        allow_listing(roles["WriteParquet"], bucket, STAGING_PREFIX)
        acknowledge_prefix_wildcards(roles["WriteParquet"], STAGING_PREFIX)
        allow_objects(roles["WriteOutput"], bucket, STAGING_PREFIX, ["s3:GetObject"])
        allow_listing(roles["WriteOutput"], bucket, STAGING_PREFIX)
        allow_objects(roles["WriteOutput"], bucket, PROCESSED_PREFIX, WRITE)
        # The manifest it replaces: read first, so that a later run's output is never replaced.
        allow_objects(roles["WriteOutput"], bucket, PROCESSED_PREFIX, ["s3:GetObject"])
        allow_listing(roles["WriteOutput"], bucket, PROCESSED_PREFIX)
        acknowledge_prefix_wildcards(roles["WriteOutput"], STAGING_PREFIX, PROCESSED_PREFIX)
        # The split: every step reads what the one before staged under the run's staging/ prefix,
        # and writes there (multipart uploads, aborted on failure); InflateSource, PlanRanges and
        # the range steps read the source (or its decompressed copy, pinned by version).
        for name in ("InflateSource", "PlanRanges", "ScanRange", "TransformRange"):
            for prefix in SOURCE_PREFIXES:
                allow_objects(roles[name], bucket, prefix, READ)
                allow_listing(roles[name], bucket, prefix)
        for name in ("InflateSource", "PlanRanges", "ScanRange", "CutRanges", "TransformRange", "CommitRanges"):
            allow_objects(roles[name], bucket, STAGING_PREFIX, [*READ, *WRITE])
            allow_listing(roles[name], bucket, STAGING_PREFIX)
        for name in ("InflateSource", "PlanRanges", "ScanRange", "TransformRange"):
            acknowledge_prefix_wildcards(roles[name], *SOURCE_PREFIXES, STAGING_PREFIX)
        for name in ("CutRanges", "CommitRanges"):
            acknowledge_prefix_wildcards(roles[name], STAGING_PREFIX)
        # The notification marker: written once with If-None-Match, read back on a retry.
        allow_objects(roles["Notify"], bucket, PROCESSED_PREFIX, ["s3:PutObject", "s3:GetObject"])
        allow_listing(roles["Notify"], bucket, PROCESSED_PREFIX)
        acknowledge_prefix_wildcards(roles["Notify"], PROCESSED_PREFIX)
