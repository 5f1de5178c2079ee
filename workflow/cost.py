"""A monthly cost model: the synthesized template's resources, priced with what one measured run used.

Two halves:

- ``measure_run`` runs one file through the embedded environment (``LocalPipeline``) exactly as
  ``pipeline run`` does and measures, from the execution history and the emulators, what AWS would
  bill per run: state transitions, Lambda invocations and durations, SNS publishes, S3 requests,
  the bytes the functions logged and the events the state machine would log.
- ``estimate`` is pure: it reads every billable resource from the template (functions with their
  memory, architecture and SnapStart; VPC endpoints and their subnets; KMS keys; alarms;
  dashboards; the state machine's logging and tracing; a REST API) and prices the measurement for
  ``runs_per_month`` runs at ``Prices`` (us-east-1 list prices, free tiers ignored).

Local durations are the handlers' in-process times against moto, an estimate of Lambda's billed
duration, not a measurement on AWS; the report says so.
"""

from __future__ import annotations

import io
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore.client import BaseClient

from workflow.local.environment import LocalPipeline, Notification, RunTimeout
from workflow.local.synth import template_path

HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
BYTES_PER_GB = 1024**3
SNS_BILLING_CHUNK_BYTES = 64 * 1024


# -- prices ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prices:
    """List prices in USD per unit (one transition, one request, one GB-second, ...)."""

    region: str
    source: str
    as_of: str
    sfn_state_transition: float
    lambda_request: float
    lambda_gb_second_arm64: float
    lambda_gb_second_x86_64: float
    snapstart_cache_gb_second: float
    snapstart_restore_gb: float
    interface_endpoint_az_hour: float
    interface_endpoint_gb: float
    sns_request: float
    sns_email_delivery: float
    sns_http_delivery: float
    kms_key_month: float
    kms_request: float
    logs_ingestion_gb: float
    alarm_standard_metric_month: float
    alarm_high_resolution_metric_month: float
    alarm_composite_month: float
    dashboard_month: float
    xray_trace_recorded: float
    apigw_rest_request: float
    s3_put_copy_post_list_request: float
    s3_get_and_other_request: float


US_EAST_1 = Prices(
    region="us-east-1",
    source=(
        "AWS pricing pages for US East (N. Virginia), first paid tier, free tiers ignored; each price's page "
        "is cited next to it in workflow/cost.py"
    ),
    as_of="2026-11 (stored copies of the pricing pages; the Lambda rates match the AWS Price List of 2025-10)",
    # https://aws.amazon.com/step-functions/pricing/ : "$0.025 per 1,000 state transitions" (US East
    # (N. Virginia) $0.0250 per 1,000); "each retry will be charged as an additional state transition".
    sfn_state_transition=0.025 / 1000,
    # https://aws.amazon.com/lambda/pricing/ : requests "$0.20 per 1M"; duration, first tier, x86
    # "$0.0000166667 for every GB-second", Arm "$0.0000133334" (AWS Price List AWSLambda us-east-1,
    # SKUs TG3M4CAGBA3NYQBH and 72SBSFWPMDTH8S3J, as transcribed in a public pricing note of 2025-10-28).
    lambda_request=0.20 / 1_000_000,
    lambda_gb_second_arm64=0.0000133334,
    lambda_gb_second_x86_64=0.0000166667,
    # https://aws.amazon.com/lambda/pricing/ "SnapStart Pricing" example: cache "$0.0000015046" per GB-second
    # (minimum 3 hours per version), restore "$0.0001397998" per GB restored (Price List SKUs WRKYMVM4XSRFFQ7B,
    # W3GTWG4PTZMXZ4F2; one price for x86 and Arm; "SnapStart pricing does not apply to supported Java runtimes",
    # so it does apply to Python).
    snapstart_cache_gb_second=0.0000015046,
    snapstart_restore_gb=0.0001397998,
    # https://aws.amazon.com/privatelink/pricing/ : interface endpoints are billed "for each hour that your VPC
    # endpoint remains provisioned in each Availability Zone"; data processed "First 1 PB $0.01" per GB. The
    # hourly figure ($0.01 per endpoint per AZ per hour) is rendered client-side on that page; it was read from
    # the AWS Price List (AmazonVPC, USE1-VpcEndpoint-Hours 0.010000) as quoted in a public pricing note.
    # Gateway endpoints: https://aws.amazon.com/vpc/pricing/ "no data processing or hourly charges for using
    # Gateway Type VPC endpoints".
    interface_endpoint_az_hour=0.01,
    interface_endpoint_gb=0.01,
    # https://aws.amazon.com/sns/pricing/ : "$0.50 per 1 million requests" (standard topics); "Each 64KB chunk
    # of published data is billed as 1 request"; deliveries: Email/Email-JSON "$2.00 per 100,000", HTTP/s
    # "$0.60 per million", "No charge for deliveries to SQS Queues" or to Lambda.
    sns_request=0.50 / 1_000_000,
    sns_email_delivery=2.00 / 100_000,
    sns_http_delivery=0.60 / 1_000_000,
    # https://aws.amazon.com/kms/pricing/ : "Each AWS KMS key that you create in KMS costs $1/month";
    # symmetric key requests "$0.03 per 10,000".
    kms_key_month=1.00,
    kms_request=0.03 / 10_000,
    # https://aws.amazon.com/cloudwatch/pricing/ (us-east-1): Logs "Collect (data ingestion)" $0.50 per GB
    # (Standard class; Lambda's vended-log tiers start at the same $0.50 per GB for the first 10 TB); alarms
    # $0.10 per standard-resolution alarm metric, $0.30 per high-resolution alarm metric, $0.50 per composite
    # alarm; $3.00 per dashboard per month. The page renders these figures client-side; they were read from
    # stored copies and third-party transcriptions of it (cloudburn.io, c3x.dev, duckbillgroup.com).
    logs_ingestion_gb=0.50,
    alarm_standard_metric_month=0.10,
    alarm_high_resolution_metric_month=0.30,
    alarm_composite_month=0.50,
    dashboard_month=3.00,
    # https://aws.amazon.com/xray/pricing/ : traces recorded "$5.00 per 1 million traces recorded ($0.000005 per
    # trace)".
    xray_trace_recorded=5.00 / 1_000_000,
    # https://aws.amazon.com/api-gateway/pricing/ REST APIs, first 333 million requests per month "$3.50" per
    # million (also in AWS's whitepaper "Best Practices for Designing Amazon API Gateway Private APIs", table 4).
    apigw_rest_request=3.50 / 1_000_000,
    # https://aws.amazon.com/s3/pricing/ S3 Standard: "PUT, COPY, POST, LIST requests (per 1,000 requests)
    # $0.005"; "GET, SELECT, and all other requests (per 1,000 requests) $0.0004"; DELETE and CANCEL are free.
    # The page renders the table client-side; read from third-party transcriptions (c3x.dev, cloudzero.com).
    s3_put_copy_post_list_request=0.005 / 1000,
    s3_get_and_other_request=0.0004 / 1000,
)


# What Lambda itself writes per invocation in the Text log format (the template sets no LogFormat), in
# the shape the Lambda developer guide shows, with the XRAY line of an actively traced function.
PLATFORM_LOG_SAMPLE = (
    "START RequestId: 6bc28136-xmpl-4365-b021-0ce6b2e64ab0 Version: 12\n"
    "END RequestId: 6bc28136-xmpl-4365-b021-0ce6b2e64ab0\n"
    "REPORT RequestId: 6bc28136-xmpl-4365-b021-0ce6b2e64ab0\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
    "Memory Size: 256 MB\tMax Memory Used: 87 MB\t\n"
    "XRAY TraceId: 1-5e34a614-10bdxmplf1fb44f07bc535a1\tSegmentId: 07f5xmpl2d1f6f85\tSampled: true\n"
)
PLATFORM_LOG_BYTES = len(PLATFORM_LOG_SAMPLE.encode())


@dataclass(frozen=True, slots=True)
class Assumptions:
    """What one local run cannot tell; every value here is stated in the report it changes."""

    # Share of Lambda invocations that start a new execution environment (one SnapStart restore each).
    cold_start_share: float = 0.05
    # Published versions kept per SnapStart function: each keeps its snapshot cached, and is charged,
    # until it is deleted.
    snapstart_versions_kept: int = 1
    # Bytes one run sends through all interface endpoints together (SNS publishes, X-Ray segments, ...).
    interface_endpoint_bytes_per_run: int = 64 * 1024
    # Share of runs started through the REST API (the rest are started by S3 uploads).
    api_share: float = 0.5
    # X-Ray traces recorded per run: one trace spans the execution and its Lambda invocations; lower it
    # to the sampling rate in force (X-Ray's default rule records the first request each second and 5 %
    # of the rest).
    xray_traces_per_run: float = 1.0
    # KMS requests per run; None: one per SNS publish to a KMS-encrypted topic (no data-key reuse).
    kms_requests_per_run: float | None = None
    # Lambda's own START/END/REPORT (and XRAY) lines per invocation, in the Text log format.
    lambda_platform_log_bytes_per_invocation: int = PLATFORM_LOG_BYTES
    # Used only when a measurement has no function logs or no state machine history.
    function_log_bytes_per_run: int = 3000
    state_machine_log_bytes_per_transition: int = 2000

    def __post_init__(self) -> None:
        if not 0 <= self.cold_start_share <= 1 or not 0 <= self.api_share <= 1:
            raise ValueError("cold_start_share and api_share are shares between 0 and 1")
        if self.snapstart_versions_kept < 0:
            raise ValueError("snapstart_versions_kept cannot be negative")


DEFAULT_ASSUMPTIONS = Assumptions()


# -- measurement ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunctionRun:
    """One function's invocations in a run (retries included) and each one's duration."""

    invocations: int
    durations_ms: tuple[float, ...]

    @property
    def billed_ms(self) -> int:
        """Lambda bills duration rounded up to the next 1 ms, per invocation."""
        return sum(max(1, math.ceil(duration)) for duration in self.durations_ms)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One execution history event as the state machine's CloudWatch log would carry it."""

    type: str
    bytes_with_data: int
    bytes_without_data: int


@dataclass(frozen=True, slots=True)
class RunMeasurement:
    """What one run used.

    ``state_transitions`` follows AWS's definition for Standard workflows ("a state transition each
    time a step of your workflow is executed ... including retries"; "each retry will be charged as
    an additional state transition"): every state entered (Task, Choice, Pass, Wait, Succeed, Fail,
    ... : one ``*StateEntered`` history event each, a state entered twice counting twice) plus every
    retry attempt (each Task attempt after the first within one visit of the state). Starting and
    ending the execution are not states and do not count.
    """

    sample: str
    status: str
    states_entered: int
    retries: int
    functions: Mapping[str, FunctionRun]
    sns_publishes: int
    sns_publish_requests: int
    s3_requests: Mapping[str, int] | None = None
    function_log_bytes: int | None = None
    state_machine_log_events: tuple[LoggedEvent, ...] = ()
    execution_arn: str = ""
    durations_source: str = "local in-process handler times against moto (an estimate of Lambda durations)"

    @property
    def state_transitions(self) -> int:
        return self.states_entered + self.retries

    def as_json(self) -> dict[str, Any]:
        return {
            "sample": self.sample,
            "status": self.status,
            "executionArn": self.execution_arn,
            "stateTransitions": self.state_transitions,
            "statesEntered": self.states_entered,
            "retries": self.retries,
            "lambda": {
                name: {
                    "invocations": run.invocations,
                    "durationsMs": [round(duration, 3) for duration in run.durations_ms],
                    "billedMs": run.billed_ms,
                }
                for name, run in sorted(self.functions.items())
            },
            "durationsSource": self.durations_source,
            "snsPublishes": self.sns_publishes,
            "snsPublishRequests": self.sns_publish_requests,
            "s3Requests": dict(sorted(self.s3_requests.items())) if self.s3_requests is not None else None,
            "functionLogBytes": self.function_log_bytes,
            "stateMachineHistoryEvents": len(self.state_machine_log_events),
        }


_SCHEDULED = frozenset({"LambdaFunctionScheduled", "TaskScheduled", "ActivityScheduled"})


def transitions_from_history(events: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(states entered, retry attempts) of one execution's ``GetExecutionHistory`` events."""
    entered = retries = 0
    attempts_in_visit = 0
    for event in events:
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            entered += 1
            attempts_in_visit = 0
        elif kind in _SCHEDULED:
            attempts_in_visit += 1
            if attempts_in_visit > 1:
                retries += 1
    return entered, retries


# Fields of history event details that carry execution data (left out when IncludeExecutionData is false).
_EXECUTION_DATA_FIELDS = frozenset(
    {"input", "inputDetails", "output", "outputDetails", "parameters", "result", "resultDetails"}
)


def _epoch_ms(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(float(value) * 1000)


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())


def log_events_from_history(events: Sequence[Mapping[str, Any]], execution_arn: str) -> tuple[LoggedEvent, ...]:
    """Each history event as a Step Functions CloudWatch log record (``id``, ``type``, ``details``,
    ``previous_event_id``, ``event_timestamp``, ``execution_arn``), sized with and without execution data."""
    logged = []
    for event in events:
        details: dict[str, Any] = next(
            (value for key, value in event.items() if key.endswith("EventDetails") and isinstance(value, dict)), {}
        )
        record = {
            "id": str(event.get("id", "")),
            "type": event["type"],
            "details": details,
            "previous_event_id": str(event.get("previousEventId", 0)),
            "event_timestamp": str(_epoch_ms(event.get("timestamp", 0))),
            "execution_arn": execution_arn,
        }
        without = {**record, "details": {k: v for k, v in details.items() if k not in _EXECUTION_DATA_FIELDS}}
        logged.append(LoggedEvent(str(event["type"]), _json_bytes(record) + 1, _json_bytes(without) + 1))
    return tuple(logged)


def function_log_bytes(text: str) -> int:
    """Bytes of the Powertools JSON lines in ``text`` (the functions' own logs; moto's lines are not)."""
    total = 0
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict) and "level" in parsed and "service" in parsed:
            total += len(line.encode()) + 1
    return total


def sns_billed_requests(note: Notification) -> int:
    """SNS bills each 64 KB chunk of a publish as one request (message, subject and attributes counted)."""
    size = len(note.message.encode()) + len((note.subject or "").encode())
    size += sum(len(name.encode()) + len(value.encode()) for name, value in note.attributes.items())
    return max(1, math.ceil(size / SNS_BILLING_CHUNK_BYTES))


@contextmanager
def counting_api_calls() -> Iterator[Counter[tuple[str, str]]]:
    """Count every AWS API call any botocore client makes, by (service, operation), in this block.

    It wraps ``BaseClient._make_api_call``, the one method every generated client operation calls,
    so clients created before the block (the tasks cache theirs) are counted too. That is a botocore
    internal: ``tests/workflow/test_cost_measurement.py`` fails if it stops counting.
    """
    counts: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()
    original = BaseClient._make_api_call

    def counted(client: Any, operation_name: str, api_params: Any) -> Any:
        with lock:
            counts[(str(client.meta.service_model.service_name), operation_name)] += 1
        return original(client, operation_name, api_params)

    BaseClient._make_api_call = counted
    try:
        yield counts
    finally:
        BaseClient._make_api_call = original


def _run_once(pipeline: LocalPipeline, key: str, body: bytes, timeout: float) -> str:
    before = len(pipeline.started)
    pipeline.upload(key, body)
    deadline = time.monotonic() + timeout
    while len(pipeline.started) <= before:
        if time.monotonic() > deadline:
            raise RunTimeout(f"no execution started for s3 key {key} after {timeout:.0f} s")
        time.sleep(0.01)
    arn = pipeline.started[before]
    pipeline.wait(arn, timeout=timeout)
    return arn


def measure_run(
    pipeline: LocalPipeline,
    sample: Path,
    *,
    log_stream: io.StringIO | None = None,
    warmup_runs: int = 0,
    timeout: float = 60.0,
) -> RunMeasurement:
    """Upload ``sample`` as ``incoming/<name>`` on an entered ``pipeline``, wait for its run and measure it.

    ``log_stream`` is the stream the pipeline was given: the functions' log bytes are measured from
    it (left unmeasured without it). ``warmup_runs`` first runs the sample under other keys, so that
    the measured run finds warm clients, as a warm Lambda environment would. S3 requests are counted
    as the API calls made during the run, the upload that starts it included. Notifications published
    before the measured run (by earlier runs on the same pipeline) are consumed and not counted.
    """
    body = sample.read_bytes()
    for index in range(warmup_runs):
        _run_once(pipeline, f"incoming/warmup-{index}-{sample.name}", body, timeout)
    pipeline.notifications()  # drop the warm-up runs' notifications
    log_offset = len(log_stream.getvalue()) if log_stream is not None else 0
    invocation_offset = len(pipeline.lambdas.invocations)
    with counting_api_calls() as calls:
        arn = _run_once(pipeline, f"incoming/{sample.name}", body, timeout)
    execution = pipeline.wait(arn, timeout=timeout)
    history = pipeline.history(arn)
    entered, retries = transitions_from_history(history)

    durations: dict[str, list[float]] = {}
    for invocation in pipeline.lambdas.invocations[invocation_offset:]:
        durations.setdefault(invocation.function, []).append(invocation.duration_ms)
    notifications = pipeline.notifications()
    publish_requests = sum(sns_billed_requests(note) for note in notifications)
    return RunMeasurement(
        sample=sample.name,
        status=execution.status,
        states_entered=entered,
        retries=retries,
        functions={
            name: FunctionRun(invocations=len(values), durations_ms=tuple(values))
            for name, values in sorted(durations.items())
        },
        sns_publishes=len(notifications),
        sns_publish_requests=publish_requests,
        s3_requests={operation: count for (service, operation), count in sorted(calls.items()) if service == "s3"},
        function_log_bytes=(function_log_bytes(log_stream.getvalue()[log_offset:]) if log_stream is not None else None),
        state_machine_log_events=log_events_from_history(history, arn),
        execution_arn=arn,
    )


# -- the report -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CostLine:
    service: str
    item: str
    quantity: float
    unit: str
    unit_price: float
    basis: str
    fixed: bool = False  # independent of the number of runs

    @property
    def cost(self) -> float:
        return self.quantity * self.unit_price

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "item": self.item,
            "quantity": self.quantity,
            "unit": self.unit,
            "unitPrice": float(f"{self.unit_price:.12g}"),
            "monthlyCost": round(self.cost, 6),
            "basis": self.basis,
            "fixed": self.fixed,
        }


@dataclass(frozen=True, slots=True)
class CostReport:
    lines: tuple[CostLine, ...]
    runs_per_month: int
    prices: Prices
    assumptions: Assumptions
    measurement: RunMeasurement
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)

    @property
    def fixed_total(self) -> float:
        return sum(line.cost for line in self.lines if line.fixed)

    @property
    def per_run(self) -> float:
        return self.total / self.runs_per_month

    @property
    def variable_per_run(self) -> float:
        return (self.total - self.fixed_total) / self.runs_per_month

    def by_service(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for line in self.lines:
            totals[line.service] = totals.get(line.service, 0.0) + line.cost
        return totals

    def as_json(self) -> dict[str, Any]:
        return {
            "runsPerMonth": self.runs_per_month,
            "currency": "USD",
            "region": self.prices.region,
            "prices": {"source": self.prices.source, "asOf": self.prices.as_of},
            "freeTiers": "ignored",
            "lines": [line.as_json() for line in self.lines],
            "totalMonthly": round(self.total, 6),
            "fixedMonthly": round(self.fixed_total, 6),
            "perRun": round(self.per_run, 9),
            "variablePerRun": round(self.variable_per_run, 9),
            "byService": {name: round(cost, 6) for name, cost in self.by_service().items()},
            "measurement": self.measurement.as_json(),
            "assumptions": {
                "coldStartShare": self.assumptions.cold_start_share,
                "snapStartVersionsKept": self.assumptions.snapstart_versions_kept,
                "interfaceEndpointBytesPerRun": self.assumptions.interface_endpoint_bytes_per_run,
                "apiShare": self.assumptions.api_share,
                "xrayTracesPerRun": self.assumptions.xray_traces_per_run,
                "kmsRequestsPerRun": self.assumptions.kms_requests_per_run,
                "lambdaPlatformLogBytesPerInvocation": self.assumptions.lambda_platform_log_bytes_per_invocation,
            },
            "notes": list(self.notes),
        }

    def render(self) -> str:
        """The report as a text table: one row per line with its basis under it, then the totals."""
        header = (
            f"Monthly cost estimate: {self.runs_per_month:,} runs/month of {self.measurement.sample} "
            f"(measured run {self.measurement.status}), {self.prices.region} list prices in USD, free tiers ignored"
        )
        rows = [
            (line.service, line.item, _quantity(line.quantity), line.unit, _price(line.unit_price), _money(line.cost))
            for line in self.lines
        ]
        titles = ("service", "item", "quantity", "unit", "unit price", "USD/month")
        widths = [max(len(title), *(len(row[i]) for row in rows)) for i, title in enumerate(titles)]

        def format_row(cells: Sequence[str]) -> str:
            left = [cells[i].ljust(widths[i]) for i in (0, 1)]
            quantity = cells[2].rjust(widths[2])
            unit = cells[3].ljust(widths[3])
            right = [cells[i].rjust(widths[i]) for i in (4, 5)]
            return "  ".join([*left, quantity, unit, *right]).rstrip()

        out = [header, "", format_row(titles), "  ".join("-" * width for width in widths)]
        for line, row in zip(self.lines, rows, strict=True):
            out.append(format_row(row))
            out.append(" " * (widths[0] + 2) + line.basis)
        full = sum(widths) + 2 * (len(widths) - 1)
        out.append("-" * full)
        for label, value in (
            ("total per month", self.total),
            ("  of which fixed (independent of runs)", self.fixed_total),
            ("per run, all-in", self.per_run),
            ("per run, variable only", self.variable_per_run),
        ):
            out.append(label.ljust(full - 14) + _money(value, small=True).rjust(14))
        out.append("")
        out.append("by service: " + ", ".join(f"{name} {_money(cost)}" for name, cost in self.by_service().items()))
        out.append("")
        out.append("notes:")
        out.extend(f"  - {note}" for note in self.notes)
        return "\n".join(out) + "\n"

    def __str__(self) -> str:
        return self.render()


def _quantity(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.3f}"


def _price(value: float) -> str:
    text = format(Decimal(f"{value:.10g}").normalize(), "f")
    return text if value else "0"


def _money(value: float, *, small: bool = False) -> str:
    if small and 0 < abs(value) < 1:
        return f"{value:.6f}"
    return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4f}"


# -- the estimate ---------------------------------------------------------------------------------


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

    def step_functions(self) -> None:
        machines = _of_type(self.template, "AWS::StepFunctions::StateMachine")
        for logical_id, props in machines.items():
            kind = str(props.get("StateMachineType", "STANDARD"))
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
                per_run = self.assumptions.state_machine_log_bytes_per_transition * m.state_transitions
                basis = (
                    f"{self.assumptions.state_machine_log_bytes_per_transition:,} bytes per transition (assumed) "
                    f"x {m.state_transitions} transitions, level {level}"
                )
            self.lines.append(
                CostLine(
                    "CloudWatch Logs",
                    f"ingestion: state machine logs ({name})",
                    per_run * self.runs / BYTES_PER_GB,
                    "GB",
                    self.prices.logs_ingestion_gb,
                    f"{basis} x {self.runs:,} runs",
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


def cost_command(*, runs: int, as_json: bool, sample: Path) -> str:
    """``pipeline cost``: measure ``sample`` on this checkout's stack and price ``runs`` runs a month."""
    if runs < 1:
        raise ValueError("--runs must be at least 1")
    template: dict[str, Any] = json.loads(template_path().read_text())
    log_stream = io.StringIO()
    with LocalPipeline.from_project(log_stream=log_stream) as pipeline:
        measurement = measure_run(pipeline, sample, log_stream=log_stream, warmup_runs=1)
    report = estimate(template, measurement, runs_per_month=runs)
    if as_json:
        return json.dumps(report.as_json(), indent=2) + "\n"
    return report.render()
