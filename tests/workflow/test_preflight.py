"""``pipeline preflight`` against the embedded AWS (moto) seeded into each failing state.

moto serves STS, CloudFormation, EC2's zones and endpoint services, SSM, API Gateway's account and
the CloudWatch Logs resource policies. Where it cannot be put in the state a check looks for, the
answer is seeded through a botocore ``Stubber`` on that one client, which also checks the answer's
shape against AWS's API model:

- Lambda ``GetAccountSettings`` (moto: "Not yet implemented") and Service Quotas' Step Functions
  quotas (moto knows only the VPC ones);
- AWS's public SSM parameters (``/aws/...`` names are reserved: moto refuses to create them, as AWS
  does), for the state where the Powertools parameter exists;
- zones where an endpoint service is not offered (moto offers every service in every zone);
- a stack in ROLLBACK_COMPLETE, and credentials that do not work.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import version as installed_version
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from workflow.cli.main import main
from workflow.deployment import LOCAL_ACCOUNT, REGION, STACK_NAME
from workflow.ops import preflight
from workflow.ops.preflight import (
    AccountClients,
    NodeRuntime,
    Preflight,
    Status,
    check_api_logging_role,
    check_availability_zones,
    check_bootstrap,
    check_lambda_concurrency,
    check_logs_policy,
    check_node,
    check_region,
    check_ssm_parameters,
    check_stack,
    check_step_functions_quotas,
)
from workflow.ops.template_needs import TemplateNeeds, WorkflowLogGroup

CDK = "npx aws-cdk@2.1148.1"
# The parameter this project's template resolves: the installed Powertools version's.
POWERTOOLS = f"/aws/service/powertools/python/arm64/python3.13/{installed_version('aws-lambda-powertools')}"
LAYER = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27"
NODE_22 = [NodeRuntime(source="node on the PATH", version="v22.12.0")]
CHECKS = (
    "credentials",
    "region",
    "stack",
    "bootstrap",
    "node",
    "availability zones",
    "SSM parameters",
    "API Gateway logging role",
    "logs resource policy",
    "Lambda concurrency",
    "Step Functions quotas",
)


def needs(**changes: Any) -> TemplateNeeds:
    """What the stack's template asks, as this project's template does today, with ``changes``."""
    defaults: dict[str, Any] = {
        "zones": (0, 1),
        "endpoint_services": ("com.amazonaws.us-east-1.sns", "com.amazonaws.us-east-1.xray"),
        "ssm_parameters": (POWERTOOLS,),
        "minimum_bootstrap_version": 6,
        "sets_api_account_role": True,
        "workflow_log_groups": (WorkflowLogGroup("WorkflowLogs8B0907C7", "/aws/vendedlogs/states/pipeline"),),
        "api_burst_limit": 100,
        "states_per_run": 8,
    }
    return TemplateNeeds(**{**defaults, **changes})


@pytest.fixture
def aws() -> Iterator[boto3.Session]:
    with mock_aws():
        yield boto3.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


def stubbed(client: Any, *answers: tuple[str, dict[str, Any], dict[str, Any] | None]) -> Any:
    """``client`` answering exactly ``answers`` (operation, response, expected parameters), in order."""
    stubber = Stubber(client)
    for operation, response, parameters in answers:
        stubber.add_response(operation, response, parameters)
    stubber.activate()
    return client


def lambda_settings(concurrency: int) -> tuple[str, dict[str, Any], None]:
    limits = {"ConcurrentExecutions": concurrency, "UnreservedConcurrentExecutions": concurrency}
    return "get_account_settings", {"AccountLimit": limits}, None


def states_quotas(start_execution: float, state_transition: float) -> list[tuple[str, dict[str, Any], Any]]:
    defaults = [
        {"QuotaName": "StartExecution throttle token bucket size", "Value": start_execution},
        {"QuotaName": "StartExecution throttle token refill rate per second", "Value": 300.0},
        {"QuotaName": "StateTransition throttle token bucket size", "Value": state_transition},
    ]
    return [
        ("list_aws_default_service_quotas", {"Quotas": defaults}, {"ServiceCode": "states"}),
        ("list_service_quotas", {"Quotas": []}, {"ServiceCode": "states"}),
    ]


def powertools_parameter() -> tuple[str, dict[str, Any], dict[str, Any]]:
    parameter = {"Name": POWERTOOLS, "Type": "String", "Value": LAYER, "Version": 1}
    return "get_parameter", {"Parameter": parameter}, {"Name": POWERTOOLS}


def bootstrap(aws: boto3.Session, version: str) -> None:
    """A CDKToolkit stack as ``cdk bootstrap`` makes it: its version parameter and output."""
    parameter = {"Type": "String", "Name": "/cdk-bootstrap/hnb659fds/version", "Value": version}
    body = {
        "Resources": {"CdkBootstrapVersion": {"Type": "AWS::SSM::Parameter", "Properties": parameter}},
        "Outputs": {"BootstrapVersion": {"Value": version}},
    }
    aws.client("cloudformation").create_stack(StackName="CDKToolkit", TemplateBody=json.dumps(body))


def ready(aws: boto3.Session) -> AccountClients:
    """An account where every check holds: moto's own state, and the answers it cannot give."""
    bootstrap(aws, "30")
    clients = AccountClients.of(aws)
    stubbed(clients.lambda_, lambda_settings(1000))
    stubbed(clients.service_quotas, *states_quotas(1300, 5000))
    stubbed(clients.ssm, powertools_parameter())
    return clients


def run(clients: AccountClients, **changes: Any) -> dict[str, Any]:
    report = Preflight(
        clients=clients,
        needs=needs(**changes),
        stack_name=STACK_NAME,
        configured_region=REGION,
        node=NODE_22,
        cdk_cli="2.1148.1",
    ).run()
    return {check.name: check for check in report.checks}


# -- the whole command -------------------------------------------------------------------------


def test_a_ready_account_passes_every_check(aws: boto3.Session) -> None:
    # Given an account ready for the stack
    clients = ready(aws)
    # When preflight runs every check
    checks = run(clients)
    # Then each of the eleven is ok
    assert {name: check.status for name, check in checks.items()} == dict.fromkeys(CHECKS, Status.OK)
    assert checks["SSM parameters"].detail == f"{POWERTOOLS} = {LAYER}"


def test_the_command_prints_each_verdict_with_its_fix_and_exits_1_on_a_failure(
    aws: boto3.Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an account that is ready except that it was never bootstrapped
    clients = AccountClients.of(aws)
    stubbed(clients.lambda_, lambda_settings(1000))
    stubbed(clients.service_quotas, *states_quotas(1300, 5000))
    stubbed(clients.ssm, powertools_parameter())
    monkeypatch.setattr(AccountClients, "of", classmethod(lambda cls, session: clients))
    monkeypatch.setattr(preflight, "node_runtimes", lambda environ: NODE_22)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)

    # When `pipeline preflight` runs on this checkout's template
    code = main(["preflight"])

    # Then it says what failed and how to fix it, in one line each, and exits 1
    out = capsys.readouterr().out
    assert code == 1
    assert "fail  bootstrap" in out
    assert f"fix: {CDK} bootstrap aws://{LOCAL_ACCOUNT}/{REGION}" in out
    assert "ok    credentials" in out
    assert "not ready" in out.splitlines()[-1]


def test_the_command_prints_json_and_exits_0_when_nothing_fails(
    aws: boto3.Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clients = ready(aws)
    monkeypatch.setattr(AccountClients, "of", classmethod(lambda cls, session: clients))
    monkeypatch.setattr(preflight, "node_runtimes", lambda environ: NODE_22)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)

    code = main(["preflight", "--json"])

    report = json.loads(capsys.readouterr().out)
    assert [check["status"] for check in report["checks"] if check["status"] == "fail"] == []
    assert (code, report["ok"]) == (0, True)
    assert {"name", "status", "detail", "fix"} == set(report["checks"][0])


def test_credentials_that_do_not_work_fail_and_the_account_checks_are_not_run(aws: boto3.Session) -> None:
    clients = AccountClients.of(aws)
    stubber = Stubber(clients.sts)
    stubber.add_client_error(
        "get_caller_identity", "ExpiredToken", "The security token included in the request is expired"
    )
    stubber.activate()

    checks = run(clients)

    assert list(checks) == ["credentials", "region", "node"]
    assert checks["credentials"].status is Status.FAIL
    assert "ExpiredToken" in checks["credentials"].detail


# -- one failing state at a time ---------------------------------------------------------------


def test_a_default_region_other_than_the_stacks_is_a_warning_with_the_export_to_fix_it() -> None:
    check = check_region("eu-west-1")
    assert check.status is Status.WARN
    assert "eu-west-1" in check.detail
    assert check.fix == f"export AWS_REGION={REGION} (or set region = {REGION} in your AWS profile)"
    assert check_region(None).status is Status.WARN


@pytest.mark.parametrize(
    ("runtimes", "status"),
    [
        (
            [NodeRuntime("node on the PATH", "v22.12.0"), NodeRuntime("JSII_NODE=/opt/node22/bin/node", "v22.1.0")],
            Status.OK,
        ),
        ([NodeRuntime("node on the PATH", "v20.20.2")], Status.WARN),
        ([NodeRuntime("node on the PATH", "v16.20.0")], Status.FAIL),
        ([NodeRuntime("node on the PATH", None, "No such file or directory: 'node'")], Status.FAIL),
        ([], Status.FAIL),
    ],
)
def test_node_22_or_newer_is_ok_20_warns_and_older_or_missing_fails(
    runtimes: list[NodeRuntime], status: Status
) -> None:
    check = check_node(runtimes, "2.1148.1")
    assert check.status is status
    assert (check.fix is None) == (status is Status.OK)


def test_node_versions_are_read_from_node_and_from_jsii_node() -> None:
    # Given a PATH node and JSII_NODE pointing at another binary
    ran: list[list[str]] = []

    def fake_run(command: list[str], **_: Any) -> Any:
        ran.append(command)
        version = "v20.20.2\n" if command[0] == "node" else "v22.12.0\n"
        return type("Completed", (), {"returncode": 0, "stdout": version, "stderr": ""})()

    runtimes = preflight.node_runtimes({"JSII_NODE": "/opt/node22/bin/node"}, run=fake_run)

    assert ran == [["node", "--version"], ["/opt/node22/bin/node", "--version"]]
    assert [(runtime.source, runtime.major) for runtime in runtimes] == [
        ("node on the PATH", 20),
        ("JSII_NODE=/opt/node22/bin/node", 22),
    ]


def test_a_stack_left_in_rollback_complete_fails_with_the_delete_command(aws: boto3.Session) -> None:
    cloudformation = stubbed(
        aws.client("cloudformation"),
        (
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": STACK_NAME,
                        "StackStatus": "ROLLBACK_COMPLETE",
                        "CreationTime": "2026-11-30T09:00:00Z",
                    }
                ]
            },
            {"StackName": STACK_NAME},
        ),
    )
    check = check_stack(cloudformation, STACK_NAME)
    assert check.status is Status.FAIL
    assert f"delete-stack --stack-name {STACK_NAME}" in (check.fix or "")
    assert check_stack(aws.client("cloudformation"), STACK_NAME).status is Status.OK  # not deployed yet


@pytest.mark.parametrize(("version", "status"), [(None, Status.FAIL), ("5", Status.FAIL), ("6", Status.OK)])
def test_a_missing_or_old_bootstrap_stack_fails_with_the_bootstrap_command(
    aws: boto3.Session, version: str | None, status: Status
) -> None:
    if version is not None:
        bootstrap(aws, version)
    check = check_bootstrap(aws.client("cloudformation"), needs(), LOCAL_ACCOUNT, CDK)
    assert check.status is status
    if status is Status.FAIL:
        assert check.fix == f"{CDK} bootstrap aws://{LOCAL_ACCOUNT}/{REGION}"


def us_east_1(ec2: Any, *, lambda_zone_ids: list[str], get_azs: bool = True) -> Any:
    """An account whose first zone by name maps to use1-az3, the zone some services lack, and where
    Lambda's endpoint service is offered only in ``lambda_zone_ids``; ``get_azs``: the template's
    zones come from Fn::GetAZs, so the default subnets are looked up."""
    zones = [("us-east-1a", "use1-az3"), ("us-east-1b", "use1-az4"), ("us-east-1c", "use1-az6")]
    everywhere = [zone_id for _, zone_id in zones]
    offered = {"lambda": lambda_zone_ids, "sns": everywhere, "xray": everywhere}
    answers: list[tuple[str, dict[str, Any], Any]] = [
        (
            "describe_availability_zones",
            {"AvailabilityZones": [{"ZoneName": name, "ZoneId": zone_id} for name, zone_id in zones]},
            None,
        ),
    ]
    if get_azs:
        subnets = [{"AvailabilityZone": name, "DefaultForAz": True} for name, _ in zones]
        answers.append(("describe_subnets", {"Subnets": subnets}, None))
    for service, ids in offered.items():
        name = f"com.amazonaws.{REGION}.{service}"
        answers.append(
            (
                "describe_vpc_endpoint_services",
                {"ServiceDetails": [{"ServiceName": name, "AvailabilityZoneIds": ids}]},
                {"ServiceNames": [name]},
            )
        )
    return stubbed(ec2, *answers)


def test_zones_where_lambda_is_not_offered_fail_with_the_context_value_that_works(aws: boto3.Session) -> None:
    # Given Fn::GetAZs's first zone maps to use1-az3, where Lambda is not offered
    ec2 = us_east_1(aws.client("ec2"), lambda_zone_ids=["use1-az4", "use1-az6"])
    # When the zones are checked
    check = check_availability_zones(ec2, needs(), CDK)
    # Then it fails naming the zone and what it lacks, and gives the value that works
    assert check.status is Status.FAIL
    assert "us-east-1a (use1-az3) lacks Lambda" in check.detail
    assert check.fix == f"{CDK} deploy -c availabilityZones=us-east-1b,us-east-1c"


def test_zones_named_by_context_are_checked_by_their_ids(aws: boto3.Session) -> None:
    ec2 = us_east_1(aws.client("ec2"), lambda_zone_ids=["use1-az4", "use1-az6"], get_azs=False)
    check = check_availability_zones(ec2, needs(zones=("us-east-1b", "us-east-1c")), CDK)
    assert check.status is Status.OK
    assert check.detail.startswith("us-east-1b (use1-az4), us-east-1c (use1-az6)")


def test_zones_from_getazs_that_moto_offers_everything_in_are_ok(aws: boto3.Session) -> None:
    # moto maps us-east-1a and -1b to use1-az6 and use1-az1 and offers every service everywhere.
    check = check_availability_zones(aws.client("ec2"), needs(), CDK)
    assert check.status is Status.OK
    assert "offer Lambda, sns, xray" in check.detail


def test_a_missing_powertools_parameter_fails_before_cloudformation_would(aws: boto3.Session) -> None:
    # moto, like AWS, has no such public parameter unless AWS published it
    check = check_ssm_parameters(aws.client("ssm"), needs())
    assert check.status is Status.FAIL
    assert POWERTOOLS in check.detail
    assert check.fix is not None
    assert "get-parameters-by-path --path /aws/service/powertools/python/arm64/python3.13" in check.fix


ANOTHER_ROLE = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/central-apigateway-logging"
OWN_ROLE = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{STACK_NAME}-ApiCloudWatchRole58110656-Ab12"


@pytest.mark.parametrize(
    ("current", "sets_role", "status", "fix"),
    [
        (None, True, Status.OK, None),
        (OWN_ROLE, True, Status.OK, None),
        (ANOTHER_ROLE, True, Status.WARN, "-c apiGatewayCloudWatchRole=existing"),
        (None, False, Status.FAIL, "-c apiGatewayCloudWatchRole=create"),
        (ANOTHER_ROLE, False, Status.OK, None),
    ],
)
def test_api_gateways_account_role_and_what_the_deploy_does_about_it(
    aws: boto3.Session, current: str | None, sets_role: bool, status: Status, fix: str | None
) -> None:
    apigateway = aws.client("apigateway")
    if current is not None:
        apigateway.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": current}])
    check = check_api_logging_role(apigateway, needs(sets_api_account_role=sets_role), STACK_NAME)
    assert check.status is status
    assert (check.fix is None) if fix is None else (check.fix is not None and fix in check.fix)


def delivery_policy(aws: boto3.Session, characters: int, *extra_resources: str) -> None:
    """The account's log-delivery resource policy, padded with other groups' ARNs to at most
    ``characters`` (AWS refuses a larger one)."""
    prefix = f"arn:aws:logs:{REGION}:{LOCAL_ACCOUNT}:log-group:"
    resources = list(extra_resources)

    def document(groups: list[str]) -> str:
        statement = {
            "Sid": "AWSLogDeliveryWrite20150319",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": groups,
        }
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    while len(document([*resources, f"{prefix}another-service-logs-{len(resources):04d}:*"])) <= characters:
        resources.append(f"{prefix}another-service-logs-{len(resources):04d}:*")
    assert characters - 60 < len(document(resources)) <= characters
    aws.client("logs").put_resource_policy(policyName="AWSLogDeliveryWrite20150319", policyDocument=document(resources))


UNNAMED = (WorkflowLogGroup("WorkflowLogs8B0907C7", None),)


def test_a_logs_policy_too_full_for_the_state_machines_group_fails(aws: boto3.Session) -> None:
    # Given the account's delivery policy about 60 characters short of its 5,120 limit
    delivery_policy(aws, 5080)
    # When the state machine's group (unnamed, so outside /aws/vendedlogs/) would be added
    check = check_logs_policy(aws.client("logs"), needs(workflow_log_groups=UNNAMED), LOCAL_ACCOUNT, STACK_NAME)
    # Then it fails: CreateStateMachine would, with an error that does not say why
    assert check.status is Status.FAIL
    assert "of 5,120 characters" in check.detail
    assert "/aws/vendedlogs/" in (check.fix or "")


def test_a_vendedlogs_group_the_policy_already_covers_is_ok_however_full_it_is(aws: boto3.Session) -> None:
    delivery_policy(aws, 5100, f"arn:aws:logs:{REGION}:{LOCAL_ACCOUNT}:log-group:/aws/vendedlogs/*")
    check = check_logs_policy(aws.client("logs"), needs(), LOCAL_ACCOUNT, STACK_NAME)
    assert check.status is Status.OK


def test_the_stack_s_state_machines_all_log_under_vendedlogs_which_one_entry_covers(
    aws: boto3.Session, template: dict[str, Any]
) -> None:
    # Given the synthesized template: each state machine's group is named at deploy time, ending in
    # the stack's id, under /aws/vendedlogs/
    groups = TemplateNeeds.of(template).workflow_log_groups
    assert len(groups) == 3
    assert all((group.name_begins or "").startswith("/aws/vendedlogs/states/") for group in groups)
    # When the account's delivery policy is nearly full but already covers /aws/vendedlogs/*
    delivery_policy(aws, 5100, f"arn:aws:logs:{REGION}:{LOCAL_ACCOUNT}:log-group:/aws/vendedlogs/*")
    # Then the deploy needs no more of it
    check = check_logs_policy(aws.client("logs"), TemplateNeeds.of(template), LOCAL_ACCOUNT, STACK_NAME)
    assert check.status is Status.OK


def test_a_group_outside_vendedlogs_that_fits_is_a_warning(aws: boto3.Session) -> None:
    check = check_logs_policy(aws.client("logs"), needs(workflow_log_groups=UNNAMED), LOCAL_ACCOUNT, STACK_NAME)
    assert check.status is Status.WARN
    assert f"{STACK_NAME}-WorkflowLogs8B0907C7-" in check.detail


def test_a_lambda_concurrency_below_the_api_burst_warns_with_the_quota_request(aws: boto3.Session) -> None:
    # Given a new account's concurrency of 10, below the API's burst of 100
    client = stubbed(aws.client("lambda"), lambda_settings(10))
    check = check_lambda_concurrency(client, needs())
    assert check.status is Status.WARN
    assert "--quota-code L-B99A9384 --desired-value 100" in (check.fix or "")


def test_step_functions_quotas_below_the_burst_warn(aws: boto3.Session) -> None:
    # Given a reduced state-transition bucket (new accounts start low): 100 runs of 8 states need 800
    client = stubbed(aws.client("service-quotas"), *states_quotas(1300, 500))
    check = check_step_functions_quotas(client, needs())
    assert check.status is Status.WARN
    assert "StateTransition throttle token bucket size 500 (a burst needs 800)" in check.detail
    assert "StateTransition throttle token bucket size" in (check.fix or "")


def test_a_quota_that_cannot_be_read_is_a_warning_told_in_one_line(aws: boto3.Session) -> None:
    # Given an endpoint that answers GetAccountSettings with a page of HTML (moto does: 404)
    # When the concurrency is checked
    check = check_lambda_concurrency(aws.client("lambda"), needs())
    # Then it is a warning (a quota is no deploy blocker), in one line
    assert check.status is Status.WARN
    assert check.detail.startswith("cannot read the account's Lambda settings: 404")
    assert "\n" not in check.detail
