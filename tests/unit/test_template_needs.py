"""What ``pipeline preflight`` reads from a template: each need, from small templates written here."""

from __future__ import annotations

from typing import Any

import pytest

from workflow.ops.template_needs import TemplateNeeds, WorkflowLogGroup, longest_run

REGION_REF = {"Ref": "AWS::Region"}


def template(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": resources}


def subnet(zone: Any) -> dict[str, Any]:
    return {"Type": "AWS::EC2::Subnet", "Properties": {"AvailabilityZone": zone}}


def endpoint(service: Any, kind: str = "Interface") -> dict[str, Any]:
    return {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"ServiceName": service, "VpcEndpointType": kind}}


def test_zones_from_fn_getazs_are_the_indexes_a_deploy_selects() -> None:
    # Given subnets in the first two zones CloudFormation lists
    needs = TemplateNeeds.of(
        template(
            A=subnet({"Fn::Select": [0, {"Fn::GetAZs": ""}]}),
            B=subnet({"Fn::Select": [1, {"Fn::GetAZs": REGION_REF}]}),
        )
    )
    # Then the needs are those indexes, in order
    assert needs.zones == (0, 1)


def test_zones_named_by_context_are_read_as_names_and_an_unreadable_one_as_none() -> None:
    needs = TemplateNeeds.of(
        template(A=subnet("us-east-1b"), B=subnet("us-east-1c"), C=subnet("us-east-1b"), D=subnet({"Ref": "Zone"}))
    )
    assert needs.zones == ("us-east-1b", "us-east-1c", None)


def test_interface_endpoint_services_are_resolved_and_gateways_left_out() -> None:
    # Given what CDK writes: a literal name, a name joined with the region, and the S3 gateway
    needs = TemplateNeeds.of(
        template(
            Sns=endpoint("com.amazonaws.us-east-1.sns"),
            Logs=endpoint({"Fn::Join": ["", ["com.amazonaws.", REGION_REF, ".logs"]]}),
            S3=endpoint({"Fn::Join": ["", ["com.amazonaws.", REGION_REF, ".s3"]]}, kind="Gateway"),
        )
    )
    # Then only the interface endpoints count, each by its service name in us-east-1
    assert needs.endpoint_services == ("com.amazonaws.us-east-1.logs", "com.amazonaws.us-east-1.sns")


def test_ssm_parameters_are_the_ones_cloudformation_resolves_except_the_bootstrap_version() -> None:
    needs = TemplateNeeds.of(
        {
            "Resources": {},
            "Parameters": {
                "Layer": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/aws/service/powertools/x"},
                "BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/cdk-bootstrap/v"},
                "Plain": {"Type": "String", "Default": "not resolved"},
            },
        }
    )
    assert needs.ssm_parameters == ("/aws/service/powertools/x",)


@pytest.mark.parametrize(("refused", "minimum"), [(["1", "2", "3", "4", "5"], 6), (["1", "2"], 3)])
def test_the_minimum_bootstrap_version_is_read_from_cdks_rule(refused: list[str], minimum: int) -> None:
    rule = {
        "Assertions": [{"Assert": {"Fn::Not": [{"Fn::Contains": [refused, {"Ref": "BootstrapVersion"}]}]}}],
    }
    needs = TemplateNeeds.of({"Resources": {}, "Rules": {"CheckBootstrapVersion": rule}})
    assert needs.minimum_bootstrap_version == minimum


def test_a_template_without_the_rule_requires_no_bootstrap_version() -> None:
    assert TemplateNeeds.of(template()).minimum_bootstrap_version is None


STACK_UUID = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}


@pytest.mark.parametrize(
    ("name", "expected", "begins"),
    [
        (None, None, None),
        ("/aws/vendedlogs/states/x", "/aws/vendedlogs/states/x", None),
        (
            {"Fn::Join": ["", ["/aws/vendedlogs/states/", {"Ref": "AWS::Region"}, "-x-", STACK_UUID]]},
            None,
            "/aws/vendedlogs/states/us-east-1-x-",
        ),
        ({"Fn::Join": ["", ["/aws/vendedlogs/states/x-", STACK_UUID]]}, None, "/aws/vendedlogs/states/x-"),
        ({"Fn::Join": ["-", ["/aws/x", STACK_UUID, "y"]]}, None, "/aws/x-"),
        ({"Fn::Join": ["", [STACK_UUID, "-x"]]}, None, None),
    ],
)
def test_the_state_machines_log_group_is_found_through_its_logging_configuration(
    name: Any, expected: str | None, begins: str | None
) -> None:
    logging = {"Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["Logs", "Arn"]}}}]}
    needs = TemplateNeeds.of(
        template(
            Logs={"Type": "AWS::Logs::LogGroup", "Properties": {} if name is None else {"LogGroupName": name}},
            Machine={"Type": "AWS::StepFunctions::StateMachine", "Properties": {"LoggingConfiguration": logging}},
        )
    )
    assert needs.workflow_log_groups == (WorkflowLogGroup(logical_id="Logs", name=expected, name_begins=begins),)


def test_the_api_burst_is_the_largest_of_the_stages_method_settings_and_the_account_role_is_seen() -> None:
    stage = {
        "MethodSettings": [{"ThrottlingBurstLimit": 100}, {"ThrottlingBurstLimit": 250}, {"LoggingLevel": "ERROR"}]
    }
    needs = TemplateNeeds.of(
        template(
            Stage={"Type": "AWS::ApiGateway::Stage", "Properties": stage},
            Account={"Type": "AWS::ApiGateway::Account", "Properties": {}},
        )
    )
    assert (needs.api_burst_limit, needs.sets_api_account_role) == (250, True)
    assert (TemplateNeeds.of(template()).api_burst_limit, TemplateNeeds.of(template()).sets_api_account_role) == (
        None,
        False,
    )


def test_a_run_enters_at_most_the_states_of_the_longest_path_catch_routes_aside() -> None:
    # Given Start -> Choice -> (Short | Long1 -> Long2) -> End, and a Catch route to a Fail state
    definition = {
        "StartAt": "Start",
        "States": {
            "Start": {"Type": "Task", "Next": "Route", "Catch": [{"ErrorEquals": ["X"], "Next": "Failed"}]},
            "Route": {"Type": "Choice", "Choices": [{"Next": "Long1"}], "Default": "Short"},
            "Short": {"Type": "Pass", "Next": "End"},
            "Long1": {"Type": "Pass", "Next": "Long2"},
            "Long2": {"Type": "Pass", "Next": "End"},
            "End": {"Type": "Succeed"},
            "Failed": {"Type": "Fail"},
        },
    }
    # Then the longest path counts Start, Route, Long1, Long2, End
    assert longest_run(definition) == 5
