"""WriteOutput: commit a run's staged output under ``processed/`` and describe it in a manifest.

The committed keys depend only on the source key and version, so committing again (a retry, a
redrive, a duplicated trigger) overwrites the same objects. The manifest is written last: a
manifest present means its data and rejects objects are complete. The data object is
``data.jsonl``, or ``data.parquet`` when the run's output format is Parquet (WriteParquet staged
it). The staged objects are left for the bucket's ``staging/`` lifecycle rule: a retried commit
(its first attempt's reply lost) copies them again instead of finding nothing to commit. A staged
object that is gone (expired before a late redrive) fails the step as ``StagedOutputMissing``, a
system error, never as a rejection of the input.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tasks.common.aws import s3_errors, staged_errors
from tasks.common.errors import StagedFormatMismatch
from tasks.common.layout import DATA_CONTENT_TYPES, DATA_FILES, output_keys, output_metadata
from tasks.common.models import ColumnSummary, OutputFormat, OutputLocation, WriteOutputEvent, to_payload
from tasks.common.staging import get_document

MANIFEST_VERSION = 1


def manifest(
    event: WriteOutputEvent, location: OutputLocation, committed_at: datetime, columns: list[ColumnSummary]
) -> dict[str, Any]:
    source, staged = event.source, event.staged
    return {
        "manifestVersion": MANIFEST_VERSION,
        "source": {
            "bucket": source.bucket,
            "key": source.key,
            "versionId": source.version_id,
            "etag": source.etag,
            "size": source.size,
            "format": source.format.value,
            "compression": source.compression.value,
        },
        "processingType": source.processing_type.value,
        "trigger": source.trigger.value,
        "executionArn": event.execution_arn,
        "output": {"key": location.key, "rejectsKey": location.rejects_key},
        "dataset": source.dataset,
        "outputFormat": source.output_format.value,
        "counts": {
            "input": staged.records + staged.rejected,
            "records": staged.records,
            "rejected": staged.rejected,
        },
        # CSV sources: each column's inferred type and the values that did not fit it (kept as text).
        "columns": [to_payload(column) for column in columns],
        "committedAt": committed_at.isoformat(),
    }


def commit(s3: Any, event: WriteOutputEvent, *, now: datetime | None = None) -> OutputLocation:
    source, staged = event.source, event.staged
    data_file = DATA_FILES[source.output_format]
    if not staged.data_key.endswith("/" + data_file):
        # The data object's name and content type promise its format: never commit another under them.
        raise StagedFormatMismatch(
            f"a {source.output_format.value} run must commit a staged {data_file}: {staged.data_key}"
        )
    keys = output_keys(source.key, source.version_id, source.output_format)
    location = OutputLocation(
        bucket=source.bucket,
        key=keys.data,
        rejects_key=keys.rejects,
        manifest_key=keys.manifest,
        records=staged.records,
        rejected=staged.rejected,
    )
    metadata = output_metadata(source, event.execution_arn)
    copies = (
        (staged.data_key, keys.data, DATA_CONTENT_TYPES[source.output_format]),
        (staged.rejects_key, keys.rejects, DATA_CONTENT_TYPES[OutputFormat.JSONL]),
    )
    columns: list[ColumnSummary] = []
    if staged.columns_key is not None:
        columns = get_document(s3, bucket=staged.bucket, key=staged.columns_key, kind=list[ColumnSummary])
    for staged_key, final_key, content_type in copies:
        copy_args = {
            "ContentType": content_type,
            "Metadata": metadata,
            "MetadataDirective": "REPLACE",
            "ServerSideEncryption": "AES256",
        }
        with staged_errors(f"staged s3://{source.bucket}/{staged_key}"):
            # Managed copy: switches to a multipart copy for large objects.
            s3.copy({"Bucket": source.bucket, "Key": staged_key}, source.bucket, final_key, ExtraArgs=copy_args)
    with s3_errors(f"s3://{source.bucket}/{keys.manifest}"):
        body = json.dumps(manifest(event, location, now or datetime.now(UTC), columns), indent=2).encode()
        s3.put_object(
            Bucket=source.bucket,
            Key=keys.manifest,
            Body=body,
            ContentType="application/json",
            Metadata=metadata,
            ServerSideEncryption="AES256",
        )
    return location
