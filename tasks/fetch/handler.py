"""Lambda entry point of the Fetch step."""

from __future__ import annotations

from typing import Any

from tasks.common.aws import s3_client
from tasks.common.models import FetchEvent, decode_event, to_payload
from tasks.common.observability import logger, observed
from tasks.fetch.logic import profile, stage_profile


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, FetchEvent)
    s3 = s3_client()
    found = profile(s3, request.source)
    staged = stage_profile(s3, execution_arn=request.execution_arn, bucket=request.source.bucket, found=found)
    logger.info("object profiled", encoding=found.encoding, columns=len(found.csv.header) if found.csv else None)
    return to_payload(staged)
