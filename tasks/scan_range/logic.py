"""ScanRange: summarize where records may start in one range (a child of the first Distributed Map).

The range is read with the byte after it, and its summary staged under the run's key for its
index: a retry or a redrive rewrites the same object. A business error is staged as the summary
(``RangeError``), for CutRanges to raise.
"""

from __future__ import annotations

from typing import Any

from tasks.common.errors import BusinessError
from tasks.common.models import Compression
from tasks.common.staging import put_document
from tasks.split.layout import summary_key
from tasks.split.models import RangeError, RangeSummary, ScanRangeEvent, ScanRangeResult
from tasks.split.scan import scan_range
from tasks.split.staging import reading_errors
from tasks.transform.readers import open_binary


def scan(s3: Any, event: ScanRangeEvent) -> ScanRangeResult:
    """Stage the range's summary; a business error (the source's version gone) becomes the summary."""
    split, item = event.split, event.range
    last = min(item.end, split.size - 1)  # the byte after the range, when the object has one
    try:
        with reading_errors(split.bucket, split.key, split.version_id):
            body = s3.get_object(
                Bucket=split.bucket, Key=split.key, VersionId=split.version_id, Range=f"bytes={item.start}-{last}"
            )["Body"]
            summary = scan_range(
                open_binary(body, compression=Compression.NONE),
                delimiter=split.delimiter,
                index=item.index,
                start=item.start,
                end=item.end,
            )
    except BusinessError as error:
        summary = RangeSummary(
            index=item.index,
            start=item.start,
            end=item.end,
            ends=[],
            first=[],
            breaks=0,
            newlines=0,
            error=RangeError.of(error),
        )
    key = summary_key(event.execution_arn, item.index)
    put_document(s3, bucket=split.bucket, key=key, document=summary)
    return ScanRangeResult(index=item.index, summary_key=key)
