"""A monthly cost estimate: the synthesized template's billable resources, priced with what one
measured run used.

``estimate`` is pure: it reads every billable resource from the template (functions with their
memory, architecture and SnapStart; VPC endpoints and their subnets; KMS keys; alarms;
dashboards; the state machines' logging and tracing; a REST API; the ledger's DynamoDB table, its
Express failure recorder and the backfill) and prices the measurement for ``runs_per_month`` runs
at ``Prices`` (us-east-1 list prices, free tiers ignored).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workflow.cost.prices import (
    BYTES_PER_GB,
    DEFAULT_ASSUMPTIONS,
    HOURS_PER_MONTH,
    SECONDS_PER_MONTH,
    US_EAST_1,
    Assumptions,
    Prices,
)
from workflow.cost.report import CostLine, CostReport
from workflow.cost.usage import RunMeasurement
from workflow.definition import FAILURE_RECORDER_PATH, definition_text
from workflow.deployment import OUTPUT_BACKFILL_STATE_MACHINE, OUTPUT_STATE_MACHINE

# The states a backfill child enters for an object it starts a run for (workflow/backfill.asl.json);
# Step Functions also bills each child workflow the Distributed Map starts as one transition.
BACKFILL_RUN_PATH = (
    "InWindow",
    "FindVersion",
    "LookUp",
    "Decide",
    "CountStarted",
    "RunPipeline",
    "Processed",
    "CountSucceeded",
)
# ... and for an object the ledger already has a result for.
BACKFILL_SKIP_PATH = ("InWindow", "FindVersion", "LookUp", "Decide", "CountSkipped")
# What one backfilled object asks of the ledger: a strongly consistent GetItem, a counter update.
BACKFILL_LEDGER_READS = 1
BACKFILL_LEDGER_WRITES = 1
# The states the failure recorder enters for a failed run it records (workflow/ledger_failures.asl.json).
FAILURE_RECORDER_STATES = ("FindSource", "Found", "ErrorName", "NamedError", "RecordFailure", "Recorded")
# Express billing steps: 100 ms of duration, 64 MB of memory.
EXPRESS_MIN_SECONDS = 0.1
# The stack's state machines, as the estimate tells them apart.
PIPELINE, RECORDER, BACKFILL = "pipeline", "failure recorder", "backfill"
EXPRESS_MEMORY_GB = 64 / 1024


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _of_type(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    resources: Mapping[str, Any] = template.get("Resources", {})
    return {
        logical_id: dict(body.get("Properties", {}))
        for logical_id, body in resources.items()
        if isinstance(body, Mapping) and body.get("Type") == kind
    }


def _refs(value: Any) -> set[str]:
    """Logical ids that ``value`` refers to (Ref and Fn::GetAtt, at any depth)."""
    if isinstance(value, Mapping):
        found: set[str] = set()
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt" and isinstance(item, list) and item:
                found.add(str(item[0]))
            else:
                found |= _refs(item)
        return found
    found_in_list: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found_in_list |= _refs(item)
    return found_in_list


def _output_ref(template: Mapping[str, Any], output: str) -> str | None:
    """The logical id a stack output refers to (``Ref``), None without that output."""
    value = (template.get("Outputs", {}).get(output) or {}).get("Value")
    return str(value["Ref"]) if isinstance(value, Mapping) and "Ref" in value else None


def _label(value: Any) -> str:
    """A readable rendering of a template value that may hold intrinsics (``Fn::Join`` of strings and Refs)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_label(part) for part in parts)
    if isinstance(value, Mapping) and "Ref" in value:
        return "{" + str(value["Ref"]) + "}"
    return json.dumps(value)


@dataclass
class _Estimate:
    template: Mapping[str, Any]
    measurement: RunMeasurement
    runs: int
    prices: Prices
    assumptions: Assumptions
    lines: list[CostLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    # Step Functions -------------------------------------------------------------------------------

    def _machine_role(self, logical_id: str, props: Mapping[str, Any]) -> str | None:
        """Which of the stack's state machines ``logical_id`` is: ``BACKFILL``, ``RECORDER`` or
        ``PIPELINE`` (a lone Standard machine is taken for the pipeline); None for another."""
        kind = str(props.get("StateMachineType", "STANDARD"))
        pipeline = _output_ref(self.template, OUTPUT_STATE_MACHINE)
        if logical_id == _output_ref(self.template, OUTPUT_BACKFILL_STATE_MACHINE):
            return BACKFILL
        if kind == "EXPRESS" and props.get("DefinitionString") == definition_text(FAILURE_RECORDER_PATH):
            return RECORDER
        if kind == "STANDARD" and (pipeline is None or logical_id == pipeline):
            return PIPELINE
        return None

    def step_functions(self) -> None:
        machines = _of_type(self.template, "AWS::StepFunctions::StateMachine")
        for logical_id, props in machines.items():
            kind = str(props.get("StateMachineType", "STANDARD"))
            role = self._machine_role(logical_id, props)
            if role == BACKFILL:
                self.backfill(logical_id)
                continue
            if role == RECORDER:
                self.failure_recorder(logical_id)
                continue
            if kind == "STANDARD" and role is None:
                self.notes.append(f"{logical_id} is not the pipeline's state machine: its runs are not priced")
                continue
            if kind != "STANDARD":
                self.notes.append(
                    f"{logical_id} is an {kind} state machine: priced per request and duration, "
                    "which this model does not do"
                )
                continue
            m = self.measurement
            self.lines.append(
                CostLine(
                    "Step Functions",
                    f"state transitions ({logical_id})",
                    m.state_transitions * self.runs,
                    "transition",
                    self.prices.sfn_state_transition,
                    f"{m.state_transitions} per run ({m.states_entered} states entered + {m.retries} retries, "
                    f"measured) x {self.runs:,} runs",
                )
            )

    def backfill(self, logical_id: str) -> None:
        objects = self.assumptions.backfilled_objects_per_month
        per_object = 1 + len(BACKFILL_RUN_PATH)
        self.lines.append(
            CostLine(
                "Step Functions",
                f"backfill state transitions ({logical_id})",
                per_object * objects,
                "transition",
                self.prices.sfn_state_transition,
                f"{per_object} per object backfilled (the child workflow, and {len(BACKFILL_RUN_PATH)} states on the "
                f"path that starts a run) x {objects:,} objects a month (assumed; set backfilled_objects_per_month); "
                f"an object the ledger already has costs {1 + len(BACKFILL_SKIP_PATH)}; each run started is one of "
                "the runs",
            )
        )

    def failure_recorder(self, logical_id: str) -> None:
        share = self.assumptions.ended_badly_share
        requests = share * self.runs
        self.lines.append(
            CostLine(
                "Step Functions",
                f"Express requests ({logical_id})",
                requests,
                "request",
                self.prices.sfn_express_request,
                f"one per run that ends FAILED, TIMED_OUT or ABORTED: {share:.0%} of {self.runs:,} runs (assumed, "
                "rejections included)",
            )
        )
        self.lines.append(
            CostLine(
                "Step Functions",
                f"Express duration ({logical_id})",
                requests * EXPRESS_MIN_SECONDS * EXPRESS_MEMORY_GB,
                "GB-s",
                self.prices.sfn_express_gb_second,
                f"{requests:,.0f} executions x the 100 ms and 64 MB billing minimum (one query and one or two "
                "writes each)",
            )
        )

    # DynamoDB -----------------------------------------------------------------------------------------

    def dynamodb(self) -> None:
        tables = _of_type(self.template, "AWS::DynamoDB::Table")
        if not tables:
            return
        requests = self.measurement.dynamodb_requests
        if requests is None:
            self.notes.append("DynamoDB requests were not measured: the ledger's per-run requests are not priced")
            requests = {}
        writes = sum(count for operation, count in requests.items() if operation in _DYNAMODB_WRITES)
        reads = sum(count for operation, count in requests.items() if operation in _DYNAMODB_READS)
        units = self.assumptions.ledger_write_units_per_update
        objects = self.assumptions.backfilled_objects_per_month
        for name, props in tables.items():
            if props.get("BillingMode") != "PAY_PER_REQUEST":
                self.notes.append(f"DynamoDB table {name} is not on demand: its capacity is not priced")
                continue
            self.lines.append(
                CostLine(
                    "DynamoDB",
                    f"write request units ({name})",
                    writes * units * self.runs + BACKFILL_LEDGER_WRITES * objects,
                    "write request unit",
                    self.prices.dynamodb_write_request_unit,
                    f"{writes} ledger update(s) per run (measured) x {units:g} units each (item and index entries, "
                    f"assumed) x {self.runs:,} runs, + {BACKFILL_LEDGER_WRITES} per backfilled object",
                )
            )
            self.lines.append(
                CostLine(
                    "DynamoDB",
                    f"read request units ({name})",
                    reads * self.runs + BACKFILL_LEDGER_READS * objects,
                    "read request unit",
                    self.prices.dynamodb_read_request_unit,
                    f"{reads} read(s) per run (measured: the unchanged-content lookup, when a dataset asks) x "
                    f"{self.runs:,} runs, + {BACKFILL_LEDGER_READS} strongly consistent read per backfilled object",
                )
            )
            gigabytes = self.runs * self.assumptions.ledger_bytes_per_source / BYTES_PER_GB
            basis = (
                f"{self.runs:,} source versions a month x {self.assumptions.ledger_bytes_per_source:,} bytes with the "
                "indexes' copies (assumed): one month's items; the ledger keeps every month's"
            )
            self.lines.append(
                CostLine(
                    "DynamoDB",
                    f"storage ({name})",
                    gigabytes,
                    "GB-month",
                    self.prices.dynamodb_storage_gb_month,
                    basis,
                )
            )
            pitr = (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
            if _is_true(pitr):
                self.lines.append(
                    CostLine(
                        "DynamoDB",
                        f"point-in-time recovery ({name})",
                        gigabytes,
                        "GB-month",
                        self.prices.dynamodb_pitr_gb_month,
                        "billed on the table's size, as its storage",
                    )
                )

    # Lambda -------------------------------------------------------------------------------------------

    def lambda_functions(self) -> None:
        functions = _of_type(self.template, "AWS::Lambda::Function")
        unknown = sorted(set(self.measurement.functions) - set(functions))
        if unknown:
            self.notes.append(f"invoked but not in the template, not priced: {', '.join(unknown)}")
        idle = sorted(name for name in functions if name not in self.measurement.functions)
        if idle:
            self.notes.append(
                "functions not invoked by the measured run (no request or duration charge here; "
                f"SnapStart cache still charged): {', '.join(idle)}"
            )
        for name, props in functions.items():
            memory_mb = int(props.get("MemorySize", 128))
            memory_gb = memory_mb / 1024
            architecture = str((props.get("Architectures") or ["x86_64"])[0])
            gb_second_price = (
                self.prices.lambda_gb_second_arm64 if architecture == "arm64" else self.prices.lambda_gb_second_x86_64
            )
            run = self.measurement.functions.get(name)
            invocations = run.invocations * self.runs if run else 0
            if run:
                self.lines.append(
                    CostLine(
                        "Lambda",
                        f"requests ({name})",
                        invocations,
                        "request",
                        self.prices.lambda_request,
                        f"{run.invocations} invocation(s) per run x {self.runs:,} runs",
                    )
                )
                measured = sum(run.durations_ms)
                self.lines.append(
                    CostLine(
                        "Lambda",
                        f"duration ({name})",
                        run.billed_ms / 1000 * memory_gb * self.runs,
                        "GB-s",
                        gb_second_price,
                        f"{run.billed_ms} ms billed per run (measured {measured:.1f} ms locally, rounded up to 1 ms "
                        f"per invocation) x {memory_mb} MB x {self.runs:,} runs; {architecture}",
                    )
                )
            if (props.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions":
                versions = self.assumptions.snapstart_versions_kept
                self.lines.append(
                    CostLine(
                        "Lambda SnapStart",
                        f"snapshot cache ({name})",
                        memory_gb * SECONDS_PER_MONTH * versions,
                        "GB-s",
                        self.prices.snapstart_cache_gb_second,
                        f"{memory_mb} MB cached for {HOURS_PER_MONTH} h x {versions} published version(s) kept",
                        fixed=True,
                    )
                )
                if invocations:
                    restores = invocations * self.assumptions.cold_start_share
                    self.lines.append(
                        CostLine(
                            "Lambda SnapStart",
                            f"restores ({name})",
                            restores * memory_gb,
                            "GB restored",
                            self.prices.snapstart_restore_gb,
                            f"{restores:,.0f} restores ({self.assumptions.cold_start_share:.0%} of {invocations:,} "
                            f"invocations start cold, assumed) x {memory_mb} MB",
                        )
                    )
        if any((props.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions" for props in functions.values()):
            self.notes.append(
                "SnapStart: every published version keeps its snapshot cached and charged until it is deleted; "
                f"the estimate assumes {self.assumptions.snapstart_versions_kept} per function, so delete versions "
                "that old deployments leave behind"
            )

    # VPC endpoints ------------------------------------------------------------------------------------

    def vpc_endpoints(self) -> None:
        interface_count = 0
        for name, props in _of_type(self.template, "AWS::EC2::VPCEndpoint").items():
            kind = str(props.get("VpcEndpointType", "Gateway"))
            service = _label(props.get("ServiceName", "?")).rsplit(".", 1)[-1]
            if kind == "Gateway":
                self.lines.append(
                    CostLine(
                        "VPC endpoints",
                        f"gateway endpoint {service} ({name})",
                        HOURS_PER_MONTH,
                        "endpoint-hour",
                        0.0,
                        "gateway endpoints have no hourly or data processing charge",
                        fixed=True,
                    )
                )
            elif kind == "Interface":
                interface_count += 1
                subnets = props.get("SubnetIds")
                azs = len(subnets) if isinstance(subnets, list) and subnets else 1
                basis = f"{azs} AZ(s) (one per subnet) x {HOURS_PER_MONTH} h"
                if not (isinstance(subnets, list) and subnets):
                    basis += "; the template lists no subnets, 1 AZ assumed"
                self.lines.append(
                    CostLine(
                        "VPC endpoints",
                        f"interface endpoint {service} ({name})",
                        azs * HOURS_PER_MONTH,
                        "endpoint-AZ-hour",
                        self.prices.interface_endpoint_az_hour,
                        basis,
                        fixed=True,
                    )
                )
            else:
                self.notes.append(f"VPC endpoint {name} of type {kind} is not priced")
        if interface_count:
            per_run = self.assumptions.interface_endpoint_bytes_per_run
            self.lines.append(
                CostLine(
                    "VPC endpoints",
                    "interface endpoints: data processed",
                    per_run * self.runs / BYTES_PER_GB,
                    "GB",
                    self.prices.interface_endpoint_gb,
                    f"{per_run:,} bytes per run through all interface endpoints (assumed) x {self.runs:,} runs",
                )
            )

    # SNS and KMS ----------------------------------------------------------------------------------

    def _run_topics(self) -> set[str]:
        """Topics the run publishes to: referenced by the state machine's substitutions or a function's environment."""
        topics = set(_of_type(self.template, "AWS::SNS::Topic"))
        referenced: set[str] = set()
        for props in _of_type(self.template, "AWS::StepFunctions::StateMachine").values():
            referenced |= _refs(props.get("DefinitionSubstitutions", {}))
        for props in _of_type(self.template, "AWS::Lambda::Function").values():
            referenced |= _refs(props.get("Environment", {}))
        return topics & referenced

    def sns(self) -> None:
        m = self.measurement
        topics = _of_type(self.template, "AWS::SNS::Topic")
        if not topics and not m.sns_publishes:
            return
        self.lines.append(
            CostLine(
                "SNS",
                "publish requests",
                m.sns_publish_requests * self.runs,
                "request",
                self.prices.sns_request,
                f"{m.sns_publishes} publish(es) per run ({m.sns_publish_requests} billed 64 KB request(s), measured) "
                f"x {self.runs:,} runs",
            )
        )
        run_topics = self._run_topics()
        protocols: Counter[str] = Counter()
        for props in _of_type(self.template, "AWS::SNS::Subscription").values():
            if _refs(props.get("TopicArn")) & run_topics:
                protocols[str(props.get("Protocol", "")).lower()] += 1
        deliveries = m.sns_publishes * self.runs
        for protocol, count in sorted(protocols.items()):
            price = {
                "email": self.prices.sns_email_delivery,
                "email-json": self.prices.sns_email_delivery,
                "http": self.prices.sns_http_delivery,
                "https": self.prices.sns_http_delivery,
                "sqs": 0.0,
                "lambda": 0.0,
            }.get(protocol)
            if price is None:
                self.notes.append(f"SNS {protocol} deliveries are not priced")
                continue
            self.lines.append(
                CostLine(
                    "SNS",
                    f"{protocol} deliveries",
                    deliveries * count,
                    "delivery",
                    price,
                    f"{count} {protocol} subscription(s) on the run topic x {deliveries:,} publishes "
                    "(filter policies ignored)",
                )
            )

    def kms(self) -> None:
        keys = _of_type(self.template, "AWS::KMS::Key")
        for name, props in keys.items():
            rotation = (
                " (automatic rotation: each newly generated backing key adds $1/month, the first after a year)"
                if _is_true(props.get("EnableKeyRotation"))
                else ""
            )
            self.lines.append(
                CostLine(
                    "KMS",
                    f"customer managed key ({name})",
                    1,
                    "key-month",
                    self.prices.kms_key_month,
                    f"one key, whole month{rotation}",
                    fixed=True,
                )
            )
        requests = self.assumptions.kms_requests_per_run
        if requests is None:
            topics = _of_type(self.template, "AWS::SNS::Topic")
            encrypted = {name for name in self._run_topics() if topics[name].get("KmsMasterKeyId")}
            if not encrypted:
                if keys:
                    self.notes.append("KMS requests: no per-run use of the keys is known; set kms_requests_per_run")
                return
            requests = float(self.measurement.sns_publishes)
            basis = (
                f"{requests:g} per run: one per publish to a KMS-encrypted topic, assumed (no data-key reuse) "
                f"x {self.runs:,} runs"
            )
        else:
            basis = f"{requests:g} per run (given) x {self.runs:,} runs"
        self.lines.append(CostLine("KMS", "requests", requests * self.runs, "request", self.prices.kms_request, basis))

    # CloudWatch -----------------------------------------------------------------------------------

    def logs(self) -> None:
        m = self.measurement
        functions = _of_type(self.template, "AWS::Lambda::Function")
        invocations = sum(run.invocations for name, run in m.functions.items() if name in functions)
        platform = self.assumptions.lambda_platform_log_bytes_per_invocation
        if m.function_log_bytes is not None:
            handler_bytes, source = m.function_log_bytes, "measured from the local run's log stream"
        else:
            handler_bytes, source = self.assumptions.function_log_bytes_per_run, "assumed"
        if invocations:
            per_run = handler_bytes + platform * invocations
            self.lines.append(
                CostLine(
                    "CloudWatch Logs",
                    "ingestion: Lambda function logs",
                    per_run * self.runs / BYTES_PER_GB,
                    "GB",
                    self.prices.logs_ingestion_gb,
                    f"{per_run:,} bytes per run ({handler_bytes:,} handler log bytes, {source}, + {platform} bytes of "
                    f"Lambda START/END/REPORT lines x {invocations} invocations) x {self.runs:,} runs",
                )
            )
        for name, props in _of_type(self.template, "AWS::StepFunctions::StateMachine").items():
            logging = props.get("LoggingConfiguration") or {}
            level = str(logging.get("Level", "OFF"))
            if level == "OFF":
                continue
            with_data = _is_true(logging.get("IncludeExecutionData"))
            events = [event for event in m.state_machine_log_events if _logged_at(level, event.type)]
            if m.state_machine_log_events:
                per_run = sum(e.bytes_with_data if with_data else e.bytes_without_data for e in events)
                per_transition = per_run / m.state_transitions if m.state_transitions else 0.0
                basis = (
                    f"{len(events)} history events logged per run at level {level}"
                    f"{' with' if with_data else ' without'} execution data, {per_run:,} bytes "
                    f"(~{per_transition:,.0f} bytes per transition, sized from the local history)"
                )
            else:
                per_transition = float(self.assumptions.state_machine_log_bytes_per_transition)
                per_run = self.assumptions.state_machine_log_bytes_per_transition * m.state_transitions
                basis = (
                    f"{self.assumptions.state_machine_log_bytes_per_transition:,} bytes per transition (assumed) "
                    f"x {m.state_transitions} transitions, level {level}"
                )
            role = self._machine_role(name, props)
            if role == PIPELINE:
                volume, basis = float(per_run * self.runs), f"{basis} x {self.runs:,} runs"
            elif role in (RECORDER, BACKFILL):
                # The other machines' histories are not run locally: their transitions, each logged
                # as much as one of the pipeline's.
                if role == RECORDER:
                    executions = self.assumptions.ended_badly_share * self.runs
                    transitions = len(FAILURE_RECORDER_STATES) * executions
                    count = (
                        f"{len(FAILURE_RECORDER_STATES)} states x {executions:,.0f} executions (one per run that "
                        "ends badly)"
                    )
                else:
                    objects = self.assumptions.backfilled_objects_per_month
                    transitions = (1 + len(BACKFILL_RUN_PATH)) * objects
                    count = f"{1 + len(BACKFILL_RUN_PATH)} transitions x {objects:,} objects backfilled"
                volume = transitions * per_transition
                basis = f"{count}, ~{per_transition:,.0f} bytes each (as the pipeline's), level {level}"
            else:
                self.notes.append(f"{name} is not one of the pipeline's state machines: its logs are not priced")
                continue
            self.lines.append(
                CostLine(
                    "CloudWatch Logs",
                    f"ingestion: state machine logs ({name})",
                    volume / BYTES_PER_GB,
                    "GB",
                    self.prices.logs_ingestion_gb,
                    basis,
                )
            )

    def alarms_and_dashboards(self) -> None:
        for name, props in _of_type(self.template, "AWS::CloudWatch::Alarm").items():
            metrics = props.get("Metrics")
            if isinstance(metrics, list) and metrics:
                count = max(1, sum(1 for metric in metrics if isinstance(metric, Mapping) and "MetricStat" in metric))
                periods = [
                    int(m["MetricStat"].get("Period", 60))
                    for m in metrics
                    if isinstance(m, Mapping) and "MetricStat" in m
                ]
                period = min(periods) if periods else 60
            else:
                count, period = 1, int(props.get("Period", 60))
            high = period < 60
            self.lines.append(
                CostLine(
                    "CloudWatch",
                    f"alarm ({name})",
                    count,
                    "alarm metric-month",
                    self.prices.alarm_high_resolution_metric_month if high else self.prices.alarm_standard_metric_month,
                    f"{count} metric(s), {'high' if high else 'standard'} resolution (period {period} s)",
                    fixed=True,
                )
            )
        for name in _of_type(self.template, "AWS::CloudWatch::CompositeAlarm"):
            self.lines.append(
                CostLine(
                    "CloudWatch",
                    f"composite alarm ({name})",
                    1,
                    "alarm-month",
                    self.prices.alarm_composite_month,
                    "one composite alarm",
                    fixed=True,
                )
            )
        for name in _of_type(self.template, "AWS::CloudWatch::Dashboard"):
            self.lines.append(
                CostLine(
                    "CloudWatch",
                    f"dashboard ({name})",
                    1,
                    "dashboard-month",
                    self.prices.dashboard_month,
                    "one dashboard, whole month",
                    fixed=True,
                )
            )

    # X-Ray, API Gateway, S3, EventBridge -------------------------------------------------------------

    def xray(self) -> None:
        traced = [
            name
            for name, props in _of_type(self.template, "AWS::StepFunctions::StateMachine").items()
            if _is_true((props.get("TracingConfiguration") or {}).get("Enabled"))
        ]
        traced += [
            name
            for name, props in _of_type(self.template, "AWS::Lambda::Function").items()
            if (props.get("TracingConfig") or {}).get("Mode") == "Active"
        ]
        if not traced:
            return
        per_run = self.assumptions.xray_traces_per_run
        self.lines.append(
            CostLine(
                "X-Ray",
                "traces recorded",
                per_run * self.runs,
                "trace",
                self.prices.xray_trace_recorded,
                f"{per_run:g} trace per run (assumed; the execution and its invocations share one trace) x "
                f"{self.runs:,} runs; tracing on {len(traced)} resource(s)",
            )
        )

    def api_gateway(self) -> None:
        apis = _of_type(self.template, "AWS::ApiGateway::RestApi")
        if not apis:
            return
        share = self.assumptions.api_share
        self.lines.append(
            CostLine(
                "API Gateway",
                f"REST API requests ({', '.join(sorted(apis))})",
                share * self.runs,
                "request",
                self.prices.apigw_rest_request,
                f"{share:.0%} of {self.runs:,} runs started through the API (assumed; the rest by S3 uploads)",
            )
        )

    def s3(self) -> None:
        requests = self.measurement.s3_requests
        if requests is None:
            self.notes.append("S3 requests were not measured and are not priced")
            return
        tier1 = {op: n for op, n in requests.items() if op.startswith(_S3_TIER1_PREFIXES)}
        free = {op: n for op, n in requests.items() if op.startswith(("Delete", "Abort"))}
        tier2 = {op: n for op, n in requests.items() if op not in tier1 and op not in free}
        for label, counted, price in (
            ("PUT, COPY, POST, LIST requests", tier1, self.prices.s3_put_copy_post_list_request),
            ("GET and other requests", tier2, self.prices.s3_get_and_other_request),
        ):
            per_run = sum(counted.values())
            if per_run:
                detail = ", ".join(f"{n} {op}" for op, n in sorted(counted.items()))
                self.lines.append(
                    CostLine(
                        "S3",
                        label,
                        per_run * self.runs,
                        "request",
                        price,
                        f"{per_run} per run ({detail}; measured, the upload included) x {self.runs:,} runs",
                    )
                )
        if free:
            self.notes.append("S3 DELETE and abort requests are free: " + ", ".join(sorted(free)))

    def eventbridge(self) -> None:
        for name, props in _of_type(self.template, "AWS::Events::Rule").items():
            sources = (props.get("EventPattern") or {}).get("source", [])
            if sources and all(str(source).startswith("aws.") for source in sources):
                self.lines.append(
                    CostLine(
                        "EventBridge",
                        f"rule on {', '.join(map(str, sources))} events ({name})",
                        1,
                        "rule-month",
                        0.0,
                        "events that AWS services publish to the default bus are free, matching and delivery included",
                        fixed=True,
                    )
                )
            else:
                self.notes.append(f"EventBridge rule {name} matches custom events: not priced")


_S3_TIER1_PREFIXES = ("Put", "Copy", "Post", "List", "Create", "Complete", "Upload", "Restore")
_DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
_DYNAMODB_READS = frozenset({"GetItem", "Query"})


def _logged_at(level: str, event_type: str) -> bool:
    """Whether a Step Functions log at ``level`` carries history events of ``event_type``."""
    if level == "ALL":
        return True
    if level == "ERROR":
        return event_type.endswith(("Failed", "TimedOut", "Aborted")) or event_type == "FailStateEntered"
    if level == "FATAL":
        return event_type in {"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
    return False


# Billable resource types this model leaves out, and why.
_UNPRICED = {
    "AWS::S3::Bucket": "S3 storage (depends on how much data is kept)",
    "AWS::EC2::FlowLog": "VPC flow log ingestion (depends on traffic)",
    "AWS::SQS::Queue": "SQS requests (not measured locally)",
    "AWS::ApiGateway::Stage": "API Gateway access logs and caching",
}


def _unpriced(template: Mapping[str, Any]) -> list[str]:
    notes = [
        f"in the template but not priced: {reason} ({kind})"
        for kind, reason in _UNPRICED.items()
        if _of_type(template, kind)
    ]
    if any(props.get("KmsKeyId") for props in _of_type(template, "AWS::Logs::LogGroup").values()):
        notes.append("KMS requests that CloudWatch Logs makes for KMS-encrypted log groups are not counted")
    return notes


def estimate(
    template: Mapping[str, Any],
    measurement: RunMeasurement,
    *,
    runs_per_month: int = 100_000,
    prices: Prices = US_EAST_1,
    assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
) -> CostReport:
    """Monthly cost of ``runs_per_month`` runs like ``measurement`` on the stack ``template`` describes."""
    if runs_per_month < 1:
        raise ValueError("runs_per_month must be at least 1")
    work = _Estimate(template, measurement, runs_per_month, prices, assumptions)
    work.step_functions()
    work.dynamodb()
    work.lambda_functions()
    work.vpc_endpoints()
    work.sns()
    work.kms()
    work.logs()
    work.alarms_and_dashboards()
    work.xray()
    work.api_gateway()
    work.s3()
    work.eventbridge()
    notes = [
        "free tiers are ignored: every line is priced from the first unit",
        f"Lambda durations are {measurement.durations_source}, not measured on AWS",
        "not priced: data transfer, CloudWatch Logs storage, and the custom metrics the functions emit "
        "(Powertools EMF) with their EMF log lines",
        *_unpriced(template),
        *work.notes,
    ]
    return CostReport(
        lines=tuple(work.lines),
        runs_per_month=runs_per_month,
        prices=prices,
        assumptions=assumptions,
        measurement=measurement,
        notes=tuple(notes),
    )
