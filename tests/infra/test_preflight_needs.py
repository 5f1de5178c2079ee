"""What ``pipeline preflight`` reads from this project's template is what the deploy will need."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

from tests.infra.queries import of_type
from workflow.deployment import STACK_NAME
from workflow.ops.template_needs import TemplateNeeds

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_the_checked_parameter_is_the_one_the_functions_layer_resolves(template: dict[str, Any]) -> None:
    # Given the template's functions and the parameter preflight checks
    (parameter,) = TemplateNeeds.of(template).ssm_parameters
    # Then it names the installed Powertools version, and every function's layer is that parameter's value
    assert parameter.endswith(f"/{version('aws-lambda-powertools')}")
    (logical_id,) = [name for name, body in template["Parameters"].items() if body.get("Default") == parameter]
    for name, function in of_type(template, "AWS::Lambda::Function").items():
        assert function["Properties"]["Layers"] == [{"Ref": logical_id}], name


def test_the_zones_and_endpoints_checked_are_the_subnets_and_interface_endpoints_of_the_template(
    template: dict[str, Any],
) -> None:
    needs = TemplateNeeds.of(template)
    assert len(needs.zones) == len(of_type(template, "AWS::EC2::Subnet"))
    assert None not in needs.zones
    interfaces = [
        body
        for body in of_type(template, "AWS::EC2::VPCEndpoint").values()
        if body["Properties"].get("VpcEndpointType") == "Interface"
    ]
    assert len(needs.endpoint_services) == len(interfaces)
    assert all(service.startswith("com.amazonaws.us-east-1.") for service in needs.endpoint_services)


def test_the_bootstrap_version_checked_is_the_one_the_cloud_assembly_requires(template_file: Path) -> None:
    # The synth cache keeps the cloud assembly's manifest next to the template.
    manifest = json.loads((template_file.parent / "manifest.json").read_text())
    required = manifest["artifacts"][STACK_NAME]["properties"]["requiresBootstrapStackVersion"]
    needs = TemplateNeeds.of(json.loads(template_file.read_text()))
    assert needs.minimum_bootstrap_version == required


def test_the_burst_compared_with_the_quotas_is_the_apis_configured_burst(template: dict[str, Any]) -> None:
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    assert TemplateNeeds.of(template).api_burst_limit == context["apiThrottleBurstLimit"]


def test_each_state_machines_log_group_is_found(template: dict[str, Any]) -> None:
    # Given the state machines of the template that log (the pipeline, the backfill, the failure recorder)
    logging = [
        body
        for body in template["Resources"].values()
        if body["Type"] == "AWS::StepFunctions::StateMachine" and "LoggingConfiguration" in body["Properties"]
    ]
    # When preflight reads what the template needs
    groups = TemplateNeeds.of(template).workflow_log_groups
    # Then it finds one log group per state machine that logs, each a log group of the template
    assert len(logging) >= 2
    assert len(groups) == len(logging)
    assert {template["Resources"][group.logical_id]["Type"] for group in groups} == {"AWS::Logs::LogGroup"}
