"""The synthesized template's permissions, decided as AWS would decide them.

Each test maps a real call of the pipeline (``checks_for_call``) and decides it against the
template's policies (``TemplatePolicies.verdict``). Tests that name a review finding assert its
fix: what the deploy review found allowed is denied, what it found denied is allowed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from workflow.deployment import LOCAL_ACCOUNT, REGION
from workflow.local.iam.evaluation import Decision, PolicyKind, Request, Verdict
from workflow.local.iam.requests import Caller, Check, checks_for_call, role_assumption
from workflow.local.iam.template_policies import TemplatePolicies, load_policies
from workflow.local.template import StackModel, TemplateError

Template = dict[str, Any]


@pytest.fixture(scope="module")
def policies(template: Template) -> TemplatePolicies:
    return load_policies(template)


def function_named(stack_model: StackModel, handler: str) -> str:
    """The function whose handler is ``handler``, or lives in the module ``handler`` ends with a dot
    (logical ids are CDK's hashes)."""
    (name,) = [
        name
        for name, function in stack_model.functions.items()
        if (function.handler.startswith(handler) if handler.endswith(".") else function.handler == handler)
    ]
    return name


def decide(policies: TemplatePolicies, caller: Caller, service: str, operation: str, **params: Any) -> Verdict:
    """The verdict on a call: the first denied check's, or the last check's when all are allowed."""
    checks = checks_for_call(caller, service, operation, params, policies.resources)
    denied = policies.first_denial(checks)
    return denied[1] if denied else policies.verdict(checks[-1])


def edited(template: Template, resource_type: str, edit: Callable[[str, dict[str, Any]], None]) -> TemplatePolicies:
    """The policies of a copy of ``template`` in which ``edit`` changed each resource of a type."""
    changed = copy.deepcopy(template)
    for logical_id, body in changed["Resources"].items():
        if body["Type"] == resource_type:
            edit(logical_id, body["Properties"])
    return load_policies(changed)


def statements_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


# -- the task functions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "version", "allowed"),
    [
        ("incoming/data.csv", None, True),
        ("incoming/deep/data.csv", "v1", True),
        ("uploads/data.csv", "v1", True),
        ("processed/data.csv", None, False),
        ("staging/x/data.jsonl", None, False),
    ],
)
def test_validate_may_read_only_the_inputs(
    policies: TemplatePolicies, stack_model: StackModel, key: str, version: str | None, allowed: bool
) -> None:
    # Given the Validate function's role
    caller = policies.function_caller(function_named(stack_model, "tasks.validate."))
    params = {"Bucket": stack_model.bucket_name, "Key": key, **({"VersionId": version} if version else {})}

    # When its handler heads the object
    verdict = decide(policies, caller, "s3", "HeadObject", **params)

    # Then only incoming/ and uploads/ are readable
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.kind is PolicyKind.IDENTITY


def test_write_output_commits_staged_output_under_processed(
    policies: TemplatePolicies, stack_model: StackModel
) -> None:
    # Given the WriteOutput function's role
    caller = policies.function_caller(function_named(stack_model, "tasks.write_output."))
    bucket = stack_model.bucket_name
    source = {"Bucket": bucket, "Key": "staging/exec/data.jsonl"}

    # When it copies the staged data and writes the manifest
    copy_verdict = decide(
        policies, caller, "s3", "CopyObject", Bucket=bucket, Key="processed/a/data.jsonl", CopySource=source
    )
    manifest = decide(
        policies,
        caller,
        "s3",
        "PutObject",
        Bucket=bucket,
        Key="processed/a/manifest.json",
        ServerSideEncryption="AES256",
    )
    into_incoming = decide(policies, caller, "s3", "PutObject", Bucket=bucket, Key="incoming/a.csv")

    # Then both writes under processed/ are allowed, and nothing else
    assert copy_verdict.allowed
    assert manifest.allowed
    assert manifest.statement is not None
    assert manifest.statement.policy.startswith("TasksWriteOutputRolePolicy")
    assert into_incoming.decision is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    "handler",
    [
        "tasks.transform.handler.csv_handler",
        "tasks.transform.handler.json_handler",
        "tasks.transform.handler.jsonl_handler",
    ],
)
def test_transforms_stream_into_staging_and_nowhere_else(
    policies: TemplatePolicies, stack_model: StackModel, handler: str
) -> None:
    caller = policies.function_caller(function_named(stack_model, handler))
    bucket = stack_model.bucket_name

    def upload(key: str) -> list[Verdict]:
        return [
            decide(
                policies, caller, "s3", "CreateMultipartUpload", Bucket=bucket, Key=key, ServerSideEncryption="AES256"
            ),
            decide(policies, caller, "s3", "UploadPart", Bucket=bucket, Key=key, UploadId="u", PartNumber=1),
            decide(policies, caller, "s3", "CompleteMultipartUpload", Bucket=bucket, Key=key, UploadId="u"),
            decide(policies, caller, "s3", "AbortMultipartUpload", Bucket=bucket, Key=key, UploadId="u"),
        ]

    assert all(verdict.allowed for verdict in upload("staging/exec/data.jsonl"))
    assert not any(verdict.allowed for verdict in upload("processed/exec/data.jsonl"))


def test_notify_publishes_to_the_encrypted_runs_topic_through_the_key_policy_delegation(
    policies: TemplatePolicies, stack_model: StackModel
) -> None:
    # Given the Notify function's role
    caller = policies.function_caller(function_named(stack_model, "tasks.notify."))

    # When it publishes the success notification
    checks = checks_for_call(
        caller, "sns", "Publish", {"TopicArn": stack_model.topic_arn, "Message": "m"}, policies.resources
    )
    verdicts = [policies.verdict(check) for check in checks]

    # Then SNS and both KMS requests are allowed by its own statements
    assert [verdict.allowed for verdict in verdicts] == [True, True, True]
    assert [verdict.statement.sid if verdict.statement else None for verdict in verdicts] == [
        "PublishSuccess",
        "EncryptSuccess",
        "EncryptSuccess",
    ]


def test_a_handler_call_over_plain_http_is_denied_by_the_bucket_policy(
    policies: TemplatePolicies, stack_model: StackModel
) -> None:
    # Given a read Validate may make
    caller = policies.function_caller(function_named(stack_model, "tasks.validate."))
    (check,) = checks_for_call(
        caller, "s3", "GetObject", {"Bucket": stack_model.bucket_name, "Key": "incoming/a.csv"}, policies.resources
    )

    # When it were made without TLS
    request = check.request
    insecure = Request(
        request.principal, request.action, request.resource, {**request.context, "aws:SecureTransport": False}
    )
    verdict = policies.verdict(Check(insecure))

    # Then the TLS-only statement denies it explicitly
    assert verdict.decision is Decision.EXPLICIT_DENY
    assert verdict.kind is PolicyKind.RESOURCE
    assert verdict.statement is not None
    assert verdict.statement.policy.startswith("StorageBucketPolicy")


def test_every_function_runs_as_a_role_of_the_template(policies: TemplatePolicies, stack_model: StackModel) -> None:
    assert set(policies.function_roles) == set(stack_model.functions)
    assert all(role in policies.roles for role in policies.function_roles.values())
    assert len(set(policies.function_roles.values())) == len(policies.function_roles)  # one role per function


# -- the state machine, the trigger and the API --------------------------------------------------


def test_the_state_machine_may_invoke_each_task_alias_and_nothing_unqualified(
    policies: TemplatePolicies, stack_model: StackModel
) -> None:
    caller = policies.state_machine_caller(stack_model.state_machine_arn)
    aliases = [arn for name, arn in stack_model.substitutions.items() if name.endswith("FunctionArn")]

    for alias in aliases:
        assert decide(policies, caller, "lambda", "Invoke", FunctionName=alias).allowed, alias
    unqualified = aliases[0].rsplit(":", 1)[0]
    assert decide(policies, caller, "lambda", "Invoke", FunctionName=unqualified).decision is Decision.IMPLICIT_DENY
    assert len(aliases) == len(stack_model.functions)


def test_the_state_machine_may_publish_rejections(policies: TemplatePolicies, stack_model: StackModel) -> None:
    caller = policies.state_machine_caller(stack_model.state_machine_arn)

    verdict = decide(
        policies, caller, "sns", "Publish", TopicArn=stack_model.substitutions["NotificationTopicArn"], Message="m"
    )

    assert verdict.allowed


def s3_trigger_rule(policies: TemplatePolicies, stack_model: StackModel) -> str:
    (rule,) = [
        arn
        for arn, targets in policies.rule_targets.items()
        if any(t.arn == stack_model.state_machine_arn for t in targets)
    ]
    return rule


def test_the_s3_trigger_assumes_its_role_and_starts_only_this_state_machine(
    policies: TemplatePolicies, stack_model: StackModel
) -> None:
    # Given the rule that starts runs from S3 events
    rule = s3_trigger_rule(policies, stack_model)
    (target,) = policies.rule_targets[rule]
    assert target.role_arn is not None
    events = Caller.service("events.amazonaws.com", source_arn=rule, source_account=LOCAL_ACCOUNT)

    # When EventBridge assumes the target's role and starts an execution
    assumed = policies.verdict(role_assumption(events, target.role_arn, policies.resources))
    caller = policies.rule_target_caller(rule, stack_model.state_machine_arn)
    start = decide(policies, caller, "stepfunctions", "StartExecution", stateMachineArn=stack_model.state_machine_arn)
    other = decide(
        policies,
        caller,
        "stepfunctions",
        "StartExecution",
        stateMachineArn=f"arn:aws:states:{REGION}:{LOCAL_ACCOUNT}:stateMachine:Other",
    )

    # Then the trust policy and the role's policy allow exactly that
    assert assumed.allowed
    assert start.allowed
    assert other.decision is Decision.IMPLICIT_DENY


def test_only_the_services_a_role_trusts_may_assume_it(policies: TemplatePolicies, stack_model: StackModel) -> None:
    role = policies.function_roles[function_named(stack_model, "tasks.validate.")]
    lambda_service = Caller.service("lambda.amazonaws.com")
    events = Caller.service("events.amazonaws.com")

    assert policies.verdict(role_assumption(lambda_service, role, policies.resources)).allowed
    assert not policies.verdict(role_assumption(events, role, policies.resources)).allowed


def test_the_api_integration_starts_and_describes_runs_of_this_state_machine(
    policies: TemplatePolicies, stack_model: StackModel
) -> None:
    machine = stack_model.state_machine_arn
    execution = machine.replace(":stateMachine:", ":execution:") + ":api-key-1"

    start = decide(
        policies,
        policies.api_integration_caller("StartExecution"),
        "stepfunctions",
        "StartExecution",
        stateMachineArn=machine,
    )
    describe = decide(
        policies,
        policies.api_integration_caller("DescribeExecution"),
        "stepfunctions",
        "DescribeExecution",
        executionArn=execution,
    )

    assert start.allowed
    assert describe.allowed


# -- service principals: EventBridge targets and CloudWatch alarms -------------------------------


def failure_rules(policies: TemplatePolicies, stack_model: StackModel) -> list[str]:
    return [
        arn for arn, targets in policies.rule_targets.items() if any(t.arn == stack_model.topic_arn for t in targets)
    ]


def test_the_failure_rules_publish_to_the_runs_topic_and_its_key(
    policies: TemplatePolicies, stack_model: StackModel
) -> None:
    rules = failure_rules(policies, stack_model)
    assert rules

    for rule in rules:
        verdict = decide(
            policies,
            policies.rule_target_caller(rule, stack_model.topic_arn),
            "sns",
            "Publish",
            TopicArn=stack_model.topic_arn,
            Message="m",
        )
        assert verdict.allowed, rule


def test_the_rules_may_send_undelivered_events_to_their_dead_letter_queue(policies: TemplatePolicies) -> None:
    for rule, targets in policies.rule_targets.items():
        for target in targets:
            assert target.dead_letter_arn is not None
            name = target.dead_letter_arn.rsplit(":", 1)[1]
            url = f"https://sqs.{REGION}.amazonaws.com/{LOCAL_ACCOUNT}/{name}"
            assert decide(
                policies, policies.dead_letter_caller(rule), "sqs", "SendMessage", QueueUrl=url, MessageBody="e"
            ).allowed


def test_a_foreign_rule_may_not_use_the_dead_letter_queue(policies: TemplatePolicies) -> None:
    (dead_letter,) = {target.dead_letter_arn for targets in policies.rule_targets.values() for target in targets}
    assert dead_letter is not None
    foreign = Caller.service(
        "events.amazonaws.com", source_arn=f"arn:aws:events:{REGION}:999999999999:rule/x", source_account="999999999999"
    )
    url = f"https://sqs.{REGION}.amazonaws.com/{LOCAL_ACCOUNT}/{dead_letter.rsplit(':', 1)[1]}"

    verdict = decide(policies, foreign, "sqs", "SendMessage", QueueUrl=url, MessageBody="e")

    assert verdict.decision is Decision.IMPLICIT_DENY
    assert verdict.kind is PolicyKind.RESOURCE


def alarm_topic_arn(template: Template) -> str:
    return f"arn:aws:sns:{REGION}:{LOCAL_ACCOUNT}:{template['Outputs']['AlarmTopicArn']['Value']['Ref']}"


@pytest.mark.parametrize(
    ("source", "account"),
    [
        (f"arn:aws:events:{REGION}:999999999999:rule/forged", "999999999999"),
        (f"arn:aws:events:{REGION}:{LOCAL_ACCOUNT}:rule/SomeOtherRuleOfTheAccount", LOCAL_ACCOUNT),
    ],
)
def test_only_the_failure_rules_may_publish_to_the_runs_topic_review_finding_10(
    policies: TemplatePolicies, stack_model: StackModel, source: str, account: str
) -> None:
    # Given a rule that is not one of the stack's failure rules (another account's, or another of this account's)
    rule = Caller.service("events.amazonaws.com", source_arn=source, source_account=account)

    # When EventBridge publishes to the runs topic for it
    verdict = decide(policies, rule, "sns", "Publish", TopicArn=stack_model.topic_arn, Message="forged")

    # Then the topic policy, which names the failure rules only, does not let it
    assert verdict.decision is Decision.IMPLICIT_DENY
    assert verdict.kind is PolicyKind.RESOURCE


def test_the_s3_trigger_rule_may_not_publish_to_the_runs_topic(
    policies: TemplatePolicies, stack_model: StackModel
) -> None:
    # Given the stack's own S3 trigger rule, speaking as events.amazonaws.com
    trigger = Caller.service(
        "events.amazonaws.com", source_arn=s3_trigger_rule(policies, stack_model), source_account=LOCAL_ACCOUNT
    )

    # When it publishes to the runs topic
    verdict = decide(policies, trigger, "sns", "Publish", TopicArn=stack_model.topic_arn, Message="m")

    # Then exactly the rules that target the topic are admitted, not every rule of the stack
    assert verdict.decision is Decision.IMPLICIT_DENY


def test_the_failure_rules_use_the_key_only_for_this_accounts_topics_and_queues(
    policies: TemplatePolicies, stack_model: StackModel
) -> None:
    # Given the KMS request SNS makes for a failure rule publishing to the encrypted runs topic
    (rule, *_) = failure_rules(policies, stack_model)
    checks = checks_for_call(
        policies.rule_target_caller(rule, stack_model.topic_arn),
        "sns",
        "Publish",
        {"TopicArn": stack_model.topic_arn, "Message": "m"},
        policies.resources,
    )
    (data_key, *_) = [check for check in checks if check.via == "sns"]

    # When the same request names a topic of another account in its encryption context
    elsewhere = "arn:aws:sns:us-east-1:999999999999:theirs"
    foreign = Request(
        data_key.request.principal,
        data_key.request.action,
        data_key.request.resource,
        {**data_key.request.context, "kms:EncryptionContext:aws:sns:topicArn": elsewhere},
    )

    # Then the key serves this account's topic (the statement that allows names the context) and not the other
    own = policies.verdict(data_key)
    assert own.allowed
    assert own.statement is not None
    assert own.statement.sid == "EventsToTopicsOfThisAccount"
    assert policies.verdict(Check(foreign, via="sns")).decision is Decision.IMPLICIT_DENY


def test_every_alarm_may_publish_to_the_alarms_topic_review_finding_1(
    policies: TemplatePolicies, template: Template
) -> None:
    # Given every alarm and the topic its actions publish to
    topic_arn = alarm_topic_arn(template)
    assert policies.alarm_actions
    assert {action for actions in policies.alarm_actions.values() for action in actions} == {topic_arn}

    for alarm in policies.alarm_actions:
        # When CloudWatch carries out the alarm's action
        checks = checks_for_call(
            policies.alarm_caller(alarm),
            "sns",
            "Publish",
            {"TopicArn": topic_arn, "Message": "ALARM"},
            policies.resources,
        )
        publish, *kms = [policies.verdict(check) for check in checks]

        # Then the topic policy admits it by its ARN, and the key lets SNS encrypt for it
        assert publish.allowed, publish.message()
        assert publish.statement is not None
        assert publish.statement.sid == "PublishFromTheAlarms"
        assert kms
        assert all(verdict.allowed for verdict in kms)


@pytest.mark.parametrize(
    ("alarm", "account"),
    [
        (f"arn:aws:cloudwatch:{REGION}:999999999999:alarm:forged", "999999999999"),
        (f"arn:aws:cloudwatch:{REGION}:{LOCAL_ACCOUNT}:alarm:NotOneOfTheStack", LOCAL_ACCOUNT),
    ],
)
def test_an_alarm_outside_the_stack_may_not_publish_to_the_alarms_topic(
    policies: TemplatePolicies, template: Template, alarm: str, account: str
) -> None:
    caller = Caller.service("cloudwatch.amazonaws.com", source_arn=alarm, source_account=account)

    verdict = decide(policies, caller, "sns", "Publish", TopicArn=alarm_topic_arn(template), Message="ALARM")

    assert verdict.decision is Decision.IMPLICIT_DENY
    assert verdict.kind is PolicyKind.RESOURCE


def test_removing_the_alarms_topics_cloudwatch_statement_silences_every_alarm(template: Template) -> None:
    # Given the template without the statement that admits the alarms (today's fix of review finding 1)
    def drop_alarms_statement(_: str, props: dict[str, Any]) -> None:
        document = props["PolicyDocument"]
        document["Statement"] = [s for s in statements_of(document) if s.get("Sid") != "PublishFromTheAlarms"]

    without = edited(template, "AWS::SNS::TopicPolicy", drop_alarms_statement)
    topic_arn = alarm_topic_arn(template)

    # When every alarm publishes
    verdicts = [
        decide(without, without.alarm_caller(alarm), "sns", "Publish", TopicArn=topic_arn, Message="ALARM")
        for alarm in without.alarm_actions
    ]

    # Then every one is refused as AWS refused them before the fix (only the TLS deny is left)
    assert verdicts
    for verdict in verdicts:
        assert verdict.message() == (
            f"User: cloudwatch.amazonaws.com is not authorized to perform: sns:Publish on resource: {topic_arn} "
            "because no resource-based policy allows the sns:Publish action"
        )


# -- proof: removing one statement fails the call the way AWS would ------------------------------


def test_removing_write_outputs_processed_statement_denies_its_commit(
    template: Template, stack_model: StackModel
) -> None:
    # Given the template without the WriteOutput role's statement that grants writes under processed/
    writer = function_named(stack_model, "tasks.write_output.")
    role = load_policies(template).function_roles[writer].rsplit("/", 1)[1]

    def drop_processed_writes(_: str, props: dict[str, Any]) -> None:
        if props["Roles"] == [{"Ref": role}]:
            document = props["PolicyDocument"]
            document["Statement"] = [
                s for s in statements_of(document) if "/processed/*" not in json.dumps(s.get("Resource"))
            ]

    without = edited(template, "AWS::IAM::ManagedPolicy", drop_processed_writes)

    # When WriteOutput writes the manifest
    verdict = decide(
        without,
        without.function_caller(writer),
        "s3",
        "PutObject",
        Bucket=stack_model.bucket_name,
        Key="processed/a/manifest.json",
    )

    # Then AWS's implicit deny, with AWS's words
    assert verdict.decision is Decision.IMPLICIT_DENY
    assert verdict.message() == (
        f"User: arn:aws:sts::{LOCAL_ACCOUNT}:assumed-role/{role}/{writer} is not authorized to perform: s3:PutObject "
        f"on resource: arn:aws:s3:::{stack_model.bucket_name}/processed/a/manifest.json "
        "because no identity-based policy allows the s3:PutObject action"
    )


def test_removing_the_key_policys_account_statement_denies_notify_at_kms(
    template: Template, stack_model: StackModel
) -> None:
    # Given the Messages key without the statement that lets IAM policies grant it
    def drop_root(_: str, props: dict[str, Any]) -> None:
        document = props["KeyPolicy"]
        document["Statement"] = [s for s in statements_of(document) if s["Action"] != "kms:*"]

    without = edited(template, "AWS::KMS::Key", drop_root)
    notify = function_named(stack_model, "tasks.notify.")

    # When Notify publishes to the encrypted topic
    checks = checks_for_call(
        without.function_caller(notify),
        "sns",
        "Publish",
        {"TopicArn": stack_model.topic_arn, "Message": "m"},
        without.resources,
    )
    denied = without.first_denial(checks)

    # Then SNS's data-key request to KMS is refused by the key policy
    assert denied is not None
    check, verdict = denied
    assert (check.via, check.request.action) == ("sns", "kms:GenerateDataKey")
    assert verdict.kind is PolicyKind.RESOURCE
    assert verdict.message().endswith("because no resource-based policy allows the kms:GenerateDataKey action")


def test_the_s3_gateway_endpoint_keeps_functions_to_the_pipeline_bucket(
    template: Template, stack_model: StackModel
) -> None:
    # Given Validate's role granted reads of every bucket
    validate = function_named(stack_model, "tasks.validate.")
    role = load_policies(template).function_roles[validate].rsplit("/", 1)[1]

    def grant_everything(_: str, props: dict[str, Any]) -> None:
        if props["Roles"] == [{"Ref": role}]:
            statements_of(props["PolicyDocument"]).append(
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
            )

    widened = edited(template, "AWS::IAM::ManagedPolicy", grant_everything)

    # When it reads another bucket
    verdict = decide(
        widened, widened.function_caller(validate), "s3", "GetObject", Bucket="someone-elses-bucket", Key="k"
    )

    # Then the VPC endpoint's policy stops it
    assert verdict.decision is Decision.IMPLICIT_DENY
    assert verdict.kind is PolicyKind.ENDPOINT


# -- AWS-managed policies ------------------------------------------------------------------------


def test_a_modelled_aws_managed_policy_grants_only_its_logs_actions(
    template: Template, stack_model: StackModel
) -> None:
    # Given Validate's role with AWSLambdaBasicExecutionRole attached
    validate = function_named(stack_model, "tasks.validate.")
    role = load_policies(template).function_roles[validate].rsplit("/", 1)[1]

    def attach(logical_id: str, props: dict[str, Any]) -> None:
        if logical_id == role:
            props["ManagedPolicyArns"] = ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]

    attached = edited(template, "AWS::IAM::Role", attach)
    principal = attached.function_caller(validate).principal
    log_group = f"arn:aws:logs:{REGION}:{LOCAL_ACCOUNT}:log-group:/aws/lambda/{validate}:*"

    # When the function creates its log group, and asks X-Ray for sampling rules
    logs = attached.verdict(Check(Request(principal, "logs:CreateLogGroup", log_group)))
    sampling = attached.verdict(Check(Request(principal, "xray:GetSamplingRules", "*")))

    # Then the managed policy grants the first only
    assert logs.allowed
    assert logs.statement is not None
    assert logs.statement.policy.endswith("AWSLambdaBasicExecutionRole")
    assert sampling.decision is Decision.IMPLICIT_DENY


def test_an_unmodelled_aws_managed_policy_is_refused_by_name(template: Template) -> None:
    def attach(_: str, props: dict[str, Any]) -> None:
        props["ManagedPolicyArns"] = ["arn:aws:iam::aws:policy/AmazonS3FullAccess"]

    with pytest.raises(TemplateError, match="AmazonS3FullAccess is not modelled"):
        edited(template, "AWS::IAM::Role", attach)


def test_the_policies_are_read_for_the_stack_the_local_environment_runs(
    policies: TemplatePolicies, stack_model: StackModel
) -> None:
    # The bucket and topic the environment creates are the ones whose policies were read.
    assert policies.resource_policy(f"arn:aws:s3:::{stack_model.bucket_name}/any/key") is not None
    assert policies.resource_policy(stack_model.topic_arn) is not None
