"""The owners' production requirements, each asserted on the synthesized template."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from stacks.alerts import REJECTIONS_METRIC
from tasks.common.errors import BUSINESS_ERRORS
from tests.infra.queries import as_list, of_type, output_ref, statements_of_role
from workflow.deployment import (
    METRICS_NAMESPACE,
    OUTPUT_ALARM_TOPIC,
    OUTPUT_BACKFILL_STATE_MACHINE,
    OUTPUT_BUCKET,
    OUTPUT_STATE_MACHINE,
    OUTPUT_TOPIC,
    STACK_NAME,
)
from workflow.local.alarm_model import read_alarms
from workflow.local.alarms import log_event

# The only actions allowed on Resource "*": they have no resource-level permissions.
STAR_ACTIONS = {
    # X-Ray tracing (functions and state machine)
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    # network interfaces of functions in a VPC
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    # vended log delivery of the state machine
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # the operator role: account settings `pipeline preflight` reads, and the smoke's unsubscribe
    # (tests/infra/test_operator_role.py decides each call)
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeVpcEndpointServices",
    "lambda:GetAccountSettings",
    "servicequotas:ListServiceQuotas",
    "servicequotas:ListAWSDefaultServiceQuotas",
    "cloudwatch:DescribeAlarms",
    "sns:Unsubscribe",
}


def test_the_stack_deploys_to_us_east_1(template_file: Path) -> None:
    manifest = json.loads((template_file.parent / "manifest.json").read_text())
    (stack,) = [
        artifact for artifact in manifest["artifacts"].values() if artifact["type"] == "aws:cloudformation:stack"
    ]
    assert stack["environment"].endswith("/us-east-1")


def test_every_taggable_resource_is_tagged_environment_production(template: dict[str, Any]) -> None:
    untagged, checked = [], 0
    for name, body in template["Resources"].items():
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", body["Type"]).schema
        if "Tags" not in schema.get("properties", {}):
            continue
        checked += 1
        tags = body.get("Properties", {}).get("Tags", [])
        pairs = tags.items() if isinstance(tags, dict) else [(tag["Key"], tag["Value"]) for tag in tags]
        if ("Environment", "Production") not in pairs:
            untagged.append(f"{body['Type']} {name}")
    assert checked > 40, "the schemas name the taggable types"
    assert untagged == []


def bucket_props(template: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"][output_ref(template, OUTPUT_BUCKET)]["Properties"]
    return props


def test_buckets_are_private_encrypted_tls_only_and_kept(template: dict[str, Any]) -> None:
    buckets = of_type(template, "AWS::S3::Bucket")
    assert len(buckets) == 2  # the pipeline bucket and its access-log bucket
    for name, body in buckets.items():
        props = body["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "AES256"
        }, name
        assert set(props["PublicAccessBlockConfiguration"].values()) == {True}, name
        assert len(props["PublicAccessBlockConfiguration"]) == 4, name
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, name
        assert (body["DeletionPolicy"], body["UpdateReplacePolicy"]) == ("Retain", "Retain"), name
        policies = [
            policy["Properties"]["PolicyDocument"]["Statement"]
            for policy in of_type(template, "AWS::S3::BucketPolicy").values()
            if policy["Properties"]["Bucket"] == {"Ref": name}
        ]
        (statements,) = policies
        assert any(
            statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for statement in statements
        ), name


def test_pipeline_bucket_expires_old_versions_and_incomplete_uploads(template: dict[str, Any]) -> None:
    rules = bucket_props(template)["LifecycleConfiguration"]["Rules"]
    assert any("NoncurrentVersionExpiration" in rule for rule in rules)
    assert any("AbortIncompleteMultipartUpload" in rule for rule in rules)
    assert bucket_props(template)["LoggingConfiguration"]["DestinationBucketName"]["Ref"] != output_ref(
        template, OUTPUT_BUCKET
    )


def test_no_function_is_public(template: dict[str, Any]) -> None:
    assert of_type(template, "AWS::Lambda::Url") == {}
    for name, body in of_type(template, "AWS::Lambda::Permission").items():
        assert body["Properties"]["Principal"].endswith(".amazonaws.com"), name


def test_each_function_has_its_own_role_and_star_resources_only_where_unavoidable(
    template: dict[str, Any],
) -> None:
    functions = of_type(template, "AWS::Lambda::Function")
    roles = [body["Properties"]["Role"]["Fn::GetAtt"][0] for body in functions.values()]
    assert len(set(roles)) == len(functions)
    for role in of_type(template, "AWS::IAM::Role"):
        for statement in statements_of_role(template, role):
            actions = set(as_list(statement["Action"]))
            assert not any(action == "*" or action.endswith(":*") for action in actions), (role, actions)
            if "*" in as_list(statement["Resource"]):
                assert actions <= STAR_ACTIONS, (role, actions - STAR_ACTIONS)


def test_functions_run_in_isolated_subnets_with_no_route_out(template: dict[str, Any]) -> None:
    assert of_type(template, "AWS::EC2::InternetGateway") == {}
    assert of_type(template, "AWS::EC2::NatGateway") == {}
    assert of_type(template, "AWS::EC2::Route") == {}
    subnets = set(of_type(template, "AWS::EC2::Subnet"))
    for name, body in of_type(template, "AWS::Lambda::Function").items():
        vpc = body["Properties"]["VpcConfig"]
        assert {ref["Ref"] for ref in vpc["SubnetIds"]} == subnets, name
        assert len(vpc["SubnetIds"]) >= 2, name


def test_s3_gateway_endpoint_admits_only_the_pipeline_bucket(template: dict[str, Any]) -> None:
    endpoints = of_type(template, "AWS::EC2::VPCEndpoint").values()
    (gateway,) = [
        body["Properties"]
        for body in endpoints
        if body["Properties"].get("VpcEndpointType") == "Gateway"
        and ".s3" in json.dumps(body["Properties"]["ServiceName"])
    ]
    bucket = output_ref(template, OUTPUT_BUCKET)
    for statement in gateway["PolicyDocument"]["Statement"]:
        for resource in as_list(statement["Resource"]):
            assert bucket in json.dumps(resource), resource


def test_interface_endpoints_only_for_services_the_functions_call(template: dict[str, Any]) -> None:
    endpoints = of_type(template, "AWS::EC2::VPCEndpoint").values()
    services = {
        json.dumps(body["Properties"]["ServiceName"]).rsplit(".", 1)[-1].strip('"]}')
        for body in endpoints
        if body["Properties"].get("VpcEndpointType") == "Interface"
    }
    assert services == {"sns", "xray"}


def test_functions_use_the_powertools_layer_of_the_pinned_version(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    for name, body in of_type(template, "AWS::Lambda::Function").items():
        (layer,) = body["Properties"]["Layers"]
        parameter = parameters[layer["Ref"]]
        assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
        assert parameter["Default"] == (
            f"/aws/service/powertools/python/arm64/{body['Properties']['Runtime']}/{version('aws-lambda-powertools')}"
        ), name


def test_every_function_and_the_state_machine_log_to_an_explicit_retained_encrypted_group(
    template: dict[str, Any],
) -> None:
    groups = of_type(template, "AWS::Logs::LogGroup")
    for name, body in groups.items():
        assert body["Properties"]["RetentionInDays"] > 0, name
        assert "KmsKeyId" in body["Properties"], name
    for name, body in of_type(template, "AWS::Lambda::Function").items():
        assert body["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] in groups, name
    machine = template["Resources"][output_ref(template, OUTPUT_STATE_MACHINE)]["Properties"]
    logging = machine["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", True)
    assert machine["TracingConfiguration"] == {"Enabled": True}


def test_every_state_machine_logs_under_aws_vendedlogs_to_a_group_of_its_own_and_of_this_stack_instance(
    template: dict[str, Any],
) -> None:
    # Given the log group each state machine delivers to (the pipeline, the backfill, the ledger's
    # failure recorder)
    names = []
    for machine_id, machine in of_type(template, "AWS::StepFunctions::StateMachine").items():
        (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
        group_id, _ = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"]
        name = template["Resources"][group_id]["Properties"]["LogGroupName"]
        # Then its name keeps it out of the account's 5,120-character CloudWatch Logs resource policy
        separator, parts = name["Fn::Join"]
        assert separator == "", machine_id
        assert parts[0].startswith("/aws/vendedlogs/states/"), machine_id
        # And ends with this stack's id (its UUID), so a redeployment never meets a group an earlier stack kept
        assert parts[-1] == {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}, machine_id
        names.append(json.dumps(parts))
    assert len(names) == 3
    assert len(set(names)) == len(names)


def test_every_kept_log_group_is_encrypted_by_a_key_that_is_kept_too(template: dict[str, Any]) -> None:
    keys = of_type(template, "AWS::KMS::Key")
    for name, body in of_type(template, "AWS::Logs::LogGroup").items():
        assert body["DeletionPolicy"] == "Retain", name
        key_name, _ = body["Properties"]["KmsKeyId"]["Fn::GetAtt"]
        assert (keys[key_name]["DeletionPolicy"], keys[key_name]["UpdateReplacePolicy"]) == ("Retain", "Retain"), name


def test_topics_are_encrypted_and_tls_only(template: dict[str, Any]) -> None:
    topics = of_type(template, "AWS::SNS::Topic")
    assert set(topics) == {output_ref(template, OUTPUT_TOPIC), output_ref(template, OUTPUT_ALARM_TOPIC)}
    for name, body in topics.items():
        assert "KmsMasterKeyId" in body["Properties"], name
        (policy,) = [
            policy["Properties"]["PolicyDocument"]["Statement"]
            for policy in of_type(template, "AWS::SNS::TopicPolicy").values()
            if {"Ref": name} in policy["Properties"]["Topics"]
        ]
        assert any(
            statement["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(statement) for statement in policy
        )


def test_failures_outside_the_workflow_are_announced_on_the_runs_topic(template: dict[str, Any]) -> None:
    machine = output_ref(template, OUTPUT_STATE_MACHINE)
    topic = {"Ref": output_ref(template, OUTPUT_TOPIC)}
    # (the ledger's status-change rule, which records failures rather than announcing them, aside)
    rules = [
        body["Properties"]
        for body in of_type(template, "AWS::Events::Rule").values()
        if body["Properties"]["EventPattern"]["source"] == ["aws.states"]
        and any(target["Arn"] == topic for target in body["Properties"]["Targets"])
    ]
    statuses = set()
    for rule in rules:
        pattern = rule["EventPattern"]
        assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
        assert pattern["detail"]["stateMachineArn"] == [{"Ref": machine}]
        statuses |= set(pattern["detail"]["status"])
        if pattern["detail"]["status"] == ["FAILED"]:
            # business rejections are announced by NotifyRejected already
            assert pattern["detail"]["error"] == [{"anything-but": [error.__name__ for error in BUSINESS_ERRORS]}]
        (target,) = rule["Targets"]
        assert "DeadLetterConfig" in target
        message = target["InputTransformer"]["InputTemplate"]
        for field in ("executionArn", "error", "console"):
            assert f'"{field}":' in message, field
        # Never the cause (a Lambda error's stack trace) or the execution input: e-mail is clear text
        for field in ("cause", "input"):
            assert f'"{field}":' not in message, field
        assert not {"$.detail.cause", "$.detail.input"} & set(target["InputTransformer"]["InputPathsMap"].values())
    assert statuses == {"FAILED", "TIMED_OUT", "ABORTED"}


def watched_metrics(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric name) of every metric an alarm reads, itself or through metric math."""
    if "MetricName" in alarm:
        return {(alarm["Namespace"], alarm["MetricName"])}
    return {
        (query["MetricStat"]["Metric"]["Namespace"], query["MetricStat"]["Metric"]["MetricName"])
        for query in alarm["Metrics"]
        if "MetricStat" in query
    }


def test_alarms_page_through_the_alarm_topic_for_system_failures_only(template: dict[str, Any]) -> None:
    alarms = [body["Properties"] for body in of_type(template, "AWS::CloudWatch::Alarm").values()]
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": output_ref(template, OUTPUT_ALARM_TOPIC)}]
    watched = [metric for alarm in alarms for metric in watched_metrics(alarm)]
    assert set(watched) == {
        ("AWS/States", "ExecutionsFailed"),
        (METRICS_NAMESPACE, REJECTIONS_METRIC),
        ("AWS/States", "ExecutionsTimedOut"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "Throttles"),
    }
    # Lambda's Errors counts every raised business error: no alarm reads it.
    assert watched.count(("AWS/Lambda", "Throttles")) == len(of_type(template, "AWS::Lambda::Function"))


def test_the_failed_runs_alarm_leaves_out_the_business_rejections(template: dict[str, Any]) -> None:
    (alarm,) = [
        body["Properties"]
        for body in of_type(template, "AWS::CloudWatch::Alarm").values()
        if (METRICS_NAMESPACE, REJECTIONS_METRIC) in watched_metrics(body["Properties"])
    ]
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    (expression,) = [query for query in queries.values() if query.get("ReturnData", True)]
    failed, rejected = (
        next(
            key
            for key, query in queries.items()
            if query.get("MetricStat", {}).get("Metric", {}).get("MetricName") == name
        )
        for name in ("ExecutionsFailed", REJECTIONS_METRIC)
    )
    # failed - FILL(rejected, 0): a period with failures and no rejection keeps every failure
    assert expression["Expression"].replace(" ", "") == f"{failed}-FILL({rejected},0)"
    assert queries[failed]["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "StateMachineArn", "Value": {"Ref": output_ref(template, OUTPUT_STATE_MACHINE)}}
    ]
    assert queries[failed]["MetricStat"]["Stat"] == queries[rejected]["MetricStat"]["Stat"] == "Sum"
    assert queries[failed]["MetricStat"]["Period"] == queries[rejected]["MetricStat"]["Period"]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)


def test_every_other_state_machine_pages_when_one_of_its_executions_fails_or_times_out(
    template: dict[str, Any],
) -> None:
    # Given the state machines no rule announces: the ledger's failure recorder and the backfill
    pipeline = output_ref(template, OUTPUT_STATE_MACHINE)
    others = set(of_type(template, "AWS::StepFunctions::StateMachine")) - {pipeline}
    assert len(others) == 2
    # Then each has an alarm on its own failed executions and one on its timed-out executions, at
    # the first one in a period
    watching: dict[str, set[str]] = {machine: set() for machine in others}
    for body in of_type(template, "AWS::CloudWatch::Alarm").values():
        alarm = body["Properties"]
        if alarm.get("Namespace") != "AWS/States":
            continue
        (dimension,) = alarm["Dimensions"]
        assert dimension["Name"] == "StateMachineArn"
        machine = dimension["Value"]["Ref"]
        if machine == pipeline:
            continue
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "Sum",
            "GreaterThanOrEqualToThreshold",
            1,
        )
        watching[machine].add(alarm["MetricName"])
    assert watching == {machine: {"ExecutionsFailed", "ExecutionsTimedOut"} for machine in others}


def test_rejections_are_counted_from_the_state_machines_log(template: dict[str, Any]) -> None:
    machine = template["Resources"][output_ref(template, OUTPUT_STATE_MACHINE)]["Properties"]
    (destination,) = machine["LoggingConfiguration"]["Destinations"]
    log_group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    (metric_filter,) = [
        body["Properties"]
        for body in of_type(template, "AWS::Logs::MetricFilter").values()
        if body["Properties"]["MetricTransformations"][0]["MetricName"] == REJECTIONS_METRIC
    ]
    assert metric_filter["LogGroupName"] == {"Ref": log_group}
    (transformation,) = metric_filter["MetricTransformations"]
    assert (transformation["MetricNamespace"], transformation["MetricValue"]) == (METRICS_NAMESPACE, "1")


@pytest.mark.parametrize(
    ("event_type", "error", "counted"),
    [
        *(("ExecutionFailed", error.__name__, True) for error in BUSINESS_ERRORS),
        ("ExecutionFailed", "Lambda.Unknown", False),
        ("ExecutionFailed", "States.Timeout", False),
        ("TaskFailed", "ValidationError", False),  # a step's failure, caught: the run's end is what counts
        ("ExecutionTimedOut", "States.Timeout", False),
    ],
)
def test_the_rejection_filter_counts_runs_ended_by_a_business_error_only(
    template: dict[str, Any], event_type: str, error: str, counted: bool
) -> None:
    # Given the template's metric filter, and a history event as Step Functions logs it
    (metric_filter,) = read_alarms(template, STACK_NAME).state_machine_filters
    event = {"id": 9, "previousEventId": 8, "timestamp": "2026-01-01T00:00:00.000Z", "type": event_type}
    event[f"{event_type[0].lower()}{event_type[1:]}EventDetails"] = {"error": error, "cause": "..."}
    logged = log_event(event, "arn:aws:states:us-east-1:123456789012:execution:Machine:run")

    # Then only a run that ended on a business error is counted
    assert metric_filter.pattern.matches(json.dumps(logged)) is counted


def test_every_topic_admits_exactly_the_rules_and_alarms_that_publish_to_it(template: dict[str, Any]) -> None:
    topics = set(of_type(template, "AWS::SNS::Topic"))
    # Who publishes where: each alarm to its actions' topics, each rule to its topic targets (as
    # events.amazonaws.com, having no role of its own).
    publishers: dict[str, set[tuple[str, str]]] = {topic: set() for topic in topics}
    for name, body in of_type(template, "AWS::CloudWatch::Alarm").items():
        for kind in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            for action in body["Properties"].get(kind, []):
                publishers[action["Ref"]].add(("cloudwatch.amazonaws.com", name))
    for name, body in of_type(template, "AWS::Events::Rule").items():
        for target in body["Properties"]["Targets"]:
            if target["Arn"] in [{"Ref": topic} for topic in topics]:
                assert "RoleArn" not in target, "an SNS target delivers as events.amazonaws.com"
                publishers[target["Arn"]["Ref"]].add(("events.amazonaws.com", name))
    assert all(publishers.values()), publishers

    for topic, expected in publishers.items():
        (statements,) = [
            body["Properties"]["PolicyDocument"]["Statement"]
            for body in of_type(template, "AWS::SNS::TopicPolicy").values()
            if body["Properties"]["Topics"] == [{"Ref": topic}]
        ]
        admitted = set()
        for statement in (statement for statement in statements if statement["Effect"] == "Allow"):
            # Each allow names one service, for named sources of this account only
            (service,) = as_list(statement["Principal"]["Service"])
            condition = statement["Condition"]
            assert condition["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}, statement
            for source in as_list(condition["ArnEquals"]["aws:SourceArn"]):
                (name, attribute) = source["Fn::GetAtt"]
                assert attribute == "Arn"
                admitted.add((service, name))
        assert admitted == expected, topic


def test_the_messages_key_trusts_services_only_under_a_condition(template: dict[str, Any]) -> None:
    for name, body in of_type(template, "AWS::KMS::Key").items():
        for statement in body["Properties"]["KeyPolicy"]["Statement"]:
            if "Service" in statement["Principal"]:
                assert statement.get("Condition"), f"{name}: {statement}"


def test_a_dashboard_shows_the_pipeline(template: dict[str, Any]) -> None:
    (dashboard,) = of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "ExecutionsFailed",
        "ExecutionsSucceeded",
        REJECTIONS_METRIC,
        "RecordsProcessed",
        "Throttles",
        "Duration",
    ):
        assert metric in body, metric


def test_the_operator_role_may_inspect_and_redrive_this_state_machine_only(template: dict[str, Any]) -> None:
    role = output_ref_of_role(template)
    statements = statements_of_role(template, role)
    actions = {action for statement in statements for action in as_list(statement["Action"])}
    assert {"states:RedriveExecution", "states:DescribeExecution", "states:GetExecutionHistory"} <= actions
    assert "states:StartExecution" not in actions
    # (its own state machine's runs, and the backfills' progress, which pipeline backfill --show reads)
    machines = (output_ref(template, OUTPUT_STATE_MACHINE), output_ref(template, OUTPUT_BACKFILL_STATE_MACHINE))
    for statement in statements:
        if any(action.startswith("states:") for action in as_list(statement["Action"])):
            assert any(machine in json.dumps(statement["Resource"]) for machine in machines)


def output_ref_of_role(template: dict[str, Any]) -> str:
    arn = template["Outputs"]["OperatorRoleArn"]["Value"]
    logical_id: str = arn["Fn::GetAtt"][0]
    return logical_id
