"""Deployment settings, read from CDK context (``cdk.json`` or ``-c key=value``) with safe defaults."""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_logs as logs

from tasks.common.s3_stream import DEFAULT_PART_SIZE
from workflow.deployment import REGION


class ConfigError(ValueError):
    """A context value is missing or out of range."""


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# An availability zone's name in the stack's region: us-east-1a ... (not a Local or Wavelength Zone).
_ZONE = re.compile(rf"{re.escape(REGION)}[a-z]")
MIN_AVAILABILITY_ZONES = 2


def value(node: Any, key: str, default: Any) -> Any:
    """The context value of ``key``, or ``default`` when it is absent or empty."""
    found = node.try_get_context(key)
    return default if found in (None, "") else found


class CloudWatchRole(enum.StrEnum):
    """Who sets API Gateway's account-level CloudWatch role, which stages need in order to log.

    The setting is one per account and region, shared by every REST API there.
    """

    CREATE = "create"
    """The stack sets it to a role of its own (replacing any role set before) and keeps that role."""
    EXISTING = "existing"
    """The account has one already (``aws apigateway get-account``); the stack leaves it alone."""


def names(found: Any) -> tuple[str, ...]:
    """A list from context: comma-separated text (``-c name=a,b``) or a JSON list (``cdk.json``)."""
    items = found.split(",") if isinstance(found, str) else list(found)
    return tuple(str(item).strip() for item in items if str(item).strip())


def cloud_watch_role(found: Any) -> CloudWatchRole:
    try:
        return CloudWatchRole(found)
    except ValueError:
        allowed = " or ".join(role.value for role in CloudWatchRole)
        raise ConfigError(f"apiGatewayCloudWatchRole must be {allowed}, not {found!r}") from None


# The most child executions a Distributed Map runs at once
# (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html).
MAX_MAP_CONCURRENCY = 10_000
# A split run's output is joined by one multipart upload of about one part per range
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html: at most 10,000 parts).
MAX_MULTIPART_PARTS = 10_000
# The parts InflateSource (S3MultipartWriter's default) writes a decompressed gzip source in.
INFLATE_PART_BYTES = DEFAULT_PART_SIZE
_MiB = 1024**2
_GiB = 1024**3


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    # What the split handles (tasks/split/plan.py has each figure's arithmetic): 100 GiB is 400
    # ranges of 256 MiB, far inside the commit's 10,000 multipart parts (one per range, or fewer)
    # and S3's 5 TiB object for the about 280 GiB of JSON Lines it makes (2.77 bytes a CSV byte);
    # each step's work grows with a range, not the file, except the commit's copies (CommitRanges,
    # then WriteOutput: S3 copies server-side, 32 parts at once, about 90 s each for 100 GB at an
    # assumed 100 MB/s a request: docs/cost.md), which are the part to measure on AWS before raising it.
    # A gzip source is bounded by what it expands to (maxDecompressedBytes, InflateSource included),
    # a JSON array by 2 GiB (maxJsonArrayBytes, one function).
    max_object_bytes: int = 100 * _GiB
    # What one transform may read, decompressed: a 5-minute function gets through about 5 GB of a
    # JSON array (16 MB/s) and 20 GB of CSV (70 MB/s; README, "Benchmark"), and stops cleanly on its
    # remaining time in between. A gzip source expanding more than 100 times is a decompression
    # bomb, not data.
    max_decompressed_bytes: int = 8 * 1024**3
    max_compression_ratio: float = 100.0
    max_reject_ratio: float = 0.1
    null_markers: str = "NULL,null,N/A,n/a"
    log_retention_days: int = 30
    notification_email: str | None = None
    # Empty: the first two zones CloudFormation lists for the account (Fn::GetAZs).
    availability_zones: tuple[str, ...] = ()
    api_gateway_cloud_watch_role: CloudWatchRole = CloudWatchRole.CREATE
    # The split (defaults and their arithmetic: tasks/split/plan.py::SplitSettings).
    split_threshold_bytes: int = 1 * _GiB
    gzip_split_threshold_bytes: int = 128 * _MiB
    range_bytes: int = 256 * _MiB
    range_concurrency: int = 32

    @classmethod
    def from_context(cls, node: Any) -> PipelineConfig:
        """Read the documented context values (README, Deploy); absent ones keep their defaults."""
        defaults = cls()
        try:
            config = cls(
                max_object_bytes=int(value(node, "maxObjectBytes", defaults.max_object_bytes)),
                max_decompressed_bytes=int(value(node, "maxDecompressedBytes", defaults.max_decompressed_bytes)),
                max_compression_ratio=float(value(node, "maxCompressionRatio", defaults.max_compression_ratio)),
                max_reject_ratio=float(value(node, "maxRejectRatio", defaults.max_reject_ratio)),
                null_markers=str(value(node, "nullMarkers", defaults.null_markers)),
                log_retention_days=int(value(node, "logRetentionDays", defaults.log_retention_days)),
                notification_email=value(node, "notificationEmail", None),
                availability_zones=names(value(node, "availabilityZones", ())),
                api_gateway_cloud_watch_role=cloud_watch_role(
                    value(node, "apiGatewayCloudWatchRole", defaults.api_gateway_cloud_watch_role)
                ),
                split_threshold_bytes=int(value(node, "splitThresholdBytes", defaults.split_threshold_bytes)),
                gzip_split_threshold_bytes=int(
                    value(node, "gzipSplitThresholdBytes", defaults.gzip_split_threshold_bytes)
                ),
                range_bytes=int(value(node, "rangeBytes", defaults.range_bytes)),
                range_concurrency=int(value(node, "rangeConcurrency", defaults.range_concurrency)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid context value: {exc}") from None
        config.check()
        return config

    def check(self) -> None:
        if self.max_object_bytes <= 0:
            raise ConfigError("maxObjectBytes must be positive")
        if self.max_decompressed_bytes <= 0:
            raise ConfigError("maxDecompressedBytes must be positive")
        if self.max_compression_ratio < 1:
            raise ConfigError("maxCompressionRatio must be at least 1")
        if not 0 <= self.max_reject_ratio <= 1:
            raise ConfigError("maxRejectRatio must be between 0 and 1")
        if min(self.split_threshold_bytes, self.gzip_split_threshold_bytes, self.range_bytes) <= 0:
            raise ConfigError("splitThresholdBytes, gzipSplitThresholdBytes and rangeBytes must be positive")
        largest = max(self.max_object_bytes, self.max_decompressed_bytes)
        if math.ceil(largest / self.range_bytes) > MAX_MULTIPART_PARTS:
            raise ConfigError(
                f"rangeBytes {self.range_bytes} is too small: the largest source accepted ({largest} bytes) would "
                f"make more than {MAX_MULTIPART_PARTS} ranges, S3's limit of parts in the output's one upload"
            )
        inflated_at_most = INFLATE_PART_BYTES * MAX_MULTIPART_PARTS
        if self.max_decompressed_bytes > inflated_at_most:
            raise ConfigError(
                f"maxDecompressedBytes {self.max_decompressed_bytes} is too large: InflateSource writes what a gzip "
                f"source expands to as one upload of {INFLATE_PART_BYTES}-byte parts, {MAX_MULTIPART_PARTS} at most "
                f"({inflated_at_most} bytes)"
            )
        if not 1 <= self.range_concurrency <= MAX_MAP_CONCURRENCY:
            raise ConfigError(f"rangeConcurrency must be between 1 and {MAX_MAP_CONCURRENCY} (Distributed Map's limit)")
        if self.notification_email is not None and not _EMAIL.fullmatch(self.notification_email):
            raise ConfigError(f"notificationEmail is not an email address: {self.notification_email!r}")
        self.log_retention()
        self.check_availability_zones()

    def split_environment(self) -> dict[str, str]:
        """The variables ``SplitSettings`` reads (Fetch routes with them, PlanRanges plans with them)."""
        return {
            "SPLIT_THRESHOLD_BYTES": str(self.split_threshold_bytes),
            "GZIP_SPLIT_THRESHOLD_BYTES": str(self.gzip_split_threshold_bytes),
            "RANGE_BYTES": str(self.range_bytes),
            "RANGE_CONCURRENCY": str(self.range_concurrency),
        }

    def check_availability_zones(self) -> None:
        if not self.availability_zones:
            return
        wrong = [zone for zone in self.availability_zones if not _ZONE.fullmatch(zone)]
        if wrong:
            raise ConfigError(f"availabilityZones: not zones of {REGION}: {', '.join(wrong)}")
        if len(set(self.availability_zones)) != len(self.availability_zones):
            raise ConfigError(f"availabilityZones names a zone twice: {','.join(self.availability_zones)}")
        if len(self.availability_zones) < MIN_AVAILABILITY_ZONES:
            raise ConfigError(
                f"availabilityZones needs at least {MIN_AVAILABILITY_ZONES} zones (Lambda's high availability), "
                f"got {','.join(self.availability_zones)}"
            )

    def log_retention(self) -> logs.RetentionDays:
        retention = _RETENTION.get(self.log_retention_days)
        if retention is None:
            allowed = ", ".join(str(days) for days in _RETENTION)
            raise ConfigError(f"logRetentionDays={self.log_retention_days} is not one of {allowed}")
        return retention


@dataclass(frozen=True, slots=True)
class ApiThrottling:
    """Steady-state requests per second and burst of every method, from CDK context."""

    rate_limit: float = 50
    burst_limit: int = 100

    @classmethod
    def from_context(cls, node: Any) -> ApiThrottling:
        """Read apiThrottleRateLimit and apiThrottleBurstLimit; absent ones keep their defaults."""
        defaults = cls()
        try:
            throttling = cls(
                rate_limit=float(value(node, "apiThrottleRateLimit", defaults.rate_limit)),
                burst_limit=int(value(node, "apiThrottleBurstLimit", defaults.burst_limit)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid context value: {exc}") from None
        if throttling.rate_limit <= 0 or throttling.burst_limit < 1:
            raise ConfigError("apiThrottleRateLimit must be positive and apiThrottleBurstLimit at least 1")
        return throttling


_RETENTION: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
}
