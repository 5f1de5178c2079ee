"""Lambda entry point of the Fetch step."""

from __future__ import annotations

from typing import Any

from tasks.common.aws import s3_client
from tasks.common.models import FetchEvent, decode_event, to_payload
from tasks.common.observability import logger, observed
from tasks.common.settings import from_environ
from tasks.fetch.logic import profile, stage_profile
from tasks.split.plan import SplitSettings, route

# Read once per cold start: a missing or malformed variable fails the deployment's first invoke.
SPLIT_SETTINGS = from_environ(SplitSettings)


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, FetchEvent)
    source = request.source
    # A JSON array too large for one function is refused here, before anything is read.
    path = route(source.format, source.compression, source.size, SPLIT_SETTINGS)
    s3 = s3_client()
    found = profile(s3, source)
    staged = stage_profile(s3, execution_arn=request.execution_arn, bucket=source.bucket, found=found, route=path)
    logger.info(
        "object profiled",
        encoding=found.encoding,
        columns=len(found.csv.header) if found.csv else None,
        route=path.value,
    )
    return to_payload(staged)
