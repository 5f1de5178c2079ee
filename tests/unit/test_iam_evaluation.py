"""AWS's policy evaluation logic, case by case as the IAM and KMS documentation states it.

Each test names the documented rule it checks; the pages are cited in the module under test
(workflow/local/iam/evaluation.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from workflow.local.iam.evaluation import (
    ContextValue,
    Decision,
    Policy,
    PolicyError,
    PolicyKind,
    Principal,
    Request,
    evaluate,
)

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Reader"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Writer"
READER = Principal.role_session(ROLE, "reader-session")
BUCKET = "arn:aws:s3:::pipeline"
OBJECT = f"{BUCKET}/incoming/a.csv"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:runs"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/messages"
RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/SystemFailure"
ALARM = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:ExecutionsFailed"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def policy(*statements: dict[str, Any], name: str = "policy") -> Policy:
    return Policy(name, {"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def request(
    action: str = "s3:GetObject",
    resource: str = OBJECT,
    principal: Principal = READER,
    **context: ContextValue,
) -> Request:
    return Request(principal, action, resource, {key.replace("__", ":"): value for key, value in context.items()})


# -- allow, deny, and who decides ----------------------------------------------------------------


def test_nothing_allows_so_the_request_is_implicitly_denied_by_the_identity_policies() -> None:
    # Given a role whose only policy is about another action
    identity = [policy(allow("s3:PutObject", OBJECT))]

    # When it reads the object
    verdict = evaluate(request(), identity=identity)

    # Then AWS's default applies, and the message says which kind of policy did not allow it
    assert verdict.decision is Decision.IMPLICIT_DENY
    assert verdict.statement is None
    assert verdict.message() == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/Reader/reader-session is not authorized to perform: "
        f"s3:GetObject on resource: {OBJECT} because no identity-based policy allows the s3:GetObject action"
    )


def test_an_identity_policy_allow_is_enough_within_one_account() -> None:
    # Given a role allowed to read and a bucket policy that says nothing about it
    identity = [policy(allow("s3:GetObject", f"{BUCKET}/incoming/*"), name="ReaderPolicy")]
    bucket_policy = policy(
        deny("s3:*", [BUCKET, f"{BUCKET}/*"], Principal="*", Condition={"Bool": {"aws:SecureTransport": "false"}})
    )

    # When it reads over TLS
    verdict = evaluate(request(aws__SecureTransport=True), identity=identity, resource=bucket_policy)

    # Then the identity policy's statement allowed it
    assert verdict.allowed
    assert verdict.kind is PolicyKind.IDENTITY
    assert str(verdict.statement) == "statement #1 of ReaderPolicy"


@pytest.mark.parametrize("named", [ROLE, f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/reader-session"])
def test_a_resource_policy_naming_the_role_or_its_session_is_enough_without_any_identity_policy(named: str) -> None:
    # Given a bucket policy that names the role (or the session) and no identity policy
    bucket_policy = policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": named}, Sid="ReaderMayRead"))

    # When the role reads
    verdict = evaluate(request(), resource=bucket_policy)

    # Then the resource policy alone allowed it
    assert verdict.allowed
    assert verdict.kind is PolicyKind.RESOURCE
    assert verdict.statement is not None
    assert verdict.statement.sid == "ReaderMayRead"


def test_a_resource_policy_naming_another_role_does_not_allow() -> None:
    bucket_policy = policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": OTHER_ROLE}))

    verdict = evaluate(request(), resource=bucket_policy)

    assert verdict.decision is Decision.IMPLICIT_DENY


@pytest.mark.parametrize("account", [ROOT, ACCOUNT])
def test_a_resource_policy_naming_the_account_delegates_to_the_identity_policies(account: str) -> None:
    # Given a bucket policy that allows the account (root ARN or bare account id)
    bucket_policy = policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": account}))

    # When a role without any identity policy reads, and then one whose identity policy allows
    alone = evaluate(request(), resource=bucket_policy)
    granted = evaluate(request(), identity=[policy(allow("s3:GetObject"))], resource=bucket_policy)

    # Then the account statement granted nothing by itself: the identity policy decided
    assert alone.decision is Decision.IMPLICIT_DENY
    assert alone.kind is PolicyKind.IDENTITY
    assert granted.allowed
    assert granted.kind is PolicyKind.IDENTITY


def test_a_deny_naming_the_account_applies_to_its_roles() -> None:
    bucket_policy = policy(deny("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ROOT}))

    verdict = evaluate(request(), identity=[policy(allow("s3:*"))], resource=bucket_policy)

    assert verdict.decision is Decision.EXPLICIT_DENY
    assert verdict.kind is PolicyKind.RESOURCE


@pytest.mark.parametrize(
    ("identity", "resource"),
    [
        # the deny is in the resource policy, the allow in the identity policy
        ([policy(allow("s3:*"))], policy(deny("s3:GetObject", OBJECT, Principal="*"), name="BucketPolicy")),
        # the deny is in the identity policy, the allow in the resource policy
        ([policy(deny("s3:GetObject", OBJECT))], policy(allow("s3:*", "*", Principal={"AWS": ROLE}))),
        # both in one identity policy, the allow first
        ([policy(allow("s3:*"), deny("s3:Get*", OBJECT))], None),
        # in two identity policies
        ([policy(allow("s3:GetObject")), policy(deny("*"))], None),
    ],
)
def test_an_explicit_deny_anywhere_wins_over_any_allow(identity: list[Policy], resource: Policy | None) -> None:
    verdict = evaluate(request(), identity=identity, resource=resource)

    assert verdict.decision is Decision.EXPLICIT_DENY


def test_an_explicit_deny_names_its_statement_in_the_message() -> None:
    # Given the TLS-only statement CDK writes into topic policies
    topic_policy = policy(
        deny(
            "sns:Publish",
            TOPIC,
            Principal="*",
            Sid="AllowPublishThroughSSLOnly",
            Condition={"Bool": {"aws:SecureTransport": "false"}},
        ),
        name="NotificationsRunsPolicy",
    )

    # When a role publishes over plain HTTP
    verdict = evaluate(
        request("sns:Publish", TOPIC, aws__SecureTransport=False),
        identity=[policy(allow("sns:Publish"))],
        resource=topic_policy,
    )

    # Then the deny decided, and the message names it the way AWS words it
    assert verdict.decision is Decision.EXPLICIT_DENY
    assert verdict.message().endswith(
        "with an explicit deny in a resource-based policy: "
        "statement 'AllowPublishThroughSSLOnly' of NotificationsRunsPolicy"
    )


# -- Action, NotAction, Resource, NotResource, wildcards -----------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("s3:GetObject", "s3:GetObject", True),
        ("S3:getobject", "s3:GetObject", True),  # actions are case-insensitive
        ("s3:Get*", "s3:GetObjectVersion", True),
        ("s3:*Object", "s3:PutObject", True),
        ("s3:?etObject", "s3:GetObject", True),
        ("s3:?etObject", "s3:GGetObject", False),  # ? is exactly one character
        ("sqs:SendMessage*", "sqs:SendMessageBatch", True),
        ("*", "sqs:SendMessage", True),
        ("s3:Get*", "sns:GetTopicAttributes", False),
    ],
)
def test_action_patterns_match_case_insensitively_with_wildcards(pattern: str, action: str, matches: bool) -> None:
    verdict = evaluate(request(action), identity=[policy(allow(pattern))])

    assert verdict.allowed is matches


@pytest.mark.parametrize(
    ("pattern", "resource", "matches"),
    [
        (f"{BUCKET}/incoming/*", f"{BUCKET}/incoming/a.csv", True),
        (f"{BUCKET}/incoming/*", f"{BUCKET}/incoming/deep/a/b.csv", True),  # * crosses "/"
        (f"{BUCKET}/incoming/*", f"{BUCKET}/processed/a.csv", False),
        (f"{BUCKET}/Incoming/*", f"{BUCKET}/incoming/a.csv", False),  # resources are case-sensitive
        (f"{BUCKET}/incoming/?.csv", f"{BUCKET}/incoming/a.csv", True),
        (f"{BUCKET}/incoming/?.csv", f"{BUCKET}/incoming/ab.csv", False),
        (
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:Validate",
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:Validate:live",
            False,
        ),
        (
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:Validate:*",
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:Validate:live",
            True,
        ),
        ("*", f"{BUCKET}/x", True),
    ],
)
def test_resource_patterns_match_case_sensitively_with_wildcards(pattern: str, resource: str, matches: bool) -> None:
    verdict = evaluate(request(resource=resource), identity=[policy(allow("s3:GetObject", pattern))])

    assert verdict.allowed is matches


def test_not_action_allows_every_action_but_those_listed() -> None:
    # Given an allow of everything except deleting
    identity = [policy({"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"})]

    # When reading and deleting
    read = evaluate(request("s3:GetObject"), identity=identity)
    delete = evaluate(request("s3:DeleteObject"), identity=identity)

    # Then only the listed action is left out
    assert read.allowed
    assert delete.decision is Decision.IMPLICIT_DENY


def test_not_action_in_a_deny_denies_everything_but_those_listed() -> None:
    identity = [policy(allow("*"), {"Effect": "Deny", "NotAction": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"})]

    assert evaluate(request("s3:GetObject"), identity=identity).allowed
    assert evaluate(request("s3:PutObject"), identity=identity).decision is Decision.EXPLICIT_DENY


def test_not_resource_applies_to_every_resource_but_those_listed() -> None:
    # Given a deny of reads anywhere but under incoming/
    identity = [
        policy(
            allow("s3:GetObject"), {"Effect": "Deny", "Action": "s3:GetObject", "NotResource": f"{BUCKET}/incoming/*"}
        )
    ]

    # When reading inside and outside that prefix
    inside = evaluate(request(resource=f"{BUCKET}/incoming/a.csv"), identity=identity)
    outside = evaluate(request(resource=f"{BUCKET}/processed/a.csv"), identity=identity)

    # Then only the object outside it is denied
    assert inside.allowed
    assert outside.decision is Decision.EXPLICIT_DENY


def test_not_principal_in_a_deny_spares_only_the_listed_role_and_only_when_its_account_is_listed() -> None:
    bucket_policy = policy(
        {"Effect": "Deny", "NotPrincipal": {"AWS": [ROLE, ROOT]}, "Action": "s3:*", "Resource": f"{BUCKET}/*"}
    )
    identity = [policy(allow("s3:GetObject"))]
    writer = Principal.role_session(OTHER_ROLE, "writer")

    spared_without_account = policy(
        {"Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "Action": "s3:*", "Resource": f"{BUCKET}/*"}
    )

    assert evaluate(request(), identity=identity, resource=bucket_policy).allowed
    assert evaluate(request(), identity=identity, resource=spared_without_account).decision is Decision.EXPLICIT_DENY
    assert (
        evaluate(request(principal=writer), identity=identity, resource=bucket_policy).decision
        is Decision.EXPLICIT_DENY
    )


# -- condition operators -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "expected", "context", "holds"),
    [
        # String: exact and case-sensitive; a missing key makes a positive operator false...
        ("StringEquals", "a", {"k": "a"}, True),
        ("StringEquals", "a", {"k": "A"}, False),
        ("StringEquals", "a", {}, False),
        # ...and a negated one true
        ("StringNotEquals", "a", {}, True),
        ("StringNotEquals", "a", {"k": "a"}, False),
        ("StringNotEquals", "a", {"k": "b"}, True),
        # several values of one key are OR'ed, NOR'ed when negated
        ("StringEquals", ["a", "b"], {"k": "b"}, True),
        ("StringNotEquals", ["a", "b"], {"k": "b"}, False),
        ("StringNotEquals", ["a", "b"], {"k": "c"}, True),
        ("StringEqualsIgnoreCase", "ABC", {"k": "abc"}, True),
        ("StringNotEqualsIgnoreCase", "ABC", {"k": "abc"}, False),
        ("StringLike", "incoming/*", {"k": "incoming/a.csv"}, True),
        ("StringLike", "incoming/?.csv", {"k": "incoming/ab.csv"}, False),
        ("StringLike", "incoming/*", {"k": ""}, False),
        ("StringNotLike", "incoming/*", {}, True),
        ("StringNotLike", "incoming/*", {"k": "processed/a"}, True),
        # ARN: each of the six parts matched on its own, wildcards allowed in ArnEquals too
        ("ArnLike", f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:*", {"k": ALARM}, True),
        ("ArnEquals", f"arn:aws:events:*:{ACCOUNT}:rule/*", {"k": RULE}, True),
        ("ArnEquals", RULE, {"k": RULE}, True),
        ("ArnLike", "arn:aws:events:*", {"k": RULE}, False),  # fewer than six parts matches nothing
        ("ArnLike", f"arn:aws:events:us-east-1:{ACCOUNT}:rule/*", {"k": ALARM}, False),
        ("ArnLike", f"arn:aws:events:us-east-1:{ACCOUNT}:rule/*", {"k": "not-an-arn"}, False),
        ("ArnNotEquals", RULE, {}, True),
        ("ArnNotLike", f"arn:aws:events:us-east-1:{ACCOUNT}:rule/*", {"k": RULE}, False),
        # Bool: true/false, and false when the key is missing
        ("Bool", "false", {"k": False}, True),
        ("Bool", "false", {"k": True}, False),
        ("Bool", "true", {"k": "TRUE"}, True),
        ("Bool", "false", {}, False),
        ("Bool", True, {"k": True}, True),  # a JSON boolean in the policy
        # Null: "true" means the key is absent, "false" that it is present
        ("Null", "true", {}, True),
        ("Null", "true", {"k": "x"}, False),
        ("Null", "false", {"k": "x"}, True),
        ("Null", "false", {}, False),
        # Numeric
        ("NumericEquals", "10", {"k": 10}, True),
        ("NumericNotEquals", "10", {"k": "11"}, True),
        ("NumericLessThan", "10", {"k": "9.5"}, True),
        ("NumericLessThanEquals", "10", {"k": 10}, True),
        ("NumericGreaterThan", "10", {"k": 10}, False),
        ("NumericGreaterThanEquals", 10, {"k": "10"}, True),
        ("NumericLessThan", "10", {"k": "ten"}, False),
        ("NumericNotEquals", "10", {}, True),
        # Date: ISO 8601 or epoch seconds, either side
        ("DateGreaterThan", "2026-01-01T00:00:00Z", {"k": "2026-06-01T12:00:00Z"}, True),
        ("DateLessThan", "2026-01-01T00:00:00Z", {"k": "2026-06-01T12:00:00Z"}, False),
        ("DateEquals", "2026-01-01T00:00:00Z", {"k": "1767225600"}, True),
        ("DateLessThanEquals", "1767225600", {"k": "2025-12-31T23:59:59+00:00"}, True),
        ("DateGreaterThanEquals", "2026-01-01T00:00:00Z", {"k": "not a date"}, False),
        ("DateNotEquals", "2026-01-01T00:00:00Z", {"k": "2026-01-02T00:00:00Z"}, True),
        # ...IfExists: true when the key is absent, checked as usual when present
        ("StringEqualsIfExists", "a", {}, True),
        ("StringEqualsIfExists", "a", {"k": "b"}, False),
        ("StringEqualsIfExists", "a", {"k": "a"}, True),
        ("ArnLikeIfExists", "arn:aws:events:*:*:rule/*", {}, True),
        ("BoolIfExists", "false", {}, True),
        ("NumericLessThanIfExists", "5", {"k": "7"}, False),
        # ForAnyValue: one request value matching one policy value; false without the key
        ("ForAnyValue:StringEquals", ["a", "b"], {"k": ["x", "b"]}, True),
        ("ForAnyValue:StringEquals", ["a", "b"], {"k": ["x", "y"]}, False),
        ("ForAnyValue:StringEquals", ["a", "b"], {}, False),
        ("ForAnyValue:StringEquals", ["a", "b"], {"k": []}, False),
        ("ForAnyValue:StringNotLike", "key1*", {"k": ["key1:a", "key2:b"]}, True),
        # ForAllValues: every request value matching a policy value; true without the key
        ("ForAllValues:StringLike", "Created*", {"k": ["CreatedBy", "CreatedAt"]}, True),
        ("ForAllValues:StringLike", "Created*", {"k": ["CreatedBy", "Owner"]}, False),
        ("ForAllValues:StringLike", "Created*", {}, True),
        ("ForAllValues:StringLike", "Created*", {"k": []}, True),
        # the IAM guide's table for ForAllValues:StringNotLike "key1*" (a Deny: match = denied)
        ("ForAllValues:StringNotLike", "key1*", {"k": ["key1:legal"]}, False),
        ("ForAllValues:StringNotLike", "key1*", {"k": ["key1:hr", "key1:personnel"]}, False),
        ("ForAllValues:StringNotLike", "key1*", {"k": ["key2:audit"]}, True),
        ("ForAllValues:StringNotLike", "key1*", {}, True),
    ],
)
def test_condition_operators_follow_the_iam_reference(
    operator: str, expected: Any, context: dict[str, ContextValue], holds: bool
) -> None:
    # Given a statement that allows only under the condition
    identity = [policy(allow("s3:GetObject", Condition={operator: {"k": expected}}))]

    # When a request carries (or lacks) the key
    verdict = evaluate(Request(READER, "s3:GetObject", OBJECT, context), identity=identity)

    # Then the statement applies exactly when the condition holds
    assert verdict.allowed is holds


def test_condition_key_names_are_case_insensitive() -> None:
    identity = [policy(allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"S3:Prefix": "incoming/*"}}))]

    verdict = evaluate(request("s3:ListBucket", BUCKET, s3__prefix="incoming/a"), identity=identity)

    assert verdict.allowed


def test_all_keys_and_all_operators_of_a_condition_must_hold() -> None:
    # Given the confused-deputy statement AWS recommends: two keys under two operators
    condition = {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:*"},
    }
    topic_policy = policy(
        allow("sns:Publish", TOPIC, Principal={"Service": "cloudwatch.amazonaws.com"}, Condition=condition)
    )
    cloudwatch = Principal.aws_service("cloudwatch.amazonaws.com")

    # When CloudWatch publishes with both keys right, and with one of them wrong
    both = request("sns:Publish", TOPIC, cloudwatch, aws__SourceAccount=ACCOUNT, aws__SourceArn=ALARM)
    wrong_account = request("sns:Publish", TOPIC, cloudwatch, aws__SourceAccount="999999999999", aws__SourceArn=ALARM)

    # Then only the first is allowed
    assert evaluate(both, resource=topic_policy).allowed
    assert evaluate(wrong_account, resource=topic_policy).decision is Decision.IMPLICIT_DENY


# -- service principals and resource policies ----------------------------------------------------


def test_a_service_principal_is_allowed_only_by_a_resource_policy_that_names_it_and_matches_its_source() -> None:
    # Given a topic policy allowing EventBridge for one rule only
    topic_policy = policy(
        allow(
            "sns:Publish",
            TOPIC,
            Principal={"Service": "events.amazonaws.com"},
            Condition={"ArnEquals": {"aws:SourceArn": RULE}},
        ),
        name="RunsTopicPolicy",
    )
    events = Principal.aws_service("events.amazonaws.com")
    cloudwatch = Principal.aws_service("cloudwatch.amazonaws.com")

    # When EventBridge publishes for that rule, for another rule, and CloudWatch for an alarm
    from_rule = evaluate(request("sns:Publish", TOPIC, events, aws__SourceArn=RULE), resource=topic_policy)
    other_rule = evaluate(request("sns:Publish", TOPIC, events, aws__SourceArn=f"{RULE}Else"), resource=topic_policy)
    from_alarm = evaluate(request("sns:Publish", TOPIC, cloudwatch, aws__SourceArn=ALARM), resource=topic_policy)

    # Then only the named service, from the named source, may publish
    assert from_rule.allowed
    assert other_rule.decision is Decision.IMPLICIT_DENY
    assert from_alarm.decision is Decision.IMPLICIT_DENY
    assert from_alarm.kind is PolicyKind.RESOURCE
    assert from_alarm.message() == (
        f"User: cloudwatch.amazonaws.com is not authorized to perform: sns:Publish on resource: {TOPIC} "
        "because no resource-based policy allows the sns:Publish action"
    )


def test_a_service_principal_is_denied_when_the_topic_policy_has_only_a_deny() -> None:
    # Given a topic policy with nothing but the TLS deny (the alarms topic today, review finding 1)
    topic_policy = policy(
        deny("sns:Publish", TOPIC, Principal="*", Condition={"Bool": {"aws:SecureTransport": "false"}})
    )

    verdict = evaluate(
        request("sns:Publish", TOPIC, Principal.aws_service("cloudwatch.amazonaws.com"), aws__SecureTransport=True),
        resource=topic_policy,
    )

    assert verdict.decision is Decision.IMPLICIT_DENY


def test_a_wildcard_principal_includes_aws_services() -> None:
    bucket_policy = policy(allow("s3:PutObject", f"{BUCKET}/*", Principal="*"))

    verdict = evaluate(
        request("s3:PutObject", principal=Principal.aws_service("logging.s3.amazonaws.com")), resource=bucket_policy
    )

    assert verdict.allowed


def test_a_service_principal_cannot_have_identity_policies() -> None:
    with pytest.raises(ValueError, match="no identity-based policies"):
        evaluate(request(principal=Principal.aws_service("events.amazonaws.com")), identity=[policy(allow("*"))])


# -- KMS key policies and role trust policies ----------------------------------------------------

ROOT_STATEMENT = allow("kms:*", "*", Principal={"AWS": ROOT}, Sid="EnableIamPolicies")
USE_KEY = allow(["kms:Decrypt", "kms:GenerateDataKey*"], KEY, Sid="EncryptSuccess")


@pytest.mark.parametrize("action", ["kms:GenerateDataKey", "kms:Decrypt"])
def test_a_key_policy_delegating_to_the_account_lets_an_iam_policy_grant_the_key(action: str) -> None:
    # Given the default key policy statement and a role allowed to use the key
    key_policy = policy(ROOT_STATEMENT, name="KeyPolicy")

    # When the role uses the key
    verdict = evaluate(request(action, KEY), identity=[policy(USE_KEY, name="NotifyPolicy")], resource=key_policy)

    # Then the IAM policy's statement is what allowed it
    assert verdict.allowed
    assert verdict.kind is PolicyKind.IDENTITY
    assert verdict.statement is not None
    assert verdict.statement.sid == "EncryptSuccess"


def test_a_key_policy_delegating_to_the_account_still_needs_an_iam_allow() -> None:
    verdict = evaluate(request("kms:Decrypt", KEY), identity=[policy(allow("s3:*"))], resource=policy(ROOT_STATEMENT))

    assert verdict.decision is Decision.IMPLICIT_DENY
    assert verdict.kind is PolicyKind.IDENTITY


def test_without_the_key_policy_an_iam_allow_has_no_effect_on_a_key() -> None:
    # Given a key policy that neither names the role nor delegates to the account
    key_policy = policy(allow("kms:*", "*", Principal={"Service": "logs.us-east-1.amazonaws.com"}))

    # When a role allowed by IAM uses the key, and when no key policy is known at all
    verdict = evaluate(request("kms:Decrypt", KEY), identity=[policy(USE_KEY)], resource=key_policy)
    no_policy = evaluate(request("kms:Decrypt", KEY), identity=[policy(USE_KEY)])

    # Then KMS refuses: the key policy is required
    assert verdict.decision is Decision.IMPLICIT_DENY
    assert verdict.kind is PolicyKind.RESOURCE
    assert verdict.message().endswith("because no resource-based policy allows the kms:Decrypt action")
    assert no_policy.decision is Decision.IMPLICIT_DENY


def test_a_key_policy_naming_the_role_allows_without_an_iam_policy() -> None:
    key_policy = policy(allow("kms:Decrypt", "*", Principal={"AWS": ROLE}))

    assert evaluate(request("kms:Decrypt", KEY), resource=key_policy).allowed


def test_an_iam_deny_wins_over_a_key_policy_allow() -> None:
    key_policy = policy(allow("kms:Decrypt", "*", Principal={"AWS": ROLE}))

    verdict = evaluate(request("kms:Decrypt", KEY), identity=[policy(deny("kms:*"))], resource=key_policy)

    assert verdict.decision is Decision.EXPLICIT_DENY
    assert verdict.kind is PolicyKind.IDENTITY


def test_a_key_policy_can_require_the_encryption_context_of_one_topic() -> None:
    # Given a key statement for EventBridge limited to one topic's encryption context
    key_policy = policy(
        allow(
            ["kms:Decrypt", "kms:GenerateDataKey*"],
            "*",
            Principal={"Service": "events.amazonaws.com"},
            Condition={"StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": TOPIC}},
        )
    )
    events = Principal.aws_service("events.amazonaws.com")

    # When EventBridge's publish makes SNS use the key for that topic, and for another topic
    same = request("kms:GenerateDataKey", KEY, events, **{"kms:EncryptionContext:aws:sns:topicArn": TOPIC})
    other = request("kms:GenerateDataKey", KEY, events, **{"kms:EncryptionContext:aws:sns:topicArn": f"{TOPIC}-other"})

    # Then only the named topic's context is allowed
    assert evaluate(same, resource=key_policy).allowed
    assert evaluate(other, resource=key_policy).decision is Decision.IMPLICIT_DENY


def test_a_trust_policy_decides_which_service_may_assume_a_role() -> None:
    # Given a role trust policy (no Resource element) for Lambda
    trust = policy({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})

    lambda_service = evaluate(
        request("sts:AssumeRole", ROLE, Principal.aws_service("lambda.amazonaws.com")), resource=trust
    )
    events = evaluate(request("sts:AssumeRole", ROLE, Principal.aws_service("events.amazonaws.com")), resource=trust)

    assert lambda_service.allowed
    assert events.decision is Decision.IMPLICIT_DENY


# -- VPC endpoint policies -----------------------------------------------------------------------


def test_a_vpc_endpoint_policy_must_allow_too() -> None:
    # Given an S3 gateway endpoint limited to the pipeline bucket, and a role allowed anywhere
    endpoint = policy(
        allow(
            ["s3:GetObject", "s3:PutObject"], [BUCKET, f"{BUCKET}/*"], Principal={"AWS": "*"}, Sid="PipelineBucketOnly"
        )
    )
    identity = [policy(allow("s3:*"))]

    # When the role reads the pipeline bucket, and another bucket
    own = evaluate(request(), identity=identity, endpoint=endpoint)
    other = evaluate(request(resource="arn:aws:s3:::elsewhere/a.csv"), identity=identity, endpoint=endpoint)

    # Then the endpoint lets only the pipeline bucket through
    assert own.allowed
    assert other.decision is Decision.IMPLICIT_DENY
    assert other.kind is PolicyKind.ENDPOINT
    assert other.message().endswith("because no VPC endpoint policy allows the s3:GetObject action")


def test_an_endpoint_allow_grants_nothing_by_itself() -> None:
    endpoint = policy(allow("s3:*", "*", Principal="*"))

    assert evaluate(request(), endpoint=endpoint).decision is Decision.IMPLICIT_DENY


# -- what is refused, loudly ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "complaint"),
    [
        (allow("s3:GetObject", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), "IpAddress is not supported"),
        (allow("s3:GetObject", Condition={"NullIfExists": {"k": "true"}}), "NullIfExists is not a condition operator"),
        (allow("s3:GetObject", f"{BUCKET}/${{aws:username}}/*"), "policy variables are not supported"),
        (
            allow("s3:GetObject", Condition={"StringEquals": {"k": "${aws:username}"}}),
            "policy variables are not supported",
        ),
        ({"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*"}, "both Action and NotAction"),
        ({"Effect": "Allow", "Resource": "*"}, "neither Action nor NotAction"),
        ({"Effect": "Permit", "Action": "s3:*", "Resource": "*"}, "Effect must be Allow or Deny"),
        (allow("s3:GetObject", Condition={"StringEquals": {"k": []}}), "has no value"),
    ],
)
def test_policies_using_what_is_not_modelled_are_refused(statement: dict[str, Any], complaint: str) -> None:
    with pytest.raises(PolicyError, match=complaint):
        policy(statement, name="Unreadable")


def test_a_principal_is_a_role_session_or_a_service() -> None:
    with pytest.raises(ValueError, match="not an IAM role ARN"):
        Principal.role_session(f"arn:aws:iam::{ACCOUNT}:user/alice", "s")
    with pytest.raises(ValueError, match="either a role session or a service"):
        Principal()
