"""The ledger of sources (``workflow/ledger.py``): its table, and the recorder of failed runs.

The table: on demand (runs come in bursts: a backfill, a drop of files), point-in-time recovery
(35 days of restorable history), deletion protection and a retained resource (the ledger is the
record of what happened to every file; losing it loses the answer), encrypted at rest with the
key DynamoDB owns. Not a customer-managed key: the ledger holds metadata about the bucket's
objects (keys, sizes, counts, execution ARNs), and the bucket itself is encrypted with S3's own
key (SSE-S3) by the owners' choice; a KMS key would add a key policy and grants to four roles,
and per-request KMS calls, to protect an index less sensitive than the data it indexes.

The failure recorder: a pipeline run that fails on a system error is not caught (so that it stays
redrivable) and so cannot write its own end. Step Functions' status-change event can: an
EventBridge rule starts a small Express workflow (``workflow/ledger_failures.asl.json``) that
finds the run's item and records FAILED. EventBridge has no DynamoDB target, and its API
destinations cannot sign AWS requests, so a workflow (no Lambda) is the smallest direct path;
Express, because each run is one query and one or two writes, priced per request rather than per
transition. A lost event is what ``pipeline reconcile`` finds: an item RUNNING past the workflow's
timeout.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, cast

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.compliance import acknowledge, set_depends_on, skip_checkov
from stacks.log_groups import LogGroups
from stacks.roles import ServiceRole
from stacks.triggers import DELIVERY_MAX_AGE, DELIVERY_RETRIES
from stacks.workflow import LOG_DELIVERY_ACTIONS, TRACING_ACTIONS
from tasks.common.layout import INCOMING_PREFIX
from workflow.definition import FAILURE_RECORDER_PATH, definition_text
from workflow.executions import ABORTED, FAILED, STATUS_CHANGE, TIMED_OUT
from workflow.ledger import (
    BY_DATASET,
    BY_RUN,
    BY_STATUS,
    GLOBAL_INDEXES,
    KEYS_ONLY_INDEXES,
    LOCAL_INDEXES,
    PARTITION_KEY,
    SORT_KEY,
    TABLE_PLACEHOLDER,
)

STRING = dynamodb.AttributeType.STRING


def code_version(functions: dict[str, lambda_.Function]) -> str:
    """The functions' code, named by their assets' hashes: what the ledger records with each output.

    The asset's object key is the hash of the files it was built from, fixed at synth, so two
    deployments of the same code record the same version and any change of code records another.
    """
    keys = sorted({str(cast(Any, function.node.default_child).code.s3_key) for function in functions.values()})
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


class SourceLedger(Construct):
    """The table; ``index_arn(name)`` is the ARN a policy names to query one of its indexes."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            encryption=dynamodb.TableEncryption.DEFAULT,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for name, (partition, sort) in GLOBAL_INDEXES.items():
            self.table.add_global_secondary_index(
                index_name=name,
                partition_key=dynamodb.Attribute(name=partition, type=STRING),
                sort_key=dynamodb.Attribute(name=sort, type=STRING) if sort else None,
                projection_type=(
                    dynamodb.ProjectionType.KEYS_ONLY if name in KEYS_ONLY_INDEXES else dynamodb.ProjectionType.ALL
                ),
            )
        for name, sort in LOCAL_INDEXES.items():
            self.table.add_local_secondary_index(index_name=name, sort_key=dynamodb.Attribute(name=sort, type=STRING))
        owned_key = (
            "Encrypted with the key DynamoDB owns: the ledger indexes objects of a bucket encrypted with S3's own "
            "key by the owners' choice; a KMS key would add grants to four roles to protect metadata."
        )
        skip_checkov(self.table, "CKV_AWS_119", owned_key)
        acknowledge(
            self.table,
            "NIST.800.53.R5-DynamoDBInBackupPlan",
            "Point-in-time recovery restores any second of the last 35 days, and the table is retained with "
            "deletion protection; the ledger can also be rebuilt by reconcile from the bucket and the executions.",
        )

    def index_arn(self, name: str) -> str:
        return f"{self.table.table_arn}/index/{name}"


class LedgerFailureRecorder(Construct):
    """The Express workflow that records failed runs, and the rule that starts it for each."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ledger: SourceLedger,
        pipeline: sfn.IStateMachine,
        log_groups: LogGroups,
        dead_letter_queue: sqs.IQueue,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.role = ServiceRole(
            self, "Role", service="states.amazonaws.com", description="Records failed pipeline runs in the ledger"
        )
        self.role.allow(sid="FindTheRunsItem", actions=["dynamodb:Query"], resources=[ledger.index_arn(BY_RUN)])
        self.role.allow(sid="RecordTheFailure", actions=["dynamodb:UpdateItem"], resources=[ledger.table.table_arn])
        self.role.allow(sid="LogDelivery", actions=LOG_DELIVERY_ACTIONS, resources=["*"])
        self.role.allow(sid="Tracing", actions=TRACING_ACTIONS, resources=["*"])
        acknowledge(
            self.role.policy,
            "AwsSolutions-IAM5",
            "CloudWatch Logs delivery and X-Ray actions have no resource-level permissions.",
            applies_to=["Resource::*"],
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.EXPRESS,
            definition_body=sfn.DefinitionBody.from_string(definition_text(FAILURE_RECORDER_PATH)),
            definition_substitutions={TABLE_PLACEHOLDER: ledger.table.table_name},
            role=self.role.role,
            tracing_enabled=True,
            timeout=Duration.minutes(5),
            logs=sfn.LogOptions(
                destination=log_groups.for_state_machine(self, "Logs", purpose="ledger-failures"),
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
        )
        set_depends_on(self.state_machine, [self.role.policy])
        self.rule = events.Rule(
            self,
            "RunEndedBadly",
            description="Record pipeline runs that ended FAILED, TIMED_OUT or ABORTED in the ledger",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=[STATUS_CHANGE],
                detail={"status": [FAILED, TIMED_OUT, ABORTED], "stateMachineArn": [pipeline.state_machine_arn]},
            ),
        )
        self.events_role = ServiceRole(
            self, "StartRecorder", service="events.amazonaws.com", description="Starts the ledger's failure recorder"
        )
        self.events_role.allow(actions=["states:StartExecution"], resources=[self.state_machine.state_machine_arn])
        self.rule.add_target(
            targets.SfnStateMachine(
                self.state_machine,
                role=self.events_role.role,
                dead_letter_queue=dead_letter_queue,
                retry_attempts=DELIVERY_RETRIES,
                max_event_age=DELIVERY_MAX_AGE,
            )
        )


@dataclass(frozen=True)
class LedgerResources:
    """What the operators' commands reach: the ledger, the bucket, both state machines, the dead-letter queue."""

    ledger: SourceLedger
    bucket: s3.IBucket
    pipeline: sfn.StateMachine
    backfill: sfn.StateMachine
    dead_letters: sqs.IQueue
    dead_letters_key: kms.IKey


def grant_ledger_reads(role: ServiceRole, resources: LedgerResources) -> None:
    """What ``pipeline sources``, ``reconcile`` (without ``--fix``) and ``backfill --show`` read."""
    stack = Stack.of(role)
    arn_prefix = f"arn:{stack.partition}:states:{stack.region}:{stack.account}"
    backfill = resources.backfill.state_machine_name
    role.allow(
        sid="ReadTheLedger",
        actions=["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Scan", "dynamodb:Query"],
        resources=[
            resources.ledger.table.table_arn,
            *(resources.ledger.index_arn(name) for name in (BY_STATUS, BY_DATASET)),
        ],
    )
    role.allow(
        sid="ListSourceVersions",
        actions=["s3:ListBucketVersions"],
        resources=[resources.bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{INCOMING_PREFIX}*"]}},
    )
    role.allow(
        sid="FollowBackfills",
        actions=["states:DescribeExecution", "states:ListMapRuns"],
        resources=[f"{arn_prefix}:execution:{backfill}:*"],
    )
    role.allow(
        sid="FollowBackfillMapRuns", actions=["states:DescribeMapRun"], resources=[f"{arn_prefix}:mapRun:{backfill}/*"]
    )
    role.allow(
        sid="ReadUndeliveredEvents",
        actions=["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
        resources=[resources.dead_letters.queue_arn],
    )
    role.allow(sid="DecryptUndeliveredEvents", actions=["kms:Decrypt"], resources=[resources.dead_letters_key.key_arn])
    acknowledge(
        role.policy,
        "AwsSolutions-IAM5",
        "Backfills and their Map Runs are named per run: the wildcards cover the backfill state machine's "
        "executions and Map Runs, no others.",
        applies_to=[
            {"regex": "/^Resource::arn:<AWS::Partition>:states:[^:]*:<AWS::AccountId>:(execution|mapRun):.*$/g"}
        ],
    )


class LedgerOperatorRole(Construct):
    """Assumable by this account's principals: ``pipeline replay``, ``backfill`` and ``reconcile --fix``,
    which start runs; the operator role (inspect and redrive) may not."""

    def __init__(self, scope: Construct, construct_id: str, *, resources: LedgerResources, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.role = ServiceRole(
            self,
            "Operators",
            principal=iam.AccountRootPrincipal(),
            description="Backfills, replays and reconciles pipeline sources",
        )
        grant_ledger_reads(self.role, resources)
        self.role.allow(
            sid="StartRunsAndBackfills",
            actions=["states:StartExecution"],
            resources=[resources.pipeline.state_machine_arn, resources.backfill.state_machine_arn],
        )
        self.role.allow(
            sid="DescribeThePipeline",
            actions=["states:DescribeStateMachine"],
            resources=[resources.pipeline.state_machine_arn],
        )
        self.role.allow(
            sid="DeleteResentEvents", actions=["sqs:DeleteMessage"], resources=[resources.dead_letters.queue_arn]
        )
        self.role.allow(
            sid="FindTheStackOutputs", actions=["cloudformation:DescribeStacks"], resources=[Stack.of(self).stack_id]
        )
