"""Lambda entry point of the Fetch step."""

from __future__ import annotations

from typing import Any

from tasks.common.aws import s3_client
from tasks.common.models import FetchEvent, decode_event, to_payload
from tasks.common.observability import logger, observed
from tasks.fetch.logic import profile


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, FetchEvent)
    result = profile(s3_client(), request.source)
    logger.info("object profiled", encoding=result.encoding, csv=result.csv is not None)
    return to_payload(result)
