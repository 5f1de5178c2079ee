"""Lambda entry point of the WriteParquet step."""

from __future__ import annotations

from typing import Any

from tasks.common.aws import s3_client
from tasks.common.models import WriteParquetEvent, decode_event, to_payload
from tasks.common.observability import logger, observed
from tasks.common.settings import from_environ
from tasks.write_parquet.logic import WriteParquetSettings, write_parquet

# Read once per cold start: a missing or malformed variable fails the deployment's first invoke.
SETTINGS = from_environ(WriteParquetSettings)


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = decode_event(event, WriteParquetEvent)
    staged = write_parquet(s3_client(), request, SETTINGS, remaining_ms=context.get_remaining_time_in_millis)
    logger.info("parquet staged", key=staged.data_key, records=staged.records)
    return to_payload(staged)
