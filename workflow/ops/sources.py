"""``pipeline sources``: what happened to each file, read from the ledger (``workflow/ledger.py``).

The ledger is queried through its indexes, never scanned unless a key prefix is asked for (the
partition key is the whole key, so only a scan can match a prefix): by dataset (``byDataset``), by
status (``byStatus``), or, with neither, by each status in turn. ``since`` bounds the items' last
update (the indexes' sort key). Works against any DynamoDB endpoint: the deployed table, or
``pipeline serve``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from workflow.ledger import BY_DATASET, BY_STATUS, PARTITION_KEY, STATUSES, LedgerItem, source_id


class SourcesQueryError(ValueError):
    """The filters cannot be answered (an unknown status)."""


@dataclass(frozen=True, slots=True)
class SourceFilter:
    """Which ledger items to list; every field narrows, ``None`` does not."""

    bucket: str
    dataset: str | None = None
    status: str | None = None
    prefix: str | None = None
    since: timedelta | None = None

    def cutoff(self, now: datetime) -> str | None:
        """The earliest ``updatedAt`` asked for, in the ledger's format (ISO 8601 UTC, ``Z``)."""
        if self.since is None:
            return None
        moment = (now - self.since).astimezone(UTC)
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def normalize_status(status: str | None) -> str | None:
    if status is None:
        return None
    upper = status.strip().upper()
    if upper not in STATUSES:
        raise SourcesQueryError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    return upper


def _pages(call: Any, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    while True:
        page: dict[str, Any] = call(**request)
        yield from page.get("Items", [])
        token = page.get("LastEvaluatedKey")
        if not token:
            return
        request = {**request, "ExclusiveStartKey": token}


def find_sources(dynamodb: Any, table: str, wanted: SourceFilter, *, now: datetime | None = None) -> list[LedgerItem]:
    """The ledger items ``wanted`` selects, most recently updated first."""
    status = normalize_status(wanted.status)
    cutoff = wanted.cutoff(now or datetime.now(UTC))
    # Items of this bucket (under the prefix, if any): the table also holds the backfills' progress.
    where = f"begins_with({PARTITION_KEY}, :where)"
    values: dict[str, Any] = {":where": {"S": source_id(wanted.bucket, wanted.prefix or "")}}
    if cutoff is not None:
        values[":cutoff"] = {"S": cutoff}

    def query(index: str, partition: str, value: str) -> Iterator[dict[str, Any]]:
        key = "#partition = :partition" + (" AND updatedAt >= :cutoff" if cutoff is not None else "")
        conditions = [where]
        request_values = {**values, ":partition": {"S": value}}
        request_names = {"#partition": partition}
        if status is not None and partition != "status":
            conditions.append("#status = :status")
            request_values[":status"] = {"S": status}
            request_names["#status"] = "status"
        return _pages(
            dynamodb.query,
            {
                "TableName": table,
                "IndexName": index,
                "KeyConditionExpression": key,
                "FilterExpression": " AND ".join(conditions),
                "ExpressionAttributeValues": request_values,
                "ExpressionAttributeNames": request_names,
            },
        )

    if wanted.dataset is not None:
        raw = list(query(BY_DATASET, "dataset", wanted.dataset))
    elif status is not None:
        raw = list(query(BY_STATUS, "status", status))
    elif wanted.prefix is not None:
        conditions = [where, *(["updatedAt >= :cutoff"] if cutoff is not None else [])]
        scan = {"TableName": table, "FilterExpression": " AND ".join(conditions), "ExpressionAttributeValues": values}
        raw = list(_pages(dynamodb.scan, scan))
    else:
        raw = [item for each in STATUSES for item in query(BY_STATUS, "status", each)]
    items = [LedgerItem.from_dynamodb(item) for item in raw]
    return sorted(items, key=lambda item: item.updated_at or "", reverse=True)
