"""Lambda entry point of the WriteOutput step."""

from __future__ import annotations

from typing import Any

from tasks.common.aws import s3_client
from tasks.common.models import WriteOutputEvent, decode_event, to_payload
from tasks.common.observability import logger, observed
from tasks.write_output.logic import commit


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, WriteOutputEvent)
    location = commit(s3_client(), request)
    logger.info("output committed", key=location.key, records=location.records, rejected=location.rejected)
    return to_payload(location)
