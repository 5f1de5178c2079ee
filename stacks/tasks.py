"""The task functions: one Lambda per workflow step, each behind a SnapStart alias."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from aws_cdk import Annotations, Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.bundling import tasks_code
from stacks.constants import METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME
from workflow.definition import TASK_FUNCTIONS, TaskFunction

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
TIMEOUT = Duration.minutes(5)
ALIAS_NAME = "live"


def powertools_layer_parameter() -> str:
    """AWS's public SSM parameter naming the Powertools layer of the version this project pins."""
    return f"/aws/service/powertools/python/{ARCHITECTURE.name}/{RUNTIME.name}/{version('aws-lambda-powertools')}"


class TaskFunctions(Construct):
    """Creates every function of ``TASK_FUNCTIONS``; ``aliases`` maps step name to the alias to invoke."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: dict[str, dict[str, str]],
        log_retention: logs.RetentionDays,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        code = tasks_code(RUNTIME, ARCHITECTURE)
        layer_arn = ssm.StringParameter.value_for_string_parameter(self, powertools_layer_parameter())
        powertools = lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", layer_arn)
        self.functions: dict[str, lambda_.Function] = {}
        self.aliases: dict[str, lambda_.Alias] = {}
        for task in TASK_FUNCTIONS:
            function = self._function(task, code, powertools, environment.get(task.name, {}), log_retention)
            self.functions[task.name] = function
            # SnapStart snapshots published versions only; the workflow invokes this alias, never $LATEST.
            self.aliases[task.name] = lambda_.Alias(
                self, f"{task.name}Alias", alias_name=ALIAS_NAME, version=function.current_version
            )

    def _function(
        self,
        task: TaskFunction,
        code: lambda_.Code,
        powertools: lambda_.ILayerVersion,
        environment: dict[str, str],
        log_retention: logs.RetentionDays,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{task.name}Logs", retention=log_retention)
        function = lambda_.Function(
            self,
            task.name,
            description=task.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=task.handler,
            code=code,
            memory_size=task.memory_mb,
            timeout=TIMEOUT,
            layers=[powertools],
            tracing=lambda_.Tracing.ACTIVE,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS,
            log_group=log_group,
            environment={
                "POWERTOOLS_SERVICE_NAME": POWERTOOLS_SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                **environment,
            },
        )
        Annotations.of(function).acknowledge_warning(
            "@aws-cdk/aws-lambda:snapStartRequirePublish",
            "Every function publishes current_version behind an alias, which is what the workflow invokes.",
        )
        return function
