"""Constructs on their own, each on a bare ``Stack()``: fast feedback without the whole stack's synth.

The whole-template tests (test_stack.py) keep the properties that span constructs; these pin what
one construct promises, whatever the stack around it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Capture, Match, Template

from stacks.api import PipelineApi
from stacks.config import ApiThrottling, CloudWatchRole
from stacks.log_groups import LogGroups
from stacks.network import PipelineNetwork
from stacks.roles import ServiceRole
from stacks.storage import ACCESS_LOG_PREFIX, PipelineBucket
from stacks.triggers import DELIVERY_MAX_AGE, DELIVERY_RETRIES, S3Trigger
from tasks.common.layout import INCOMING_PREFIX, STAGING_PREFIX
from workflow.executions import REDRIVE_WINDOW

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:Pipeline"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:undelivered"
BUCKET_NAME = "pipeline-bucket"
CDK_JSON = Path(__file__).resolve().parents[2] / "cdk.json"


def bare_stack() -> Stack:
    """An empty stack in an app with cdk.json's context: the feature flags the real app runs with."""
    return Stack(App(context=json.loads(CDK_JSON.read_text())["context"]), "Test")


def test_a_service_role_keeps_every_statement_in_its_one_managed_policy() -> None:
    # Given a service role allowed one action, and a grant attempted through the role it hands out
    stack = bare_stack()
    role = ServiceRole(stack, "Worker", service="lambda.amazonaws.com", description="Does the work")
    role.allow(sid="ReadSources", actions=["s3:GetObject"], resources=["arn:aws:s3:::pipeline-bucket/incoming/*"])
    s3.Bucket.from_bucket_name(stack, "Other", "other-bucket").grant_read(role.role)
    # When the stack is synthesized
    template = Template.from_stack(stack)
    # Then the role trusts the service only
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [Match.object_like({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}})]
            }
        },
    )
    # And its one managed policy holds exactly the statement written, the grant adding nothing
    role_ref = Capture()
    template.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "Roles": [{"Ref": role_ref}],
            "PolicyDocument": {
                "Statement": [
                    {
                        "Sid": "ReadSources",
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::pipeline-bucket/incoming/*",
                    }
                ]
            },
        },
    )
    assert role_ref.as_string() in template.find_resources("AWS::IAM::Role")
    template.resource_count_is("AWS::IAM::Policy", 0)


@pytest.mark.parametrize("both", [False, True], ids=["neither", "both"])
def test_a_service_role_is_for_a_service_or_a_principal_exactly_one(both: bool) -> None:
    # Given a role asked for with neither a service nor a principal, or with both
    stack = bare_stack()
    trusted = {"service": "lambda.amazonaws.com", "principal": iam.AccountRootPrincipal()} if both else {}
    # When it is created
    # Then it is refused
    with pytest.raises(ValueError, match="exactly one"):
        ServiceRole(stack, "Role", description="A role", **trusted)


def test_the_pipeline_bucket_is_private_versioned_retained_and_tells_eventbridge() -> None:
    # Given the pipeline's storage keeping its access logs 7 days
    stack = bare_stack()
    PipelineBucket(stack, "Storage", log_retention_days=7)
    # When the stack is synthesized
    template = Template.from_stack(stack)
    # Then both buckets are SSE-S3, private, versioned and kept when the stack is deleted
    private = {
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
        "PublicAccessBlockConfiguration": dict.fromkeys(
            ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
        ),
        "VersioningConfiguration": {"Status": "Enabled"},
    }
    buckets = template.find_resources("AWS::S3::Bucket", {"Properties": private, "DeletionPolicy": "Retain"})
    assert len(buckets) == 2
    # And the pipeline bucket sends its events to EventBridge and its access logs to the other bucket
    logs_bucket = Capture()
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}},
            "LoggingConfiguration": {
                "DestinationBucketName": {"Ref": logs_bucket},
                "LogFilePrefix": ACCESS_LOG_PREFIX,
            },
            # Noncurrent versions and abandoned uploads expire; so do staged objects a run left behind.
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                            }
                        ),
                        Match.object_like({"Prefix": STAGING_PREFIX, "ExpirationInDays": Match.any_value()}),
                    ]
                )
            },
        },
    )
    # And the access logs are kept as long as the logs of the rest of the stack
    access_logs = template.find_resources("AWS::S3::Bucket")[logs_bucket.as_string()]
    (rule,) = access_logs["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 7
    # And each bucket refuses requests that do not use TLS
    template.resource_properties_count_is(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
        2,
    )


def test_staged_output_outlives_the_redrive_window_and_then_leaves_nothing_behind() -> None:
    # Given the pipeline's storage
    stack = bare_stack()
    PipelineBucket(stack, "Storage", log_retention_days=7)
    # When the stack is synthesized
    template = Template.from_stack(stack)
    rules = [
        rule
        for body in template.find_resources("AWS::S3::Bucket").values()
        for rule in body["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
        if rule.get("Prefix") == STAGING_PREFIX
    ]
    # Then staged objects expire only after a failed run can no longer be redriven
    (expiring,) = [rule for rule in rules if "ExpirationInDays" in rule]
    assert expiring["ExpirationInDays"] > REDRIVE_WINDOW.days
    # And once expired, their bytes go a day later instead of staying 30 days as noncurrent versions
    assert expiring["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    # And the delete markers the expiry left are removed
    assert [rule["ExpiredObjectDeleteMarker"] for rule in rules if "ExpiredObjectDeleteMarker" in rule] == [True]
    assert all(rule["Status"] == "Enabled" for rule in rules)


def test_the_s3_trigger_starts_a_run_for_objects_created_under_incoming_only_folders_excepted() -> None:
    # Given the S3 trigger of a bucket, a state machine and a dead-letter queue that exist already
    stack = bare_stack()
    S3Trigger(
        stack,
        "S3Trigger",
        bucket=s3.Bucket.from_bucket_name(stack, "Bucket", BUCKET_NAME),
        state_machine=sfn.StateMachine.from_state_machine_arn(stack, "Machine", STATE_MACHINE_ARN),
        dead_letter_queue=sqs.Queue.from_queue_arn(stack, "Undelivered", QUEUE_ARN),
    )
    # When the stack is synthesized
    template = Template.from_stack(stack)
    # Then its rule matches Object Created events of that bucket under incoming/, but for "folders"
    # (zero-byte keys ending in "/")
    events_role = Capture()
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.exact(
                {
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created"],
                    "detail": {
                        "bucket": {"name": [BUCKET_NAME]},
                        "object": {"key": [{"prefix": INCOMING_PREFIX}]},
                        "$or": [
                            {"object": {"key": [{"anything-but": {"suffix": "/"}}]}},
                            {"object": {"size": [{"numeric": [">", 0]}]}},
                        ],
                    },
                }
            ),
            # And its one target starts the state machine with the object's pinned version, retrying
            # delivery for a day before parking the event in the dead-letter queue
            "Targets": [
                Match.object_like(
                    {
                        "Arn": STATE_MACHINE_ARN,
                        "RoleArn": {"Fn::GetAtt": [events_role, "Arn"]},
                        "DeadLetterConfig": {"Arn": QUEUE_ARN},
                        "RetryPolicy": {
                            "MaximumRetryAttempts": DELIVERY_RETRIES,
                            "MaximumEventAgeInSeconds": DELIVERY_MAX_AGE.to_seconds(),
                        },
                        "InputTransformer": Match.object_like(
                            {
                                "InputPathsMap": {
                                    "detail-bucket-name": "$.detail.bucket.name",
                                    "detail-object-key": "$.detail.object.key",
                                    "detail-object-version-id": "$.detail.object.version-id",
                                },
                                "InputTemplate": Match.string_like_regexp('"trigger":"s3"'),
                            }
                        ),
                    }
                )
            ],
        },
    )
    # And EventBridge's role may start that state machine and nothing else
    template.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "Roles": [{"Ref": events_role.as_string()}],
            "PolicyDocument": {
                "Statement": [{"Effect": "Allow", "Action": "states:StartExecution", "Resource": STATE_MACHINE_ARN}]
            },
        },
    )


def network_stack(**kwargs: Any) -> tuple[Stack, PipelineNetwork]:
    """The pipeline's network in a bare stack, with a bucket and log groups of its own."""
    stack = bare_stack()
    log_groups = LogGroups(retention=logs.RetentionDays.ONE_WEEK, key=kms.Key(stack, "Key"))
    bucket = s3.Bucket.from_bucket_name(stack, "Pipeline", BUCKET_NAME)
    return stack, PipelineNetwork(stack, "Network", bucket=bucket, log_groups=log_groups, **kwargs)


def test_the_network_puts_its_subnets_in_the_availability_zones_it_is_given() -> None:
    # Given the network asked for two named zones (the availabilityZones context)
    stack, _ = network_stack(availability_zones=("us-east-1b", "us-east-1d"))
    # When the stack is synthesized
    template = Template.from_stack(stack)
    # Then its subnets are in exactly those zones, none picked by Fn::GetAZs
    zones = [body["Properties"]["AvailabilityZone"] for body in template.find_resources("AWS::EC2::Subnet").values()]
    assert sorted(zones) == ["us-east-1b", "us-east-1d"]


def test_without_named_zones_the_network_takes_the_first_two_of_the_region() -> None:
    stack, _ = network_stack()
    template = Template.from_stack(stack)
    zones = [body["Properties"]["AvailabilityZone"] for body in template.find_resources("AWS::EC2::Subnet").values()]
    assert len(zones) == 2
    assert all("Fn::GetAZs" in json.dumps(zone) for zone in zones)


def test_the_interface_endpoints_admit_https_from_the_functions_only_not_the_whole_vpc() -> None:
    # Given the pipeline's network
    stack, network = network_stack()
    # When the stack is synthesized
    template = Template.from_stack(stack)
    functions = stack.resolve(network.functions_security_group.security_group_id)
    # Then the interface endpoints' security group has no address-range ingress at all
    endpoints = {
        name: body
        for name, body in template.find_resources("AWS::EC2::VPCEndpoint").items()
        if body["Properties"].get("VpcEndpointType") == "Interface"
    }
    assert len(endpoints) == 2
    (group_ids,) = {json.dumps(body["Properties"]["SecurityGroupIds"]) for body in endpoints.values()}
    (group,) = json.loads(group_ids)
    group_name = group["Fn::GetAtt"][0]
    inline = template.find_resources("AWS::EC2::SecurityGroup")[group_name]["Properties"]
    assert "SecurityGroupIngress" not in inline
    # And its one ingress rule is HTTPS from the functions' security group
    ingress = [
        body["Properties"]
        for body in template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if body["Properties"]["GroupId"] == group
    ]
    assert ingress == [
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "GroupId": group,
            "SourceSecurityGroupId": functions,
            "Description": "HTTPS from the functions",
        }
    ]


@pytest.mark.parametrize("role", list(CloudWatchRole))
def test_the_api_sets_the_accounts_cloudwatch_role_only_when_asked_and_logs_either_way(role: CloudWatchRole) -> None:
    # Given the API in front of a state machine, told who sets the account's CloudWatch role
    stack = bare_stack()
    start = sfn.Pass(stack, "Start")
    machine = sfn.StateMachine(stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(start))
    log_groups = LogGroups(retention=logs.RetentionDays.ONE_WEEK, key=kms.Key(stack, "Key"))
    bucket = s3.Bucket.from_bucket_name(stack, "Pipeline", BUCKET_NAME)
    PipelineApi(
        stack,
        "Api",
        state_machine=machine,
        bucket=bucket,
        log_groups=log_groups,
        throttling=ApiThrottling(),
        cloud_watch_role=role,
    )
    # When the stack is synthesized
    template = Template.from_stack(stack)
    # Then the account setting, and the role for it, exist only when the stack is to create them
    accounts = template.find_resources("AWS::ApiGateway::Account")
    assert len(accounts) == (1 if role is CloudWatchRole.CREATE else 0)
    setting_roles = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"Description": Match.string_like_regexp("API Gateway account setting")}}
    )
    assert len(setting_roles) == len(accounts)
    ((stage_name, stage),) = template.find_resources("AWS::ApiGateway::Stage").items()
    # (the stage waits for the setting it needs)
    assert set(accounts) <= set(stage["DependsOn"])
    # And the stage writes access logs and error logs either way
    assert "AccessLogSetting" in stage["Properties"], stage_name
    (settings,) = stage["Properties"]["MethodSettings"]
    assert settings["LoggingLevel"] == "ERROR"
