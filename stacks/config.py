"""Deployment settings, read from CDK context (``cdk.json`` or ``-c key=value``) with safe defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_logs as logs


class ConfigError(ValueError):
    """A context value is missing or out of range."""


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    max_object_bytes: int = 2 * 1024**3
    max_reject_ratio: float = 0.1
    log_retention_days: int = 30

    @classmethod
    def from_context(cls, node: Any) -> PipelineConfig:
        """Read ``maxObjectBytes``, ``maxRejectRatio`` and ``logRetentionDays`` from context."""
        defaults = cls()
        config = cls(
            max_object_bytes=int(node.try_get_context("maxObjectBytes") or defaults.max_object_bytes),
            max_reject_ratio=float(node.try_get_context("maxRejectRatio") or defaults.max_reject_ratio),
            log_retention_days=int(node.try_get_context("logRetentionDays") or defaults.log_retention_days),
        )
        if config.max_object_bytes <= 0:
            raise ConfigError("maxObjectBytes must be positive")
        if not 0 <= config.max_reject_ratio <= 1:
            raise ConfigError("maxRejectRatio must be between 0 and 1")
        return config

    def log_retention(self) -> logs.RetentionDays:
        retention = _RETENTION.get(self.log_retention_days)
        if retention is None:
            allowed = ", ".join(str(days) for days in _RETENTION)
            raise ConfigError(f"logRetentionDays={self.log_retention_days} is not one of {allowed}")
        return retention


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
