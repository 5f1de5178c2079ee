"""The Standard state machine, built from ``workflow/pipeline.asl.json``."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from workflow.definition import TASK_FUNCTIONS, TOPIC_PLACEHOLDER, definition_text


class PipelineStateMachine(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        aliases: dict[str, lambda_.Alias],
        topic: sns.ITopic,
        log_retention: logs.RetentionDays,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        substitutions = {task.placeholder: aliases[task.name].function_arn for task in TASK_FUNCTIONS}
        substitutions[TOPIC_PLACEHOLDER] = topic.topic_arn
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition_text()),
            definition_substitutions=substitutions,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(self, "Logs", retention=log_retention),
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
        )
