"""Lambda entry points of the three Transform steps (CSV, JSON array, JSON Lines).

Each decodes its event, streams the source into the run's staged objects (``staged.transform``,
within the function's remaining time) and reports the counts. The three differ only by the format
they accept.
"""

from __future__ import annotations

from typing import Any

from tasks.common.aws import s3_client
from tasks.common.errors import ValidationError
from tasks.common.models import Format, TransformEvent, decode_event, to_payload
from tasks.common.observability import Handler, logger, metrics, observed
from tasks.common.settings import from_environ
from tasks.transform.logic import TransformSettings
from tasks.transform.staged import transform

# Read once per cold start: a missing or malformed variable fails the deployment's first invoke.
SETTINGS = from_environ(TransformSettings)


def build_handler(fmt: Format) -> Handler:
    """The Lambda handler of the transform step for ``fmt``: the same steps, only the format differs."""

    @observed
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = decode_event(event, TransformEvent)
        if request.source.format is not fmt:
            raise ValidationError(f"the {fmt.value} transform was given a {request.source.format.value} source")
        staged = transform(s3_client(), request, SETTINGS, remaining_ms=context.get_remaining_time_in_millis)
        logger.info("records staged", records=staged.records, rejected=staged.rejected)
        metrics.add_metric(name="RecordsProcessed", unit="Count", value=staged.records)
        metrics.add_metric(name="RecordsRejected", unit="Count", value=staged.rejected)
        return to_payload(staged)

    return lambda_handler


csv_handler = build_handler(Format.CSV)
json_handler = build_handler(Format.JSON)
jsonl_handler = build_handler(Format.JSONL)
