"""The pipeline's AWS calls as the authorization requests AWS makes for them."""

from __future__ import annotations

from typing import Any

import pytest

from workflow.local.iam.evaluation import Policy, evaluate
from workflow.local.iam.requests import Caller, Check, KnownResources, UnmappedCall, checks_for_call, role_assumption

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/TasksValidateRole"
BUCKET = "pipeline"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:Runs"
PLAIN_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:Plain"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:Undelivered"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/Messages"
RULE = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/SystemFailure"
ALARM = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:ExecutionsFailed"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:Workflow"
RESOURCES = KnownResources(ACCOUNT, REGION, topic_keys={TOPIC: KEY}, queue_keys={QUEUE: KEY})
FUNCTION = Caller.role_session(ROLE, "TasksValidate")


def checks(service: str, operation: str, caller: Caller = FUNCTION, **params: Any) -> tuple[Check, ...]:
    return checks_for_call(caller, service, operation, params, RESOURCES)


def actions_on(found: tuple[Check, ...]) -> list[tuple[str, str]]:
    return [(check.request.action, check.request.resource) for check in found]


def key(check: Check, name: str) -> tuple[str, ...] | None:
    return check.request.values(name)


# -- S3 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("HeadObject", {"Key": "incoming/a.csv"}, [("s3:GetObject", "arn:aws:s3:::pipeline/incoming/a.csv")]),
        # with a version, only s3:GetObjectVersion is needed (GetObject's API reference)
        (
            "HeadObject",
            {"Key": "incoming/a.csv", "VersionId": "v1"},
            [("s3:GetObjectVersion", "arn:aws:s3:::pipeline/incoming/a.csv")],
        ),
        (
            "GetObject",
            {"Key": "incoming/a.csv", "VersionId": "v1", "Range": "bytes=0-65535", "IfMatch": '"etag"'},
            [("s3:GetObjectVersion", "arn:aws:s3:::pipeline/incoming/a.csv")],
        ),
        (
            "GetObject",
            {"Key": "staging/x/data.jsonl"},
            [("s3:GetObject", "arn:aws:s3:::pipeline/staging/x/data.jsonl")],
        ),
        (
            "PutObject",
            {"Key": "processed/m.json", "Body": b"{}"},
            [("s3:PutObject", "arn:aws:s3:::pipeline/processed/m.json")],
        ),
        ("CreateMultipartUpload", {"Key": "staging/d"}, [("s3:PutObject", "arn:aws:s3:::pipeline/staging/d")]),
        (
            "UploadPart",
            {"Key": "staging/d", "UploadId": "u", "PartNumber": 1},
            [("s3:PutObject", "arn:aws:s3:::pipeline/staging/d")],
        ),
        (
            "CompleteMultipartUpload",
            {"Key": "staging/d", "UploadId": "u"},
            [("s3:PutObject", "arn:aws:s3:::pipeline/staging/d")],
        ),
        (
            "AbortMultipartUpload",
            {"Key": "staging/d", "UploadId": "u"},
            [("s3:AbortMultipartUpload", "arn:aws:s3:::pipeline/staging/d")],
        ),
        # a copy reads its source and writes its target
        (
            "CopyObject",
            {"Key": "processed/d", "CopySource": {"Bucket": BUCKET, "Key": "staging/d"}},
            [
                ("s3:GetObject", "arn:aws:s3:::pipeline/staging/d"),
                ("s3:PutObject", "arn:aws:s3:::pipeline/processed/d"),
            ],
        ),
        # ...whether the SDK was given a dict or the header's text (encoded key, a version)
        (
            "UploadPartCopy",
            {
                "Key": "processed/d",
                "UploadId": "u",
                "PartNumber": 1,
                "CopySource": "/pipeline/staging/a%20b.csv?versionId=v2",
            },
            [
                ("s3:GetObjectVersion", "arn:aws:s3:::pipeline/staging/a b.csv"),
                ("s3:PutObject", "arn:aws:s3:::pipeline/processed/d"),
            ],
        ),
        ("ListObjectsV2", {"Prefix": "incoming/"}, [("s3:ListBucket", "arn:aws:s3:::pipeline")]),
    ],
)
def test_s3_operations_ask_for_the_documented_action_on_the_object_or_bucket(
    operation: str, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert actions_on(checks("s3", operation, Bucket=BUCKET, **params)) == expected


def test_every_request_of_a_role_carries_the_global_keys_aws_sets() -> None:
    (check,) = checks("s3", "GetObject", Bucket=BUCKET, Key="incoming/a.csv")

    assert key(check, "aws:SecureTransport") == ("true",)
    assert key(check, "aws:PrincipalArn") == (ROLE,)
    assert key(check, "aws:PrincipalAccount") == (ACCOUNT,)
    assert key(check, "aws:PrincipalIsAWSService") == ("false",)
    assert key(check, "aws:RequestedRegion") == (REGION,)
    assert check.request.principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/TasksValidateRole/TasksValidate"
    assert check.via is None


def test_a_versioned_read_carries_the_version_id_key() -> None:
    (check,) = checks("s3", "HeadObject", Bucket=BUCKET, Key="incoming/a.csv", VersionId="v1")

    assert key(check, "s3:VersionId") == ("v1",)


def test_a_write_carries_the_encryption_storage_class_and_conditional_write_keys() -> None:
    # Given Notify's conditional claim of its marker object
    params = {
        "Key": "processed/n.json",
        "IfNoneMatch": "*",
        "ServerSideEncryption": "AES256",
        "StorageClass": "STANDARD",
    }

    # When mapped
    (check,) = checks("s3", "PutObject", Bucket=BUCKET, **params)

    # Then the bucket policy could condition on each header
    assert key(check, "s3:x-amz-server-side-encryption") == ("AES256",)
    assert key(check, "s3:x-amz-storage-class") == ("STANDARD",)
    assert key(check, "s3:if-none-match") == ("*",)
    assert key(check, "s3:ObjectCreationOperation") == ("PutObject",)
    assert key(check, "s3:x-amz-server-side-encryption-customer-algorithm") is None


def test_a_copy_carries_its_source_and_metadata_directive_on_the_write() -> None:
    params = {
        "Key": "processed/d",
        "CopySource": {"Bucket": BUCKET, "Key": "staging/d"},
        "MetadataDirective": "REPLACE",
    }

    read, write = checks("s3", "CopyObject", Bucket=BUCKET, **params)

    assert key(write, "s3:x-amz-copy-source") == ("pipeline/staging/d",)
    assert key(write, "s3:x-amz-metadata-directive") == ("REPLACE",)
    assert key(write, "s3:ObjectCreationOperation") == ("CopyObject",)
    assert key(read, "s3:x-amz-copy-source") is None


@pytest.mark.parametrize(("params", "prefix"), [({"Prefix": "incoming/"}, "incoming/"), ({}, "")])
def test_a_listing_carries_its_prefix_and_the_empty_prefix_when_none_is_given(
    params: dict[str, Any], prefix: str
) -> None:
    (check,) = checks("s3", "ListObjectsV2", Bucket=BUCKET, **params)

    assert key(check, "s3:prefix") == (prefix,)


def test_a_listing_outside_the_granted_prefix_is_denied_by_the_role_policy_the_stack_writes() -> None:
    # Given the listing statement every task role carries
    role_policy = Policy(
        "TasksValidateRolePolicy",
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": "arn:aws:s3:::pipeline",
                    "Condition": {"StringLike": {"s3:prefix": ["incoming/*"]}},
                }
            ]
        },
    )

    # When the function lists under incoming/, and the whole bucket
    (inside,) = checks("s3", "ListObjectsV2", Bucket=BUCKET, Prefix="incoming/x")
    (everything,) = checks("s3", "ListObjectsV2", Bucket=BUCKET)

    # Then only the first is allowed
    assert evaluate(inside.request, identity=[role_policy]).allowed
    assert not evaluate(everything.request, identity=[role_policy]).allowed


# -- SNS, SQS, Step Functions, Lambda ------------------------------------------------------------


def test_publishing_to_an_encrypted_topic_needs_the_key_through_sns_with_the_topic_as_context() -> None:
    # When a role publishes to the KMS-encrypted topic
    publish, data_key, decrypt = checks("sns", "Publish", TopicArn=TOPIC, Message="m")

    # Then SNS asks KMS for a data key and to decrypt it, for the caller, naming the topic
    assert actions_on((publish, data_key, decrypt)) == [
        ("sns:Publish", TOPIC),
        ("kms:GenerateDataKey", KEY),
        ("kms:Decrypt", KEY),
    ]
    assert publish.via is None
    assert data_key.via == "sns"
    assert key(data_key, "kms:EncryptionContext:aws:sns:topicArn") == (TOPIC,)
    assert key(data_key, "kms:EncryptionContextKeys") == ("aws:sns:topicArn",)
    assert key(data_key, "kms:ViaService") == (f"sns.{REGION}.amazonaws.com",)
    assert key(data_key, "kms:CallerAccount") == (ACCOUNT,)
    assert data_key.request.principal == publish.request.principal


def test_publishing_to_an_unencrypted_topic_needs_only_sns_publish() -> None:
    assert actions_on(checks("sns", "Publish", TopicArn=PLAIN_TOPIC, Message="m")) == [("sns:Publish", PLAIN_TOPIC)]


@pytest.mark.parametrize(
    ("service", "source", "kms_carries_source"),
    [
        ("cloudwatch.amazonaws.com", ALARM, True),
        # review finding 10: EventBridge's delivery reaches KMS without the source keys
        ("events.amazonaws.com", RULE, False),
    ],
)
def test_a_service_publishing_for_a_resource_carries_its_source_and_asks_kms_as_itself(
    service: str, source: str, kms_carries_source: bool
) -> None:
    caller = Caller.service(service, source_arn=source, source_account=ACCOUNT)

    publish, data_key, _ = checks("sns", "Publish", caller, TopicArn=TOPIC, Message="m")

    assert publish.request.principal.service == service
    assert key(publish, "aws:SourceArn") == (source,)
    assert key(publish, "aws:SourceAccount") == (ACCOUNT,)
    assert key(publish, "aws:PrincipalServiceName") == (service,)
    assert key(publish, "aws:PrincipalArn") is None
    assert data_key.request.principal.service == service
    assert (key(data_key, "aws:SourceAccount") is not None) is kms_carries_source
    assert key(data_key, "kms:ViaService") is None


def test_sending_to_the_dead_letter_queue_names_the_queue_arn_and_its_key() -> None:
    caller = Caller.service("events.amazonaws.com", source_arn=RULE, source_account=ACCOUNT)
    url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/Undelivered"

    send, data_key, decrypt = checks("sqs", "SendMessage", caller, QueueUrl=url, MessageBody="e")

    assert actions_on((send, data_key, decrypt)) == [
        ("sqs:SendMessage", QUEUE),
        ("kms:GenerateDataKey", KEY),
        ("kms:Decrypt", KEY),
    ]
    assert key(data_key, "kms:EncryptionContext:aws:sqs:arn") == (QUEUE,)


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        (
            "StartExecution",
            {"stateMachineArn": MACHINE, "name": "n", "input": "{}"},
            ("states:StartExecution", MACHINE),
        ),
        (
            "DescribeExecution",
            {"executionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:Workflow:n"},
            ("states:DescribeExecution", f"arn:aws:states:{REGION}:{ACCOUNT}:execution:Workflow:n"),
        ),
    ],
)
def test_step_functions_calls_ask_for_their_action_on_the_machine_or_execution(
    operation: str, params: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert actions_on(checks("stepfunctions", operation, **params)) == [expected]


FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:TasksValidate"


@pytest.mark.parametrize(
    ("params", "resource"),
    [
        ({"FunctionName": f"{FUNCTION_ARN}:live"}, f"{FUNCTION_ARN}:live"),  # the workflow's alias ARNs
        ({"FunctionName": FUNCTION_ARN}, FUNCTION_ARN),
        ({"FunctionName": "TasksValidate", "Qualifier": "live"}, f"{FUNCTION_ARN}:live"),
        ({"FunctionName": "TasksValidate:live"}, f"{FUNCTION_ARN}:live"),
        ({"FunctionName": f"{ACCOUNT}:function:TasksValidate"}, FUNCTION_ARN),
    ],
)
def test_an_invoke_is_authorized_on_the_function_arn_with_its_qualifier(params: dict[str, Any], resource: str) -> None:
    assert actions_on(checks("lambda", "Invoke", **params)) == [("lambda:InvokeFunction", resource)]


def test_a_role_assumption_is_checked_as_the_service_for_its_source() -> None:
    caller = Caller.service("events.amazonaws.com", source_arn=RULE, source_account=ACCOUNT)

    check = role_assumption(caller, ROLE, RESOURCES)

    assert (check.request.action, check.request.resource) == ("sts:AssumeRole", ROLE)
    assert key(check, "aws:SourceArn") == (RULE,)


# -- refused, loudly -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "operation", "params", "complaint"),
    [
        ("s3", "DeleteObject", {"Bucket": BUCKET, "Key": "k"}, "does not know what s3 DeleteObject asks IAM"),
        ("kms", "Decrypt", {"CiphertextBlob": b"x"}, "does not know what kms Decrypt asks IAM"),
        ("s3", "PutObject", {"Bucket": BUCKET, "Key": "k", "ServerSideEncryption": "aws:kms"}, "SSE-KMS"),
        ("sns", "Publish", {"PhoneNumber": "+15555550100", "Message": "m"}, "phone number"),
        ("s3", "GetObject", {"Bucket": BUCKET}, "no Key"),
        ("sqs", "SendMessage", {"QueueUrl": "https://sqs.example/q", "MessageBody": "m"}, "not a queue URL"),
    ],
)
def test_a_call_the_model_cannot_authorize_is_refused_naming_it(
    service: str, operation: str, params: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(UnmappedCall, match=complaint):
        checks_for_call(FUNCTION, service, operation, params, RESOURCES)
