"""The Standard state machine, built from ``workflow/pipeline.asl.json``, and its role."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
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
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition_text()),
            definition_substitutions=substitutions,
            role=self.role.role,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_groups.create(self, "Logs"),
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
        )
