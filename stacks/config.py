"""Deployment settings, read from CDK context (``cdk.json`` or ``-c key=value``) with safe defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_logs as logs


class ConfigError(ValueError):
    """A context value is missing or out of range."""


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def value(node: Any, key: str, default: Any) -> Any:
    """The context value of ``key``, or ``default`` when it is absent or empty."""
    found = node.try_get_context(key)
    return default if found in (None, "") else found


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    max_object_bytes: int = 2 * 1024**3
    max_reject_ratio: float = 0.1
    null_markers: str = "NULL,null,N/A,n/a"
    log_retention_days: int = 30
    notification_email: str | None = None

    @classmethod
    def from_context(cls, node: Any) -> PipelineConfig:
        """Read the documented context values (README, Deploy); absent ones keep their defaults."""
        defaults = cls()
        try:
            config = cls(
                max_object_bytes=int(value(node, "maxObjectBytes", defaults.max_object_bytes)),
                max_reject_ratio=float(value(node, "maxRejectRatio", defaults.max_reject_ratio)),
                null_markers=str(value(node, "nullMarkers", defaults.null_markers)),
                log_retention_days=int(value(node, "logRetentionDays", defaults.log_retention_days)),
                notification_email=value(node, "notificationEmail", None),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid context value: {exc}") from None
        config.check()
        return config

    def check(self) -> None:
        if self.max_object_bytes <= 0:
            raise ConfigError("maxObjectBytes must be positive")
        if not 0 <= self.max_reject_ratio <= 1:
            raise ConfigError("maxRejectRatio must be between 0 and 1")
        if self.notification_email is not None and not _EMAIL.fullmatch(self.notification_email):
            raise ConfigError(f"notificationEmail is not an email address: {self.notification_email!r}")
        self.log_retention()

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
