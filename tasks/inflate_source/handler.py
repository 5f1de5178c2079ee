"""Lambda entry point of the InflateSource step."""

from __future__ import annotations

from typing import Any

from tasks.common.aws import s3_client
from tasks.common.models import decode_event, to_payload
from tasks.common.observability import logger, observed
from tasks.common.settings import from_environ
from tasks.inflate_source.logic import InflateSettings, inflate
from tasks.split.models import InflateSourceEvent

# Read once per cold start: a missing or malformed variable fails the deployment's first invoke.
SETTINGS = from_environ(InflateSettings)


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, InflateSourceEvent)
    staged = inflate(s3_client(), request, SETTINGS, seconds_left=lambda: context.get_remaining_time_in_millis() / 1000)
    logger.info("source decompressed", key=staged.key, size=staged.size)
    return to_payload(staged)
