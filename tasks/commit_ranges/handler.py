"""Lambda entry point of the CommitRanges step."""

from __future__ import annotations

from typing import Any

from tasks.commit_ranges.logic import commit_ranges
from tasks.common.aws import s3_client
from tasks.common.models import decode_event, to_payload
from tasks.common.observability import logger, metrics, observed
from tasks.common.settings import from_environ
from tasks.split.models import CommitRangesEvent
from tasks.transform.logic import TransformSettings

# Read once per cold start: a missing or malformed variable fails the deployment's first invoke.
SETTINGS = from_environ(TransformSettings)


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, CommitRangesEvent)
    staged = commit_ranges(s3_client(), request, SETTINGS)
    logger.info("parts joined", parts=request.plan.parts, records=staged.records, rejected=staged.rejected)
    # The same metrics as the single-pass transform's, once for the whole file.
    metrics.add_metric(name="RecordsProcessed", unit="Count", value=staged.records)
    metrics.add_metric(name="RecordsRejected", unit="Count", value=staged.rejected)
    return to_payload(staged)
