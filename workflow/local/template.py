"""Read what the local environment needs from the synthesized CloudFormation template.

Only what runs is read: the bucket, the topic, the functions (handler, environment), the
aliases the workflow invokes, the state machine (definition and substitutions) and the
EventBridge rules (pattern, targets, input transformers); besides the pipeline's state machine,
the others (the ledger's failure recorder, the backfill) and the DynamoDB tables (the ledger); the
template itself is kept for the readers of whole concerns (the alarms: ``alarm_model.py``, the
policies: ``iam/``). References between them are resolved to the local resources' names and ARNs,
as CloudFormation would resolve them on deploy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflow.deployment import (
    LOCAL_ACCOUNT,
    OUTPUT_ALARM_TOPIC,
    OUTPUT_BUCKET,
    OUTPUT_STATE_MACHINE,
    OUTPUT_TOPIC,
    REGION,
)

# Lambda's defaults when the template does not set them (AWS::Lambda::Function):
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-function.html
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128
DEFAULT_EPHEMERAL_STORAGE_MB = 512


# Lambda's rules for a function's environment variables: each key starts with a letter, has two
# characters or more, only letters, digits and underscores, and is not one Lambda reserves; the JSON
# of the variables (names, values, quotes, commas and brackets) is at most 4,096 bytes. Else
# CreateFunction (so the deploy) and UpdateFunctionConfiguration fail with InvalidParameterValueException.
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html,
# https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-deployment.html
LAMBDA_ENVIRONMENT_BYTES = 4096
_ENVIRONMENT_KEY = re.compile(r"[a-zA-Z][a-zA-Z0-9_]+")
LAMBDA_RESERVED_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "TZ",
    }
)


class TemplateError(ValueError):
    """The template lacks something the local environment needs, or uses an unsupported intrinsic."""


class InvalidEnvironment(TemplateError):
    """A function's environment variables break Lambda's rules: AWS would not deploy the template
    (CreateFunction), nor change a deployed function's environment (UpdateFunctionConfiguration)."""


class EnvironmentTooLarge(InvalidEnvironment):
    """A function's environment variables exceed Lambda's 4 KB."""


def check_environment(function: str, variables: dict[str, str]) -> None:
    """``InvalidEnvironment`` when Lambda would refuse ``variables`` as a function's environment.

    The size is measured on the local values, which undercount: a reference resolves to a local
    name, and the name CloudFormation generates adds the stack's name and a suffix of 13 characters
    (about 36 more per reference to a topic, for instance). A template within that margin of 4 KB
    passes here and may fail on AWS; today's largest environment is 324 bytes.
    """
    reserved = sorted(LAMBDA_RESERVED_KEYS.intersection(variables))
    if reserved:
        raise InvalidEnvironment(
            f"{function}: Lambda was unable to configure your environment variables because the environment "
            f"variables you have provided contains reserved keys that are currently not supported for "
            f"modification. Reserved keys used in this request: {', '.join(reserved)}"
        )
    malformed = sorted(key for key in variables if not _ENVIRONMENT_KEY.fullmatch(key))
    if malformed:
        raise InvalidEnvironment(
            f"{function}: environment variable keys must start with a letter and hold at least two letters, "
            f"digits or underscores: {', '.join(malformed)}"
        )
    size = len(json.dumps(variables, separators=(",", ":"), ensure_ascii=False).encode())
    if size > LAMBDA_ENVIRONMENT_BYTES:
        raise EnvironmentTooLarge(
            f"{function}: Lambda was unable to configure your environment variables because the environment "
            f"variables you have provided exceeded the 4KB limit ({size:,} bytes measured, of "
            f"{LAMBDA_ENVIRONMENT_BYTES:,})"
        )


@dataclass(frozen=True, slots=True)
class LocalFunction:
    logical_id: str
    handler: str
    environment: dict[str, str]
    timeout_seconds: int
    memory_mb: int
    ephemeral_storage_mb: int = DEFAULT_EPHEMERAL_STORAGE_MB
    reserved_concurrency: int | None = None
    snap_start: bool = False  # SnapStart on its published versions: its init runs at publish

    @property
    def name(self) -> str:
        return self.logical_id

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{LOCAL_ACCOUNT}:function:{self.name}"


@dataclass(frozen=True, slots=True)
class RuleTarget:
    arn: str
    input_paths: dict[str, str]
    input_template: str | None
    dead_letter_arn: str | None = None  # the SQS queue EventBridge sends undeliverable events to


@dataclass(frozen=True, slots=True)
class LocalRule:
    logical_id: str
    pattern: dict[str, Any]
    targets: list[RuleTarget] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LocalTable:
    """A DynamoDB table, as ``CreateTable`` takes it (keys, attribute types, indexes)."""

    name: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    global_indexes: list[dict[str, Any]]
    local_indexes: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class LocalStateMachine:
    name: str
    arn: str
    type: str
    definition: str
    substitutions: dict[str, str]


@dataclass(frozen=True, slots=True)
class StackModel:
    bucket_name: str
    topic_arn: str
    alarm_topic_arn: str
    topic_arns: list[str]
    state_machine_name: str
    state_machine_arn: str
    definition: str
    substitutions: dict[str, str]
    functions: dict[str, LocalFunction]
    rules: list[LocalRule]
    # The whole template, for what is read from it beside what runs (policies, alarms).
    template: dict[str, Any] = field(repr=False, compare=False)
    tables: list[LocalTable] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    """The names of the stack's SQS queues (the undelivered events' dead-letter queue)."""
    state_machines: list[LocalStateMachine] = field(default_factory=list)
    """The stack's state machines besides the pipeline's."""


class _Resolver:
    """Resolves Ref / Fn::GetAtt / Fn::Join / Fn::Sub against the local physical ids."""

    def __init__(self, resources: dict[str, Any], stack_name: str) -> None:
        self._resources = resources
        self._stack = stack_name.lower()

    def physical(self, logical_id: str) -> str:
        kind = self._resources[logical_id]["Type"]
        if kind == "AWS::S3::Bucket":
            return f"{self._stack}-{logical_id.lower()}"[:63]
        if kind == "AWS::Lambda::Alias":
            return self.alias_arn(logical_id)
        if kind not in _REFS:
            raise TemplateError(f"the local environment does not emulate {kind} ({logical_id})")
        return _REFS[kind].format(region=REGION, account=LOCAL_ACCOUNT, name=self._name(logical_id))

    def _name(self, logical_id: str) -> str:
        """A resource's local name: a state machine's as the template names it, else its logical id."""
        if self._resources[logical_id]["Type"] == "AWS::StepFunctions::StateMachine":
            return self.state_machine_name(logical_id)
        return logical_id

    def state_machine_name(self, logical_id: str) -> str:
        """The name a state machine is given in the template, else its logical id."""
        name = self._resources[logical_id]["Properties"].get("StateMachineName", logical_id)
        return str(self.resolve(name))

    def alias_arn(self, logical_id: str) -> str:
        alias = self._resources[logical_id]["Properties"]
        function_ref = alias["FunctionName"]["Ref"]
        return f"arn:aws:lambda:{REGION}:{LOCAL_ACCOUNT}:function:{function_ref}:{alias['Name']}"

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind = self._resources[logical_id]["Type"]
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{self.physical(logical_id)}"
        if (kind, attribute) not in _ATTRIBUTES:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not emulated")
        return _ATTRIBUTES[kind, attribute].format(region=REGION, account=LOCAL_ACCOUNT, name=self._name(logical_id))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return {
                    "AWS::Region": REGION,
                    "AWS::AccountId": LOCAL_ACCOUNT,
                    "AWS::Partition": "aws",
                    "AWS::URLSuffix": "amazonaws.com",
                }.get(argument) or self.physical(argument)
            if key == "Fn::GetAtt":
                return self.get_att(*argument)
            if key == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(part)) for part in parts)
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not emulated")
        return {key: self.resolve(item) for key, item in value.items()}


# What Ref and Fn::GetAtt give for the resources the emulator creates, each named after its logical id.
_REFS = {
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "AWS::Lambda::Function": "{name}",
    "AWS::SQS::Queue": "https://sqs.{region}.amazonaws.com/{account}/{name}",
    "AWS::Logs::LogGroup": "{name}",
    "AWS::CloudWatch::Alarm": "{name}",
    "AWS::DynamoDB::Table": "{name}",
}
_ATTRIBUTES = {
    ("AWS::Lambda::Function", "Arn"): "arn:aws:lambda:{region}:{account}:function:{name}",
    ("AWS::StepFunctions::StateMachine", "Name"): "{name}",
    ("AWS::SQS::Queue", "QueueName"): "{name}",
    ("AWS::SQS::Queue", "Arn"): "arn:aws:sqs:{region}:{account}:{name}",
    ("AWS::CloudWatch::Alarm", "Arn"): "arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
    ("AWS::DynamoDB::Table", "Arn"): "arn:aws:dynamodb:{region}:{account}:table/{name}",
}


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {logical_id: body for logical_id, body in resources.items() if body["Type"] == kind}


def _output(template: dict[str, Any], name: str, kind: str) -> str:
    """The logical id of the resource a stack output refers to (``Ref``), checked for its type."""
    try:
        logical_id: str = template["Outputs"][name]["Value"]["Ref"]
    except (KeyError, TypeError):
        raise TemplateError(f"the template has no output {name} referring to a resource") from None
    if template["Resources"][logical_id]["Type"] != kind:
        raise TemplateError(f"output {name} refers to {logical_id}, not a {kind}")
    return logical_id


def load_stack(template_file: Path, stack_name: str) -> StackModel:
    template = json.loads(template_file.read_text())
    resources: dict[str, Any] = template["Resources"]
    resolver = _Resolver(resources, stack_name)

    functions = {}
    for logical_id, body in _of_type(resources, "AWS::Lambda::Function").items():
        props = body["Properties"]
        environment = resolver.resolve(props.get("Environment", {}).get("Variables", {}))
        check_environment(logical_id, environment)
        functions[logical_id] = LocalFunction(
            logical_id=logical_id,
            handler=props["Handler"],
            environment=environment,
            timeout_seconds=int(props.get("Timeout", DEFAULT_TIMEOUT_SECONDS)),
            memory_mb=int(props.get("MemorySize", DEFAULT_MEMORY_MB)),
            ephemeral_storage_mb=int(props.get("EphemeralStorage", {}).get("Size", DEFAULT_EPHEMERAL_STORAGE_MB)),
            reserved_concurrency=(
                int(props["ReservedConcurrentExecutions"]) if "ReservedConcurrentExecutions" in props else None
            ),
            snap_start=props.get("SnapStart", {}).get("ApplyOn") == "PublishedVersions",
        )

    machine_id = _output(template, OUTPUT_STATE_MACHINE, "AWS::StepFunctions::StateMachine")
    machine = resources[machine_id]["Properties"]
    rules = []
    for logical_id, body in _of_type(resources, "AWS::Events::Rule").items():
        props = body["Properties"]
        targets = [
            RuleTarget(
                arn=resolver.resolve(target["Arn"]),
                input_paths=target.get("InputTransformer", {}).get("InputPathsMap", {}),
                input_template=target.get("InputTransformer", {}).get("InputTemplate"),
                dead_letter_arn=resolver.resolve(target.get("DeadLetterConfig", {}).get("Arn")),
            )
            for target in props.get("Targets", [])
        ]
        rules.append(LocalRule(logical_id=logical_id, pattern=resolver.resolve(props["EventPattern"]), targets=targets))

    state_machines = [
        LocalStateMachine(
            name=resolver.state_machine_name(logical_id),
            arn=resolver.physical(logical_id),
            type=body["Properties"].get("StateMachineType", "STANDARD"),
            definition=resolver.resolve(body["Properties"]["DefinitionString"]),
            substitutions=resolver.resolve(body["Properties"].get("DefinitionSubstitutions", {})),
        )
        for logical_id, body in _of_type(resources, "AWS::StepFunctions::StateMachine").items()
        if logical_id != machine_id
    ]
    tables = [
        LocalTable(
            name=resolver.physical(logical_id),
            key_schema=body["Properties"]["KeySchema"],
            attribute_definitions=body["Properties"]["AttributeDefinitions"],
            global_indexes=body["Properties"].get("GlobalSecondaryIndexes", []),
            local_indexes=body["Properties"].get("LocalSecondaryIndexes", []),
        )
        for logical_id, body in _of_type(resources, "AWS::DynamoDB::Table").items()
    ]
    return StackModel(
        bucket_name=resolver.physical(_output(template, OUTPUT_BUCKET, "AWS::S3::Bucket")),
        topic_arn=resolver.physical(_output(template, OUTPUT_TOPIC, "AWS::SNS::Topic")),
        alarm_topic_arn=resolver.physical(_output(template, OUTPUT_ALARM_TOPIC, "AWS::SNS::Topic")),
        topic_arns=[resolver.physical(logical_id) for logical_id in _of_type(resources, "AWS::SNS::Topic")],
        state_machine_name=resolver.state_machine_name(machine_id),
        state_machine_arn=resolver.physical(machine_id),
        definition=resolver.resolve(machine["DefinitionString"]),
        substitutions=resolver.resolve(machine.get("DefinitionSubstitutions", {})),
        functions=functions,
        rules=rules,
        template=template,
        tables=tables,
        queues=list(_of_type(resources, "AWS::SQS::Queue")),
        state_machines=state_machines,
    )
