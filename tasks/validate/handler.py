"""Lambda entry point of the Validate step."""

from __future__ import annotations

from typing import Any

from tasks.common.aws import s3_client
from tasks.common.models import ValidateEvent, decode_event, to_payload
from tasks.common.observability import logger, metrics, observed
from tasks.common.settings import from_environ
from tasks.validate.logic import ValidateSettings, validate

# Read once per cold start: a missing or malformed variable fails the deployment's first invoke.
SETTINGS = from_environ(ValidateSettings)


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, ValidateEvent)
    source = validate(s3_client(), request.request, SETTINGS, execution_arn=request.execution_arn)
    logger.info("object accepted", key=source.key, version_id=source.version_id, format=source.format)
    metrics.add_metric(name="ObjectsAccepted", unit="Count", value=1)
    return to_payload(source)
