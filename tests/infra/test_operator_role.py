"""The operator role may make every call ``pipeline preflight``, ``pipeline smoke``, the Map Run reads of
``pipeline show`` and the ledger's reads (``sources``, ``reconcile``) make, and nothing next to them: each
request is decided against the template's policies as AWS would decide it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.queries import of_type
from workflow.deployment import LOCAL_ACCOUNT, OUTPUT_OPERATOR_ROLE, REGION, STACK_NAME
from workflow.executions import execution_arn
from workflow.local.iam.evaluation import Principal, Request
from workflow.local.iam.requests import Check
from workflow.local.iam.template_policies import TemplatePolicies, load_policies
from workflow.local.template import StackModel
from workflow.ops.smoke import output_folder, queue_name, source_folder

RUN = "20261130T093748Z-3fa2"  # as new_run_id() names a run; fixed so that test ids are stable
ARN = f"{REGION}:{LOCAL_ACCOUNT}"
QUEUE = f"arn:aws:sqs:{ARN}:{queue_name(STACK_NAME, RUN, 'runs')}"
# Another state machine's (not this stack's) execution and Map Run, next to this one's.
OTHER_EXECUTION = f"arn:aws:states:{ARN}:execution:AnotherMachine:s3-big-csv-1"
OTHER_MAP_RUN = f"arn:aws:states:{ARN}:mapRun:AnotherMachine/TransformRanges:0f8a9d4e-7c1b-4d8e-9a3f-2b6c5d4e3f21"
POWERTOOLS = f"arn:aws:ssm:{REGION}::parameter/aws/service/powertools/python/arm64/python3.13/3.37.0"


@pytest.fixture(scope="module")
def policies(template: dict[str, Any]) -> TemplatePolicies:
    return load_policies(template)


@pytest.fixture(scope="module")
def names(template: dict[str, Any], stack_model: StackModel) -> dict[str, str]:
    """The local physical names the requests name (a resource's local name is its logical id)."""
    (api,) = of_type(template, "AWS::ApiGateway::RestApi")
    role = template["Outputs"][OUTPUT_OPERATOR_ROLE]["Value"]["Fn::GetAtt"][0]
    return {
        "role": f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{role}",
        "bucket": f"arn:aws:s3:::{stack_model.bucket_name}",
        "runs": stack_model.topic_arn,
        "alarms": stack_model.alarm_topic_arn,
        "machine": stack_model.state_machine_arn,
        "execution": execution_arn(stack_model.state_machine_arn, "s3-big-csv-1"),
        "map_run": stack_model.state_machine_arn.replace(":stateMachine:", ":mapRun:")
        + "/TransformRanges:0f8a9d4e-7c1b-4d8e-9a3f-2b6c5d4e3f21",
        "api": f"arn:aws:execute-api:{ARN}:{api}/prod",
        "stack": f"arn:aws:cloudformation:{ARN}:stack/{STACK_NAME}/local",
    }


def allowed(policies: TemplatePolicies, names: dict[str, str], action: str, resource: str, **context: Any) -> bool:
    request = Request(
        Principal.role_session(names["role"], "operator"),
        action,
        resource.format(**names),
        {"aws:SecureTransport": True, "aws:RequestedRegion": REGION, **context},
    )
    return policies.verdict(Check(request, via=None)).allowed


SMOKE_CALLS = [
    ("s3:PutObject", "{bucket}/" + source_folder(RUN) + "orders.csv", {}),
    ("s3:GetObject", "{bucket}/" + output_folder(RUN) + "orders.csv/v1/manifest.json", {}),
    ("s3:DeleteObjectVersion", "{bucket}/" + source_folder(RUN) + "malformed.json", {}),
    ("s3:DeleteObjectVersion", "{bucket}/" + output_folder(RUN) + "orders.csv/v1/data.jsonl", {}),
    ("s3:ListBucketVersions", "{bucket}", {"s3:prefix": source_folder(RUN)}),
    ("s3:ListBucket", "{bucket}", {"s3:prefix": output_folder(RUN) + "malformed.json/"}),
    ("sqs:CreateQueue", QUEUE, {}),
    ("sqs:ReceiveMessage", QUEUE, {}),
    ("sqs:DeleteMessage", QUEUE, {}),
    ("sqs:DeleteQueue", QUEUE, {}),
    ("sns:Subscribe", "{runs}", {"sns:Protocol": "sqs", "sns:Endpoint": QUEUE}),
    ("sns:Subscribe", "{alarms}", {"sns:Protocol": "sqs", "sns:Endpoint": QUEUE}),
    ("sns:Unsubscribe", "{runs}:0f8a9d4e-uuid", {}),
    ("execute-api:Invoke", "{api}/POST/executions", {}),
    ("execute-api:Invoke", f"{{api}}/GET/executions/api-smoke-{RUN}", {}),
    ("cloudwatch:DescribeAlarms", "*", {}),
    ("states:ListExecutions", "{machine}", {}),
    ("cloudformation:DescribeStacks", "{stack}", {}),
]
PREFLIGHT_CALLS = [
    ("cloudformation:DescribeStacks", f"arn:aws:cloudformation:{ARN}:stack/CDKToolkit/0a1b2c3d", {}),
    ("ec2:DescribeAvailabilityZones", "*", {}),
    ("ec2:DescribeSubnets", "*", {}),
    ("ec2:DescribeVpcEndpointServices", "*", {}),
    ("ssm:GetParameter", POWERTOOLS, {}),
    ("apigateway:GET", f"arn:aws:apigateway:{REGION}::/account", {}),
    ("logs:DescribeResourcePolicies", "*", {}),
    ("lambda:GetAccountSettings", "*", {}),
    ("servicequotas:ListServiceQuotas", "*", {}),
    ("servicequotas:ListAWSDefaultServiceQuotas", "*", {}),
]
# `pipeline show` lists a run's Map Runs and describes each.
SHOW_CALLS = [
    ("states:ListMapRuns", "{execution}", {}),
    ("states:DescribeMapRun", "{map_run}", {}),
]
# `pipeline sources` and `pipeline reconcile` (without --fix) read the ledger and list the sources.
LEDGER_READ_CALLS = [
    ("s3:ListBucketVersions", "{bucket}", {"s3:prefix": "incoming/"}),
]
# Next to each grant, what it must not reach.
NEIGHBOURS = [
    ("s3:PutObject", "{bucket}/incoming/orders.csv", {}),
    ("s3:PutObject", "{bucket}/" + output_folder(RUN) + "orders.csv/v1/data.jsonl", {}),
    ("s3:GetObject", "{bucket}/processed/orders.csv/v1/data.jsonl", {}),
    ("s3:DeleteObjectVersion", "{bucket}/incoming/orders.csv", {}),
    ("s3:DeleteObject", "{bucket}/" + source_folder(RUN) + "orders.csv", {}),
    ("s3:ListBucketVersions", "{bucket}", {"s3:prefix": "processed/"}),
    ("sqs:CreateQueue", f"arn:aws:sqs:{ARN}:someone-elses-queue", {}),
    ("sqs:DeleteQueue", f"arn:aws:sqs:{ARN}:UndeliveredEventsQueue", {}),
    ("sns:Subscribe", "{runs}", {"sns:Protocol": "email", "sns:Endpoint": "someone@example.com"}),
    ("sns:Subscribe", "{runs}", {"sns:Protocol": "sqs", "sns:Endpoint": f"arn:aws:sqs:{ARN}:someone-elses-queue"}),
    ("sns:Subscribe", f"arn:aws:sns:{ARN}:another-topic", {"sns:Protocol": "sqs", "sns:Endpoint": QUEUE}),
    ("sns:Publish", "{runs}", {}),
    ("execute-api:Invoke", "{api}/DELETE/executions", {}),
    ("execute-api:Invoke", f"arn:aws:execute-api:{ARN}:another-api/prod/POST/executions", {}),
    ("cloudwatch:SetAlarmState", f"arn:aws:cloudwatch:{ARN}:alarm:someone-elses-alarm", {}),
    ("states:StartExecution", "{machine}", {}),
    ("states:ListMapRuns", OTHER_EXECUTION, {}),
    ("states:DescribeMapRun", OTHER_MAP_RUN, {}),
    ("ssm:GetParameter", f"arn:aws:ssm:{ARN}:parameter/database/password", {}),
    ("cloudformation:DescribeStacks", f"arn:aws:cloudformation:{ARN}:stack/another-stack/0a1b2c3d", {}),
    ("ec2:DescribeAvailabilityZones", "*", {"aws:RequestedRegion": "eu-west-1"}),
]


@pytest.mark.parametrize(
    ("action", "resource", "context"), SMOKE_CALLS + PREFLIGHT_CALLS + SHOW_CALLS + LEDGER_READ_CALLS
)
def test_the_operator_role_may_make_each_call_of_smoke_preflight_and_the_ledger_reads(
    policies: TemplatePolicies, names: dict[str, str], action: str, resource: str, context: dict[str, Any]
) -> None:
    # Given a call that `pipeline smoke`, `pipeline preflight`, `pipeline show` or a ledger read makes
    # When AWS decides it for a session of the operator role
    # Then it is allowed
    assert allowed(policies, names, action, resource, **context)


@pytest.mark.parametrize(("action", "resource", "context"), NEIGHBOURS)
def test_the_operator_role_may_not_reach_past_what_the_commands_use(
    policies: TemplatePolicies, names: dict[str, str], action: str, resource: str, context: dict[str, Any]
) -> None:
    # Given a call next to one of the grants: another prefix, queue, protocol, route, alarm, action or
    # state machine
    # When AWS decides it for a session of the operator role
    # Then it is denied
    assert not allowed(policies, names, action, resource, **context)


def test_the_operator_role_may_set_the_state_of_every_alarm_of_the_stack(
    policies: TemplatePolicies, names: dict[str, str], template: dict[str, Any]
) -> None:
    # Given the stack's alarms (smoke toggles whichever has been quiet the longest)
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    assert alarms
    # When AWS decides SetAlarmState on each / Then each is allowed
    for alarm in alarms:
        assert allowed(policies, names, "cloudwatch:SetAlarmState", f"arn:aws:cloudwatch:{ARN}:alarm:{alarm}"), alarm
