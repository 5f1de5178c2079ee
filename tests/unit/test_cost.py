"""The cost model on a small hand-made template: each resource type is priced by its formula, from the template."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from workflow.cost.estimate import BACKFILL_RUN_PATH, BACKFILL_SKIP_PATH, FAILURE_RECORDER_STATES, estimate
from workflow.cost.prices import HOURS_PER_MONTH, PLATFORM_LOG_BYTES, US_EAST_1, Assumptions
from workflow.cost.report import CostLine, CostReport
from workflow.cost.usage import (
    FunctionRun,
    LoggedEvent,
    RunMeasurement,
    function_log_bytes,
    log_events_from_history,
    sns_billed_requests,
)
from workflow.definition import BACKFILL_PATH, FAILURE_RECORDER_PATH, definition_text
from workflow.deployment import OUTPUT_BACKFILL_STATE_MACHINE, OUTPUT_STATE_MACHINE

RUNS = 1000
GIB = 1024**3
P = US_EAST_1

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineType": "STANDARD",
                "DefinitionSubstitutions": {"TopicArn": {"Ref": "Runs"}, "SmallArn": {"Ref": "SmallAlias"}},
                "LoggingConfiguration": {"Level": "ALL", "IncludeExecutionData": True},
                "TracingConfiguration": {"Enabled": True},
            },
        },
        "Small": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "MemorySize": 512,
                "Architectures": ["arm64"],
                "SnapStart": {"ApplyOn": "PublishedVersions"},
                "Environment": {"Variables": {"TOPIC": {"Ref": "Runs"}}},
            },
        },
        "Big": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 1024}},
        "Idle": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "MemorySize": 2048,
                "Architectures": ["arm64"],
                "SnapStart": {"ApplyOn": "PublishedVersions"},
            },
        },
        "S3Endpoint": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {"ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]}},
        },
        "SnsEndpoint": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcEndpointType": "Interface",
                "ServiceName": "com.amazonaws.us-east-1.sns",
                "SubnetIds": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}, {"Ref": "SubnetC"}],
            },
        },
        "XRayEndpoint": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcEndpointType": "Interface",
                "ServiceName": "com.amazonaws.us-east-1.xray",
                "SubnetIds": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}],
            },
        },
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True}},
        "Runs": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": {"Fn::GetAtt": ["Key", "Arn"]}}},
        "Alarms": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "RunsByEmail": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {"Protocol": "email", "TopicArn": {"Ref": "Runs"}, "Endpoint": "ops@example.com"},
        },
        "AlarmsByEmail": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {"Protocol": "email", "TopicArn": {"Ref": "Alarms"}, "Endpoint": "ops@example.com"},
        },
        "Standard": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"MetricName": "Errors", "Period": 300}},
        "Fast": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"MetricName": "Errors", "Period": 10}},
        "MathAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "Metrics": [
                    {"Id": "a", "MetricStat": {"Metric": {"MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}},
                    {"Id": "b", "MetricStat": {"Metric": {"MetricName": "Invocations"}, "Period": 60, "Stat": "Sum"}},
                    {"Id": "rate", "Expression": "a / b"},
                ]
            },
        },
        "Rollup": {"Type": "AWS::CloudWatch::CompositeAlarm", "Properties": {"AlarmRule": "ALARM(Standard)"}},
        "Board": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {}},
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {}},
        "Trigger": {"Type": "AWS::Events::Rule", "Properties": {"EventPattern": {"source": ["aws.s3"]}}},
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}},
    }
}

MEASUREMENT = RunMeasurement(
    sample="orders.csv",
    status="SUCCEEDED",
    states_entered=6,
    retries=2,
    functions={
        "Small": FunctionRun(invocations=2, durations_ms=(10.2, 0.3)),
        "Big": FunctionRun(invocations=1, durations_ms=(99.01,)),
    },
    sns_publishes=1,
    sns_publish_requests=1,
    s3_requests={"PutObject": 3, "CopyObject": 1, "GetObject": 2, "HeadObject": 1, "DeleteObjects": 1},
    function_log_bytes=1000,
    state_machine_log_events=(
        LoggedEvent("ExecutionStarted", 500, 100),
        LoggedEvent("TaskStateEntered", 400, 80),
        LoggedEvent("LambdaFunctionFailed", 300, 60),
        LoggedEvent("ExecutionFailed", 200, 40),
    ),
)


def report_for(template: dict[str, Any] | None = None, **kwargs: Any) -> CostReport:
    return estimate(template or TEMPLATE, kwargs.pop("measurement", MEASUREMENT), runs_per_month=RUNS, **kwargs)


def only(report: CostReport, service: str, item: str) -> CostLine:
    found = [line for line in report.lines if line.service == service and line.item.startswith(item)]
    assert len(found) == 1, f"{service}/{item}: {[line.item for line in report.lines if line.service == service]}"
    return found[0]


def test_state_transitions_are_priced_per_measured_transition_including_retries() -> None:
    line = only(report_for(), "Step Functions", "state transitions (Machine)")
    assert line.quantity == 8 * RUNS
    assert line.cost == pytest.approx(8 * RUNS * 0.025 / 1000)
    assert "6 states entered + 2 retries" in line.basis


def test_express_state_machines_are_not_priced_per_transition() -> None:
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["Machine"]["Properties"]["StateMachineType"] = "EXPRESS"
    report = report_for(template)
    assert not [line for line in report.lines if line.service == "Step Functions"]
    assert any("EXPRESS" in note for note in report.notes)


def test_lambda_requests_and_duration_use_each_functions_memory_architecture_and_1ms_rounding() -> None:
    report = report_for()
    assert only(report, "Lambda", "requests (Small)").quantity == 2 * RUNS
    assert only(report, "Lambda", "requests (Big)").quantity == 1 * RUNS
    small = only(report, "Lambda", "duration (Small)")
    # 10.2 ms bills 11 ms, 0.3 ms bills 1 ms: 12 ms at 0.5 GB, arm64.
    assert small.quantity == pytest.approx(0.012 * 0.5 * RUNS)
    assert small.unit_price == P.lambda_gb_second_arm64
    big = only(report, "Lambda", "duration (Big)")
    # No Architectures in the template: x86_64, Lambda's default.
    assert big.quantity == pytest.approx(0.100 * 1.0 * RUNS)
    assert big.unit_price == P.lambda_gb_second_x86_64
    assert not [line for line in report.lines if line.item.endswith("(Idle)") and line.service == "Lambda"]


def test_snapstart_cache_covers_every_snapstart_function_and_restores_follow_the_cold_start_share() -> None:
    report = report_for(assumptions=Assumptions(cold_start_share=0.1, snapstart_versions_kept=2))
    small_cache = only(report, "Lambda SnapStart", "snapshot cache (Small)")
    assert small_cache.quantity == pytest.approx(0.5 * HOURS_PER_MONTH * 3600 * 2)
    assert small_cache.fixed
    idle_cache = only(report, "Lambda SnapStart", "snapshot cache (Idle)")
    assert idle_cache.quantity == pytest.approx(2.0 * HOURS_PER_MONTH * 3600 * 2)
    restores = only(report, "Lambda SnapStart", "restores (Small)")
    assert restores.quantity == pytest.approx(2 * RUNS * 0.1 * 0.5)
    assert restores.unit_price == P.snapstart_restore_gb
    # Big has no SnapStart; Idle is never invoked, so it is never restored.
    assert not [line for line in report.lines if line.service == "Lambda SnapStart" and "Big" in line.item]
    assert not [line for line in report.lines if line.item == "restores (Idle)"]


def test_interface_endpoints_are_priced_per_az_hour_and_gateway_endpoints_are_free() -> None:
    report = report_for(assumptions=Assumptions(interface_endpoint_bytes_per_run=2 * 1024 * 1024))
    sns = only(report, "VPC endpoints", "interface endpoint sns")
    assert sns.quantity == 3 * HOURS_PER_MONTH
    assert sns.cost == pytest.approx(3 * 730 * 0.01)
    assert only(report, "VPC endpoints", "interface endpoint xray").quantity == 2 * HOURS_PER_MONTH
    gateway = only(report, "VPC endpoints", "gateway endpoint s3")
    assert gateway.cost == 0
    data = only(report, "VPC endpoints", "interface endpoints: data processed")
    assert data.quantity == pytest.approx(2 * 1024 * 1024 * RUNS / GIB)
    assert data.unit_price == P.interface_endpoint_gb


def test_sns_publishes_deliveries_and_kms() -> None:
    report = report_for()
    assert only(report, "SNS", "publish requests").quantity == RUNS
    # Only the run topic's subscription receives the run's publishes.
    email = only(report, "SNS", "email deliveries")
    assert email.quantity == RUNS
    assert email.unit_price == pytest.approx(2.00 / 100_000)
    key = only(report, "KMS", "customer managed key (Key)")
    assert key.cost == 1.0
    assert key.fixed
    # The run topic is encrypted with the key: one request per publish unless told otherwise.
    assert only(report, "KMS", "requests").quantity == RUNS
    assert only(report_for(assumptions=Assumptions(kms_requests_per_run=4)), "KMS", "requests").quantity == 4 * RUNS


def test_cloudwatch_logs_ingestion_from_measured_bytes_and_the_state_machine_log_level() -> None:
    report = report_for()
    functions = only(report, "CloudWatch Logs", "ingestion: Lambda function logs")
    assert functions.quantity == pytest.approx((1000 + 3 * PLATFORM_LOG_BYTES) * RUNS / GIB)
    machine = only(report, "CloudWatch Logs", "ingestion: state machine logs (Machine)")
    assert machine.quantity == pytest.approx((500 + 400 + 300 + 200) * RUNS / GIB)
    assert machine.unit_price == P.logs_ingestion_gb

    def machine_bytes(level: str, with_data: bool) -> float:
        template = copy.deepcopy(TEMPLATE)
        template["Resources"]["Machine"]["Properties"]["LoggingConfiguration"] = {
            "Level": level,
            "IncludeExecutionData": with_data,
        }
        lines = [line for line in report_for(template).lines if line.item.startswith("ingestion: state machine")]
        return lines[0].quantity * GIB / RUNS if lines else 0.0

    assert machine_bytes("ALL", False) == pytest.approx(100 + 80 + 60 + 40)
    assert machine_bytes("ERROR", True) == pytest.approx(300 + 200)
    assert machine_bytes("FATAL", True) == pytest.approx(200)
    assert machine_bytes("OFF", True) == 0


def test_alarms_by_resolution_and_metric_count_composites_and_dashboards() -> None:
    report = report_for()
    assert only(report, "CloudWatch", "alarm (Standard)").cost == pytest.approx(0.10)
    assert only(report, "CloudWatch", "alarm (Fast)").cost == pytest.approx(0.30)
    math_alarm = only(report, "CloudWatch", "alarm (MathAlarm)")
    assert math_alarm.quantity == 2
    assert math_alarm.cost == pytest.approx(0.20)
    assert only(report, "CloudWatch", "composite alarm (Rollup)").cost == pytest.approx(0.50)
    assert only(report, "CloudWatch", "dashboard (Board)").cost == pytest.approx(3.00)


def test_xray_api_gateway_s3_and_eventbridge() -> None:
    report = report_for(assumptions=Assumptions(api_share=0.25, xray_traces_per_run=0.5))
    assert only(report, "X-Ray", "traces recorded").quantity == pytest.approx(0.5 * RUNS)
    api = only(report, "API Gateway", "REST API requests")
    assert api.quantity == pytest.approx(0.25 * RUNS)
    assert api.unit_price == pytest.approx(3.50 / 1_000_000)
    writes = only(report, "S3", "PUT, COPY, POST, LIST requests")
    assert writes.quantity == (3 + 1) * RUNS
    reads = only(report, "S3", "GET and other requests")
    assert reads.quantity == (2 + 1) * RUNS
    assert reads.unit_price == pytest.approx(0.0004 / 1000)
    assert any("DeleteObjects" in note for note in report.notes)
    assert only(report, "EventBridge", "rule on aws.s3 events (Trigger)").cost == 0


def test_unmeasured_s3_requests_are_left_out_and_said_so() -> None:
    measurement = RunMeasurement(
        sample="x",
        status="SUCCEEDED",
        states_entered=1,
        retries=0,
        functions={},
        sns_publishes=0,
        sns_publish_requests=0,
    )
    report = report_for(measurement=measurement)
    assert not [line for line in report.lines if line.service == "S3"]
    assert any("S3 requests were not measured" in note for note in report.notes)


@pytest.mark.parametrize(
    ("resource_type", "service", "item"),
    [
        ("AWS::StepFunctions::StateMachine", "Step Functions", "state transitions"),
        ("AWS::Lambda::Function", "Lambda", "duration"),
        ("AWS::EC2::VPCEndpoint", "VPC endpoints", "interface endpoint"),
        ("AWS::KMS::Key", "KMS", "customer managed key"),
        ("AWS::CloudWatch::Alarm", "CloudWatch", "alarm ("),
        ("AWS::CloudWatch::CompositeAlarm", "CloudWatch", "composite alarm"),
        ("AWS::CloudWatch::Dashboard", "CloudWatch", "dashboard"),
        ("AWS::ApiGateway::RestApi", "API Gateway", "REST API requests"),
        ("AWS::SNS::Subscription", "SNS", "email deliveries"),
    ],
)
def test_each_line_comes_from_its_resources_in_the_template(resource_type: str, service: str, item: str) -> None:
    full = report_for()
    template = copy.deepcopy(TEMPLATE)
    template["Resources"] = {k: v for k, v in template["Resources"].items() if v["Type"] != resource_type}
    reduced = report_for(template)
    removed = [line for line in full.lines if line.service == service and line.item.startswith(item)]
    assert removed
    assert not [line for line in reduced.lines if line.service == service and line.item.startswith(item)]
    assert reduced.total < full.total


def test_totals_per_run_and_renderings() -> None:
    report = report_for()
    assert report.total == pytest.approx(sum(line.quantity * line.unit_price for line in report.lines))
    assert report.fixed_total == pytest.approx(sum(line.cost for line in report.lines if line.fixed))
    assert 0 < report.fixed_total < report.total
    assert report.per_run == pytest.approx(report.total / RUNS)
    assert report.variable_per_run == pytest.approx((report.total - report.fixed_total) / RUNS)

    document = json.loads(json.dumps(report.as_json()))
    assert document["runsPerMonth"] == RUNS
    assert document["totalMonthly"] == pytest.approx(report.total)
    assert document["freeTiers"] == "ignored"
    assert len(document["lines"]) == len(report.lines)
    assert document["measurement"]["stateTransitions"] == 8
    assert document["prices"]["source"] == P.source

    text = report.render()
    assert f"{report.total:,.2f}" in text
    assert "free tiers are ignored" in text
    assert "not measured on AWS" in text
    for line in report.lines:
        assert line.item in text
        assert line.basis in text


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="runs_per_month"):
        estimate(TEMPLATE, MEASUREMENT, runs_per_month=0)
    with pytest.raises(ValueError, match="share"):
        Assumptions(cold_start_share=1.5)


def test_function_runs_bill_each_invocation_rounded_up_to_the_millisecond() -> None:
    assert FunctionRun(3, (10.0, 10.01, 0.2)).billed_ms == 10 + 11 + 1


def _event(kind: str, event_id: int, **details: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind,
        "id": event_id,
        "previousEventId": event_id - 1,
        "timestamp": datetime(2026, 1, 1, tzinfo=UTC),
    }
    if details:
        event["someEventDetails"] = details
    return event


def test_state_machine_log_records_are_sized_with_and_without_execution_data() -> None:
    events = [
        _event("TaskStateEntered", 2, name="Validate", input='{"key": "' + "k" * 500 + '"}'),
        _event("ExecutionSucceeded", 3),
    ]
    logged = log_events_from_history(events, "arn:aws:states:us-east-1:1:execution:m:run")
    assert [entry.type for entry in logged] == ["TaskStateEntered", "ExecutionSucceeded"]
    assert logged[0].bytes_with_data > logged[0].bytes_without_data + 500
    assert logged[1].bytes_with_data == logged[1].bytes_without_data
    assert logged[1].bytes_without_data > len("arn:aws:states:us-east-1:1:execution:m:run")


def test_function_log_bytes_count_only_the_functions_json_lines() -> None:
    line = json.dumps({"level": "INFO", "message": "object accepted", "service": "serverless-data-pipeline"})
    text = f"{line}\nmoto: caught TaskFailed in state Validate\n{{not json\n{json.dumps({'other': 1})}\n{line}\n"
    assert function_log_bytes(text) == 2 * (len(line) + 1)


def test_sns_bills_each_64_kb_chunk_of_a_publish_as_one_request() -> None:
    assert sns_billed_requests("Run succeeded", "{}", {"status": "SUCCEEDED"}) == 1
    assert sns_billed_requests(None, "x" * (64 * 1024), {}) == 1
    assert sns_billed_requests("s", "x" * (64 * 1024), {}) == 2
    assert sns_billed_requests(None, "x" * (200 * 1024), {}) == 4


def ledger_template() -> dict[str, Any]:
    """The hand-made template with the ledger's resources: a table, the failure recorder, the backfill."""
    template = copy.deepcopy(TEMPLATE)
    resources = template["Resources"]
    resources["Ledger"] = {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    }
    resources["Recorder"] = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {"StateMachineType": "EXPRESS", "DefinitionString": definition_text(FAILURE_RECORDER_PATH)},
    }
    resources["Backfill"] = {"Type": "AWS::StepFunctions::StateMachine", "Properties": {"StateMachineType": "STANDARD"}}
    template["Outputs"] = {
        OUTPUT_STATE_MACHINE: {"Value": {"Ref": "Machine"}},
        OUTPUT_BACKFILL_STATE_MACHINE: {"Value": {"Ref": "Backfill"}},
    }
    return template


LEDGER_MEASUREMENT = dataclasses.replace(MEASUREMENT, dynamodb_requests={"UpdateItem": 2, "Query": 1})


def test_the_ledger_is_priced_per_update_read_and_stored_gigabyte_with_its_point_in_time_recovery() -> None:
    # Given the ledger's table and a run that updated it twice and queried it once
    assumptions = Assumptions(backfilled_objects_per_month=500)
    report = report_for(ledger_template(), measurement=LEDGER_MEASUREMENT, assumptions=assumptions)

    # Then writes cost the assumed units per update for each run, plus one per backfilled object
    writes = only(report, "DynamoDB", "write request units (Ledger)")
    assert writes.quantity == 2 * assumptions.ledger_write_units_per_update * RUNS + 500
    assert writes.unit_price == pytest.approx(0.625 / 1_000_000)
    assert only(report, "DynamoDB", "read request units (Ledger)").quantity == 1 * RUNS + 500
    # And a month of items is stored, and backed up continuously at the same size
    stored = only(report, "DynamoDB", "storage (Ledger)")
    assert stored.quantity == pytest.approx(RUNS * assumptions.ledger_bytes_per_source / GIB)
    assert only(report, "DynamoDB", "point-in-time recovery (Ledger)").quantity == stored.quantity


def test_only_the_pipeline_is_priced_per_run_the_backfill_per_object_and_the_recorder_per_bad_end() -> None:
    # Given the pipeline, the backfill (500 objects a month) and the Express failure recorder
    assumptions = Assumptions(backfilled_objects_per_month=500, ended_badly_share=0.1)
    report = report_for(ledger_template(), measurement=LEDGER_MEASUREMENT, assumptions=assumptions)

    # Then the pipeline's transitions are the measured run's, the backfill's its path's per object
    assert only(report, "Step Functions", "state transitions (Machine)").quantity == 8 * RUNS
    backfill = only(report, "Step Functions", "backfill state transitions (Backfill)")
    assert backfill.quantity == (1 + len(BACKFILL_RUN_PATH)) * 500
    # And the recorder one Express request (at the 100 ms, 64 MB minimum) per run that ended badly
    assert only(report, "Step Functions", "Express requests (Recorder)").quantity == pytest.approx(0.1 * RUNS)
    duration = only(report, "Step Functions", "Express duration (Recorder)")
    assert duration.quantity == pytest.approx(0.1 * RUNS * 0.1 * 64 / 1024)


def test_the_other_state_machines_logs_are_priced_by_their_own_executions_not_the_runs() -> None:
    # Given the recorder and the backfill logging as the pipeline does, 500 objects backfilled a
    # month and a tenth of the runs ending badly
    template = ledger_template()
    logging = template["Resources"]["Machine"]["Properties"]["LoggingConfiguration"]
    for name in ("Recorder", "Backfill"):
        template["Resources"][name]["Properties"]["LoggingConfiguration"] = logging
    assumptions = Assumptions(backfilled_objects_per_month=500, ended_badly_share=0.1)
    report = report_for(template, measurement=LEDGER_MEASUREMENT, assumptions=assumptions)

    # Then each logs its own transitions, each the size of one of the pipeline's
    per_transition = (500 + 400 + 300 + 200) / MEASUREMENT.state_transitions
    recorder = only(report, "CloudWatch Logs", "ingestion: state machine logs (Recorder)")
    assert recorder.quantity == pytest.approx(0.1 * RUNS * len(FAILURE_RECORDER_STATES) * per_transition / GIB)
    backfill = only(report, "CloudWatch Logs", "ingestion: state machine logs (Backfill)")
    assert backfill.quantity == pytest.approx(500 * (1 + len(BACKFILL_RUN_PATH)) * per_transition / GIB)
    # And the pipeline its runs'
    pipeline = only(report, "CloudWatch Logs", "ingestion: state machine logs (Machine)")
    assert pipeline.quantity == pytest.approx((500 + 400 + 300 + 200) * RUNS / GIB)


def test_the_failure_recorder_path_priced_is_a_path_of_its_definition() -> None:
    definition = json.loads(definition_text(FAILURE_RECORDER_PATH))
    states = definition["States"]
    assert FAILURE_RECORDER_STATES[0] == definition["StartAt"]
    for current, following in itertools.pairwise(FAILURE_RECORDER_STATES):
        state = states[current]
        successors = {state.get("Next"), state.get("Default"), *(rule["Next"] for rule in state.get("Choices", []))}
        assert following in successors, (current, following)
    assert states[FAILURE_RECORDER_STATES[-1]]["Type"] == "Succeed"


@pytest.mark.parametrize("path", [BACKFILL_RUN_PATH, BACKFILL_SKIP_PATH])
def test_the_backfill_paths_priced_are_paths_of_the_definition(path: tuple[str, ...]) -> None:
    # Given the backfill child's states, in the order the cost model counts them
    states = json.loads(definition_text(BACKFILL_PATH))["States"]["Objects"]["ItemProcessor"]["States"]

    # Then each leads to the next (by Next, a Choice's default or one of its rules) and the last ends
    assert path[0] == json.loads(definition_text(BACKFILL_PATH))["States"]["Objects"]["ItemProcessor"]["StartAt"]
    for current, following in itertools.pairwise(path):
        state = states[current]
        successors = {state.get("Next"), state.get("Default"), *(rule["Next"] for rule in state.get("Choices", []))}
        assert following in successors, (current, following)
    assert states[path[-1]].get("End") is True
