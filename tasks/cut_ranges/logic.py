"""CutRanges: the reduce between the two Distributed Maps.

Reads back every range's summary (by the keys the plan implies), raises the first business
error a scan met, composes them from the file's start (``tasks.split.cuts``) and stages the
parts, cut on record boundaries with their global line numbers, as the JSON array the
transform's Distributed Map reads.
"""

from __future__ import annotations

from typing import Any

from tasks.common.staging import put_document
from tasks.split.cuts import cut_parts
from tasks.split.layout import part_items_key, summary_key
from tasks.split.models import CutRangesEvent, PartPlan, RangeSummary
from tasks.split.staging import get_many


def cut_ranges(s3: Any, event: CutRangesEvent) -> PartPlan:
    plan = event.plan
    split = plan.split
    keys = [summary_key(event.execution_arn, index) for index in range(plan.ranges)]
    summaries = get_many(s3, bucket=split.bucket, keys=keys, model=RangeSummary)
    for summary in summaries:
        if summary.error is not None:
            raise summary.error.exception()
    parts = cut_parts(summaries, start=split.content_start, size=split.size, header_end=split.header_end)
    key = part_items_key(event.execution_arn)
    put_document(s3, bucket=split.bucket, key=key, document=parts)
    return PartPlan(split=split, parts=len(parts), items_key=key)
