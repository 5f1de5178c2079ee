"""The Standard state machine, built from ``workflow/pipeline.asl.json``, and its role."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.log_groups import LogGroups
from stacks.roles import ServiceRole
from workflow.definition import TASK_FUNCTIONS, TOPIC_PLACEHOLDER, definition_text

# Vended log delivery and X-Ray have no resource-level permissions.
LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
]
TRACING_ACTIONS = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
]


class PipelineStateMachine(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        aliases: dict[str, lambda_.Alias],
        topic: sns.ITopic,
        topic_key: kms.IKey,
        log_groups: LogGroups,
        more_substitutions: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        stack = Stack.of(self)
        # Named, so that the role can name the state machine and its Map Runs' child executions
        # without a cycle (the role would otherwise depend on the state machine it belongs to).
        self.name = f"{stack.stack_name}-Pipeline"
        self._arn_prefix = f"arn:{stack.partition}:states:{stack.region}:{stack.account}"
        substitutions = {task.placeholder: aliases[task.name].function_arn for task in TASK_FUNCTIONS}
        substitutions[TOPIC_PLACEHOLDER] = topic.topic_arn
        substitutions.update(more_substitutions or {})
        self.role = ServiceRole(self, "Role", service="states.amazonaws.com", description="Runs the pipeline workflow")
        self.role.allow(
            sid="InvokeTaskAliases",
            actions=["lambda:InvokeFunction"],
            resources=[alias.function_arn for alias in aliases.values()],
        )
        self.role.allow(sid="PublishRejections", actions=["sns:Publish"], resources=[topic.topic_arn])
        self.role.allow(
            sid="EncryptRejections", actions=["kms:Decrypt", "kms:GenerateDataKey*"], resources=[topic_key.key_arn]
        )
        self.role.allow(sid="LogDelivery", actions=LOG_DELIVERY_ACTIONS, resources=["*"])
        self.role.allow(sid="Tracing", actions=TRACING_ACTIONS, resources=["*"])
        acknowledge(
            self.role.policy,
            "AwsSolutions-IAM5",
            "CloudWatch Logs delivery and X-Ray actions have no resource-level permissions; "
            "kms:GenerateDataKey* is what SNS needs to encrypt NotifyRejected's message.",
            applies_to=["Resource::*", "Action::kms:GenerateDataKey*"],
        )
        # Step Functions writes the execution history here; the alerts count rejections from it.
        self.log_group = log_groups.for_state_machine(self, "Logs", purpose="workflow")
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition_text()),
            definition_substitutions=substitutions,
            role=self.role.role,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
        )

    def allow_distributed_maps(self, bucket: s3.IBucket, item_keys: list[str]) -> None:
        """What the definition's Distributed Maps need of the role: start their child executions
        (of this state machine), follow and stop them, and read their items from ``item_keys``
        (https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html)."""
        self.role.allow(
            sid="RunMapChildren",
            actions=["states:StartExecution"],
            resources=[f"{self._arn_prefix}:stateMachine:{self.name}"],
        )
        self.role.allow(
            sid="FollowMapChildren",
            actions=["states:DescribeExecution", "states:StopExecution"],
            resources=[f"{self._arn_prefix}:execution:{self.name}/*"],
        )
        # A redrive of a run that failed at a Map redrives the Map Run's failed children, as this role
        # (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-map-run.html, its IAM section).
        self.role.allow(
            sid="RedriveMapChildren",
            actions=["states:RedriveExecution"],
            resources=[f"{self._arn_prefix}:execution:{self.name}/*"],
        )
        self.role.allow(
            sid="ReadMapItems", actions=["s3:GetObject"], resources=[bucket.arn_for_objects(key) for key in item_keys]
        )
        acknowledge(
            self.role.policy,
            "AwsSolutions-IAM5",
            "A Map Run's child executions are named by Step Functions under this state machine's name "
            "(execution:<name>/<Map Run label>:<id>); the Map items are two fixed files under each run's "
            "staging folder (staging/<run>/split/), which the wildcard stands for.",
            applies_to=[
                {"regex": "/^Resource::arn:<AWS::Partition>:states:[^:]*:<AWS::AccountId>:execution:.*$/g"},
                {"regex": "/^Resource::<.*Bucket.*\\.Arn>\\/staging\\/\\*\\/split\\/.*\\.json$/g"},
            ],
        )
