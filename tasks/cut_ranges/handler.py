"""Lambda entry point of the CutRanges step."""

from __future__ import annotations

from typing import Any

from tasks.common.aws import s3_client
from tasks.common.models import decode_event, to_payload
from tasks.common.observability import logger, observed
from tasks.cut_ranges.logic import cut_ranges
from tasks.split.models import CutRangesEvent


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, CutRangesEvent)
    plan = cut_ranges(s3_client(), request)
    logger.info("ranges cut", ranges=request.plan.ranges, parts=plan.parts)
    return to_payload(plan)
