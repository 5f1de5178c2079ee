"""What a deploy of the synthesized template asks of the account, read from the template itself.

``pipeline preflight`` checks the account against this, so a change to the stack (an interface
endpoint removed, the log group renamed, zones taken from context) changes what is checked, with
nothing restated by hand. Only what a deploy would resolve without any deployed resource is read:
literal values, ``Fn::Join`` of them with the region, ``Fn::Select`` over ``Fn::GetAZs``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workflow.definition import definition_text
from workflow.deployment import REGION

_PSEUDO_PARAMETERS = {"AWS::Region": REGION, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
BOOTSTRAP_PARAMETER = "BootstrapVersion"


def _literal(value: Any) -> str | None:
    """A template value as text when no deployed resource is needed to know it: a string, or an
    ``Fn::Join`` of strings and region/partition references."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return _PSEUDO_PARAMETERS.get(argument)
        if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
            parts = [_literal(part) for part in argument[1]]
            return None if None in parts else str(argument[0]).join(str(part) for part in parts)
    return None


def _literal_beginning(value: Any) -> str | None:
    """The text a template value surely starts with: the whole of a literal, else the literal parts
    that begin an ``Fn::Join`` (a name ending in the stack's id is known at deploy time only)."""
    literal = _literal(value)
    if literal is not None:
        return literal
    joined = value.get("Fn::Join") if isinstance(value, dict) and len(value) == 1 else None
    if not (isinstance(joined, list) and len(joined) == 2 and isinstance(joined[1], list)):
        return None
    beginning: list[str] = []
    for part in joined[1]:
        text = _literal(part)
        if text is None:
            return str(joined[0]).join(beginning) + (str(joined[0]) if beginning else "")
        beginning.append(text)
    return str(joined[0]).join(beginning)


def _zone(value: Any) -> str | int | None:
    """A subnet's zone: a name, or the index into ``Fn::GetAZs`` it selects; None if neither."""
    literal = _literal(value)
    if literal is not None:
        return literal
    selected = value.get("Fn::Select") if isinstance(value, dict) else None
    if (
        isinstance(selected, list)
        and len(selected) == 2
        and isinstance(selected[1], dict)
        and "Fn::GetAZs" in selected[1]
        and str(selected[0]).isdigit()
    ):
        return int(selected[0])
    return None


@dataclass(frozen=True, slots=True)
class WorkflowLogGroup:
    """A state machine's log group: its name when the template fixes it, else its logical id
    (CloudFormation then names it ``<stack>-<logical id>-<12 characters>``). ``name_begins`` is
    what the name surely starts with when the rest is known at deploy time only (the stack's id)."""

    logical_id: str
    name: str | None
    name_begins: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateNeeds:
    """What the synthesized template asks of the account, read once from it."""

    zones: tuple[str | int | None, ...]  # per subnet, in template order, deduplicated
    endpoint_services: tuple[str, ...]
    ssm_parameters: tuple[str, ...]
    minimum_bootstrap_version: int | None
    sets_api_account_role: bool
    workflow_log_groups: tuple[WorkflowLogGroup, ...]
    api_burst_limit: int | None
    states_per_run: int

    @classmethod
    def of(cls, template: Mapping[str, Any]) -> TemplateNeeds:
        resources: Mapping[str, Any] = template.get("Resources", {})

        def of_type(kind: str) -> list[tuple[str, Mapping[str, Any]]]:
            return [
                (logical_id, body.get("Properties", {}))
                for logical_id, body in resources.items()
                if body.get("Type") == kind
            ]

        zones = tuple(dict.fromkeys(_zone(props.get("AvailabilityZone")) for _, props in of_type("AWS::EC2::Subnet")))
        services = tuple(
            sorted(
                {
                    str(_literal(props.get("ServiceName")))
                    for _, props in of_type("AWS::EC2::VPCEndpoint")
                    if props.get("VpcEndpointType") == "Interface" and _literal(props.get("ServiceName"))
                }
            )
        )
        parameters = tuple(
            str(body["Default"])
            for name, body in template.get("Parameters", {}).items()
            if name != BOOTSTRAP_PARAMETER
            and str(body.get("Type", "")).startswith("AWS::SSM::Parameter::Value")
            and "Default" in body
        )
        log_groups = []
        for _, props in of_type("AWS::StepFunctions::StateMachine"):
            for destination in props.get("LoggingConfiguration", {}).get("Destinations", []):
                arn = destination.get("CloudWatchLogsLogGroup", {}).get("LogGroupArn")
                logical_id = str(arn.get("Fn::GetAtt", [""])[0]) if isinstance(arn, dict) else ""
                if logical_id in resources:
                    given = resources[logical_id].get("Properties", {}).get("LogGroupName")
                    name = _literal(given)
                    begins = None if name is not None else _literal_beginning(given) or None
                    log_groups.append(WorkflowLogGroup(logical_id=logical_id, name=name, name_begins=begins))
        bursts = [
            int(setting["ThrottlingBurstLimit"])
            for _, props in of_type("AWS::ApiGateway::Stage")
            for setting in props.get("MethodSettings", [])
            if "ThrottlingBurstLimit" in setting
        ]
        return cls(
            zones=zones,
            endpoint_services=services,
            ssm_parameters=parameters,
            minimum_bootstrap_version=_minimum_bootstrap_version(template),
            sets_api_account_role=bool(of_type("AWS::ApiGateway::Account")),
            workflow_log_groups=tuple(log_groups),
            api_burst_limit=max(bursts) if bursts else None,
            states_per_run=longest_run(json.loads(definition_text())),
        )


def _minimum_bootstrap_version(template: Mapping[str, Any]) -> int | None:
    """The version the template's ``CheckBootstrapVersion`` rule requires: CDK writes it as "the
    parameter is not one of 1..N-1", which CloudFormation evaluates before it changes anything."""
    text = json.dumps(template.get("Rules", {}).get("CheckBootstrapVersion", {}))
    match = re.search(r'"Fn::Contains": \[\[([^\]]*)\], \{"Ref": "BootstrapVersion"\}\]', text)
    if match is None:
        return None
    refused = [int(version) for version in re.findall(r'"(\d+)"', match.group(1))]
    return max(refused) + 1 if refused else None


def longest_run(definition: Mapping[str, Any]) -> int:
    """How many states the longest successful path of the definition enters (Catch routes aside):
    the state transitions one run may need from the account's Step Functions quota."""
    states: Mapping[str, Any] = definition["States"]
    lengths: dict[str, int] = {}

    def length(name: str, seen: frozenset[str]) -> int:
        if name in lengths:
            return lengths[name]
        state = states[name]
        following = [state.get("Next"), state.get("Default"), *(rule.get("Next") for rule in state.get("Choices", []))]
        onward = [length(nxt, seen | {name}) for nxt in following if nxt in states and nxt not in seen]
        lengths[name] = 1 + max(onward, default=0)
        return lengths[name]

    return length(definition["StartAt"], frozenset())
