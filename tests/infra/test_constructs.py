"""Constructs on their own, each on a bare ``Stack()``: fast feedback without the whole stack's synth.

The whole-template tests (test_stack.py) keep the properties that span constructs; these pin what
one construct promises, whatever the stack around it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Capture, Match, Template

from stacks.roles import ServiceRole
from stacks.storage import ACCESS_LOG_PREFIX, PipelineBucket
from stacks.triggers import DELIVERY_MAX_AGE, DELIVERY_RETRIES, S3Trigger
from tasks.common.layout import INCOMING_PREFIX, STAGING_PREFIX

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
                        Match.object_like({"Prefix": STAGING_PREFIX, "ExpirationInDays": 2}),
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
