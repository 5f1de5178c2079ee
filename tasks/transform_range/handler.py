"""Lambda entry point of the TransformRange step (each child of the transform's Distributed Map)."""

from __future__ import annotations

from typing import Any

from tasks.common.aws import s3_client
from tasks.common.models import decode_event, to_payload
from tasks.common.observability import logger, observed
from tasks.common.settings import from_environ
from tasks.split.models import TransformRangeEvent
from tasks.transform.logic import TransformSettings
from tasks.transform_range.logic import transform_range

# Read once per cold start: a missing or malformed variable fails the deployment's first invoke.
SETTINGS = from_environ(TransformSettings)


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, TransformRangeEvent)
    outcome = transform_range(s3_client(), request, SETTINGS)
    logger.info(
        "part staged", index=outcome.index, records=outcome.records, rejected=outcome.rejected, error=outcome.error
    )
    return to_payload(outcome)
