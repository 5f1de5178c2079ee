"""Lambda entry point of the PlanRanges step."""

from __future__ import annotations

from typing import Any

from tasks.common.aws import s3_client
from tasks.common.models import decode_event, to_payload
from tasks.common.observability import logger, observed
from tasks.common.settings import from_environ
from tasks.plan_ranges.logic import plan_ranges
from tasks.split.models import PlanRangesEvent
from tasks.split.plan import SplitSettings
from tasks.transform.logic import TransformSettings

# Read once per cold start: a missing or malformed variable fails the deployment's first invoke.
SETTINGS = from_environ(SplitSettings)
TRANSFORM_SETTINGS = from_environ(TransformSettings)


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, PlanRangesEvent)
    plan = plan_ranges(s3_client(), request, SETTINGS, TRANSFORM_SETTINGS)
    logger.info("ranges planned", ranges=plan.ranges, size=plan.split.size, header_end=plan.split.header_end)
    return to_payload(plan)
