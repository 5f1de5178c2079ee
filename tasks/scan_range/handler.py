"""Lambda entry point of the ScanRange step (each child of the scan's Distributed Map)."""

from __future__ import annotations

from typing import Any

from tasks.common.aws import s3_client
from tasks.common.models import decode_event, to_payload
from tasks.common.observability import logger, observed
from tasks.scan_range.logic import scan
from tasks.split.models import ScanRangeEvent


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, ScanRangeEvent)
    result = scan(s3_client(), request)
    logger.info("range scanned", index=result.index, start=request.range.start, end=request.range.end)
    return to_payload(result)
