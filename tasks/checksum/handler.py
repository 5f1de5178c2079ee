"""Lambda entry point of the Checksum step."""

from __future__ import annotations

from typing import Any

from tasks.checksum.logic import checksum
from tasks.common.aws import s3_client
from tasks.common.models import ChecksumEvent, decode_event, to_payload
from tasks.common.observability import logger, observed


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, ChecksumEvent)
    result = checksum(s3_client(), request.source)
    logger.info("content digested", checksum=result.checksum)
    return to_payload(result)
