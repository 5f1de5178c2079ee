"""The task functions: one Lambda per workflow step, each with its own role, behind a SnapStart alias."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Duration, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.bundling import REQUIREMENTS, TASKS_DIR, tasks_code
from stacks.compliance import acknowledge, skip_checkov
from stacks.log_groups import LogGroups
from stacks.roles import ServiceRole
from workflow.definition import TASK_FUNCTIONS, TaskFunction
from workflow.deployment import METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
TIMEOUT = Duration.minutes(5)
ALIAS_NAME = "live"

# The only statements whose resource must be "*": these APIs have no resource-level permissions.
XRAY_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
VPC_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


@dataclass(frozen=True, slots=True)
class DuckDbLimits:
    """DuckDB's share of its function, which the handler reads as ``WriteParquetSettings``."""

    memory_mb: int
    threads: int

    def environment(self) -> dict[str, str]:
        return {"DUCKDB_MEMORY_MB": str(self.memory_mb), "DUCKDB_THREADS": str(self.threads)}


@dataclass(frozen=True, slots=True)
class Resources:
    """What one step's function is given to run: memory (and with it CPU), /tmp, SnapStart, packages."""

    memory_mb: int
    ephemeral_storage_mb: int = 512
    snap_start: bool = True
    requirements: Path = REQUIREMENTS
    duckdb: DuckDbLimits | None = None

    def environment(self) -> dict[str, str]:
        """The variables that tell the handler its share of these resources."""
        return self.duckdb.environment() if self.duckdb else {}


# 1,769 MB is one full vCPU: the transforms are CPU bound, the other steps mostly wait on S3.
RESOURCES: dict[str, Resources] = {
    "Validate": Resources(memory_mb=256),
    "Fetch": Resources(memory_mb=256),
    # Reads the whole object once: network-bound, and Lambda's network share grows with memory.
    "Checksum": Resources(memory_mb=1024),
    "TransformCsv": Resources(memory_mb=1769),
    "TransformJson": Resources(memory_mb=1769),
    "TransformJsonl": Resources(memory_mb=1769),
    # The split (issue 14). Decompression and the part conversions are CPU bound, like the
    # transforms; a scan reads its range at network speed (it scans ten times faster than a
    # transform), like Checksum; planning, cutting and the commit's server-side copies move little.
    "InflateSource": Resources(memory_mb=1769),
    "PlanRanges": Resources(memory_mb=512),
    "ScanRange": Resources(memory_mb=1024),
    "CutRanges": Resources(memory_mb=256),
    "TransformRange": Resources(memory_mb=1769),
    # Up to 8 parts of at most 5 MiB in memory at once when small parts are uploaded again.
    "CommitRanges": Resources(memory_mb=512),
    # 3,008 MB is about 1.7 vCPU: DuckDB gets 2 GB and two threads, the rest is for Python, boto3
    # and the upload buffer; past its limit DuckDB spills to /tmp instead of failing. The staged
    # JSON Lines and the Parquet file made from them both sit in /tmp too, so it gets Lambda's
    # largest, 10 GB. SnapStart allows 512 MB of /tmp at most, so this function starts cold
    # without it: the cold start (DuckDB's import) is small next to the conversion. DuckDB (about
    # 64 MB unzipped for arm64) ships only where it runs: an asset of its own.
    "WriteParquet": Resources(
        memory_mb=3008,
        ephemeral_storage_mb=10240,
        snap_start=False,
        requirements=TASKS_DIR / "write_parquet" / "requirements.txt",
        duckdb=DuckDbLimits(memory_mb=2048, threads=2),
    ),
    "WriteOutput": Resources(memory_mb=256),
    "Notify": Resources(memory_mb=256),
}


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
        log_groups: LogGroups,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # One asset per requirements file: functions that need the same packages share it.
        codes: dict[Path, lambda_.Code] = {}
        layer_arn = ssm.StringParameter.value_for_string_parameter(self, powertools_layer_parameter())
        powertools = lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", layer_arn)
        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, ServiceRole] = {}
        self.aliases: dict[str, lambda_.Alias] = {}
        for task in TASK_FUNCTIONS:
            log_group = log_groups.create(self, f"{task.name}Logs")
            role = self._role(task, log_group)
            resources = RESOURCES[task.name]
            if resources.requirements not in codes:
                codes[resources.requirements] = tasks_code(RUNTIME, ARCHITECTURE, requirements=resources.requirements)
            function = lambda_.Function(
                self,
                task.name,
                description=task.description,
                runtime=RUNTIME,
                architecture=ARCHITECTURE,
                handler=task.handler,
                code=codes[resources.requirements],
                memory_size=resources.memory_mb,
                ephemeral_storage_size=Size.mebibytes(resources.ephemeral_storage_mb),
                timeout=TIMEOUT,
                role=role.role,
                layers=[powertools],
                tracing=lambda_.Tracing.ACTIVE,
                snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if resources.snap_start else None,
                log_group=log_group,
                vpc=vpc,
                vpc_subnets=subnets,
                security_groups=[security_group],
                environment={
                    # A crash in native code (SIGSEGV in a C extension) then leaves every thread's
                    # Python stack in the function's log; without it Lambda logs only the signal.
                    "PYTHONFAULTHANDLER": "1",
                    "POWERTOOLS_SERVICE_NAME": POWERTOOLS_SERVICE_NAME,
                    "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                    **resources.environment(),
                    **environment.get(task.name, {}),
                },
            )
            self._record_exceptions(function, snap_start=resources.snap_start)
            self.functions[task.name] = function
            self.roles[task.name] = role
            # SnapStart snapshots published versions only; the workflow invokes this alias, never $LATEST
            # (also where SnapStart is off, so that every step runs a version that a deployment fixed).
            self.aliases[task.name] = lambda_.Alias(
                self, f"{task.name}Alias", alias_name=ALIAS_NAME, version=function.current_version
            )

    def _role(self, task: TaskFunction, log_group: logs.ILogGroup) -> ServiceRole:
        """The function's own role: its log group, X-Ray, its network interfaces; the stack adds data access."""
        role = ServiceRole(
            self, f"{task.name}Role", service="lambda.amazonaws.com", description=f"Runs the {task.name} step"
        )
        role.allow(
            sid="OwnLogGroup",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group.log_group_arn],
        )
        role.allow(sid="Tracing", actions=XRAY_ACTIONS, resources=["*"])
        role.allow(sid="VpcNetworkInterfaces", actions=VPC_ACTIONS, resources=["*"])
        acknowledge(
            role.policy,
            "AwsSolutions-IAM5",
            "X-Ray PutTraceSegments/PutTelemetryRecords and the EC2 network-interface actions Lambda needs "
            "in a VPC have no resource-level permissions; every other statement names its resources.",
            applies_to=["Resource::*"],
        )
        skip_checkov(
            role.policy,
            "CKV_AWS_111",
            "The unconstrained writes are X-Ray PutTraceSegments/PutTelemetryRecords and the network-interface "
            "actions of a VPC function, which have no resource-level permissions.",
        )
        return role

    @staticmethod
    def _record_exceptions(function: lambda_.Function, *, snap_start: bool) -> None:
        if snap_start:
            Annotations.of(function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                "Every function publishes current_version behind an alias, which is what the workflow invokes.",
            )
        for rules, reason in FUNCTION_EXCEPTIONS:
            for rule in rules:
                acknowledge(function, rule, reason)
        for check, reason in FUNCTION_CHECKOV_SKIPS:
            skip_checkov(function, check, reason)


_RUNTIME_REASON = f"{RUNTIME.name} is the newest runtime for which this project pins and tests the Powertools layer."
_SYNC_REASON = (
    "Invoked synchronously by Step Functions, which retries and records failures; a dead-letter queue "
    "or failure destination applies to asynchronous invocations only."
)
_CONCURRENCY_REASON = (
    "No reserved concurrency: at 100,000 runs a month the account pool suffices, and a cap would turn "
    "bursts into throttles (which the workflow would retry, but slower)."
)
FUNCTION_EXCEPTIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("AwsSolutions-L1", "Serverless-LambdaLatestVersion"), _RUNTIME_REASON),
    (
        ("Serverless-LambdaDLQ", "Serverless-LambdaAsyncFailureDestination", "NIST.800.53.R5-LambdaDLQ"),
        _SYNC_REASON,
    ),
    (("NIST.800.53.R5-LambdaConcurrency",), _CONCURRENCY_REASON),
)
FUNCTION_CHECKOV_SKIPS: tuple[tuple[str, str], ...] = (
    ("CKV_AWS_116", _SYNC_REASON),
    ("CKV_AWS_115", _CONCURRENCY_REASON),
    ("CKV_AWS_173", "The environment holds only names and limits (bucket, topic ARN, thresholds), no secrets."),
)
