"""List prices and assumptions of the cost model: what AWS charges in us-east-1, and what one local
run cannot tell. Every price carries its citation; a change of price is a change of this file only."""

from __future__ import annotations

from dataclasses import dataclass

HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
BYTES_PER_GB = 1024**3
SNS_BILLING_CHUNK_BYTES = 64 * 1024


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
    sfn_express_request: float
    sfn_express_gb_second: float
    dynamodb_write_request_unit: float
    dynamodb_read_request_unit: float
    dynamodb_storage_gb_month: float
    dynamodb_pitr_gb_month: float
    s3_standard_gb_month: float


US_EAST_1 = Prices(
    region="us-east-1",
    source=(
        "AWS pricing pages for US East (N. Virginia), first paid tier, free tiers ignored; each price's page "
        "is cited next to it in workflow/cost/prices.py"
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
    # https://aws.amazon.com/step-functions/pricing/ Express workflows: "$1.00 per 1M requests"; duration
    # "$0.00001667 per GB-second" for the first 1,000 hours a month, billed in 100 ms and 64 MB steps.
    sfn_express_request=1.00 / 1_000_000,
    sfn_express_gb_second=0.00001667,
    # https://aws.amazon.com/dynamodb/pricing/on-demand/ (Standard table class, US East (N. Virginia)): "$0.625
    # per million write request units", "$0.125 per million read request units" (the prices since the
    # November 2024 reduction), storage "$0.25 per GB-month" past the first 25 GB, continuous backups
    # (point-in-time recovery) "$0.20 per GB-month". The page renders the table client-side; read from AWS's
    # announcement of 2024-11-14 and third-party transcriptions.
    dynamodb_write_request_unit=0.625 / 1_000_000,
    dynamodb_read_request_unit=0.125 / 1_000_000,
    dynamodb_storage_gb_month=0.25,
    dynamodb_pitr_gb_month=0.20,
    # https://aws.amazon.com/s3/pricing/ S3 Standard storage, "First 50 TB / Month $0.023 per GB" (read from
    # third-party transcriptions of the client-rendered table, as the request prices above).
    s3_standard_gb_month=0.023,
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
    # Objects backfilled a month (``pipeline backfill``), each a child of the backfill's Distributed Map
    # and a pipeline run (already counted in the runs a month).
    backfilled_objects_per_month: int = 0
    # Share of runs that end FAILED, TIMED_OUT or ABORTED, rejections included: each starts the
    # ledger's Express failure recorder (which changes nothing for a rejection, already recorded).
    ended_badly_share: float = 0.05
    # Write request units one ledger update costs: the item (about 1.5 KB with its run entries, so 2
    # units), and each index entry the update rewrites (byStatus and byDataset project the whole item,
    # about 2 units each, and move when the status or time changes; byRun and bySucceededAt hold keys).
    ledger_write_units_per_update: float = 8.0
    # A ledger item with its indexes' copies (two whole-item projections and two of keys), for storage.
    ledger_bytes_per_source: int = 6 * 1024

    def __post_init__(self) -> None:
        if not all(0 <= share <= 1 for share in (self.cold_start_share, self.api_share, self.ended_badly_share)):
            raise ValueError("cold_start_share, api_share and ended_badly_share are shares between 0 and 1")
        if self.backfilled_objects_per_month < 0:
            raise ValueError("backfilled_objects_per_month cannot be negative")
        if self.snapstart_versions_kept < 0:
            raise ValueError("snapstart_versions_kept cannot be negative")


DEFAULT_ASSUMPTIONS = Assumptions()
