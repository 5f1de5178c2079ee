"""Lambda entry point of the Notify step."""

from __future__ import annotations

from typing import Any

from tasks.common.aws import s3_client, sns_client
from tasks.common.models import NotifyEvent, decode_event, to_payload
from tasks.common.observability import logger, observed
from tasks.common.settings import from_environ
from tasks.notify.logic import NotifySettings, notify

# Read once per cold start: a missing or malformed variable fails the deployment's first invoke.
SETTINGS = from_environ(NotifySettings)


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, NotifyEvent)
    receipt = notify(s3_client(), sns_client(), request, SETTINGS)
    logger.info("notification", published=receipt.published, message_id=receipt.message_id)
    return to_payload(receipt)
