"""WriteOutput: commit a run's staged output under ``processed/`` and describe it in a manifest.

The committed keys depend only on the source key and version, so committing again (a retry, a
redrive, a duplicated trigger, a replay) writes new versions of the same objects instead of adding
new ones. The manifest is written last and names the versions it describes: it is the commit point,
switched atomically and never back to an older run's output (``switch.py``). The data object is
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
from tasks.write_output.switch import (
    COPY_PART_SIZE,
    RunStamp,
    check_not_superseded,
    copy_versioned,
    read_manifest,
    switch_manifest,
)

# 2: the manifest names the run that wrote it and the versions of the objects it describes.
MANIFEST_VERSION = 2


def manifest(
    event: WriteOutputEvent,
    location: OutputLocation,
    committed_at: datetime,
    columns: list[ColumnSummary],
    versions: dict[str, str],
) -> dict[str, Any]:
    """The manifest of a commit; ``versions`` maps each committed key to the version this run wrote."""
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
        "run": {"executionArn": event.execution_arn, "startedAt": event.run_started_at},
        "output": {
            "key": location.key,
            "versionId": versions[location.key],
            "rejectsKey": location.rejects_key,
            "rejectsVersionId": versions[location.rejects_key],
        },
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


def commit(
    s3: Any, event: WriteOutputEvent, *, now: datetime | None = None, part_size: int = COPY_PART_SIZE
) -> OutputLocation:
    """Copy the staged objects over the output keys, then switch the manifest to name their versions.

    ``part_size``: the parts a staged object larger than one is copied in (``copy_versioned``).
    """
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
    run = RunStamp(execution_arn=event.execution_arn, started_at=event.run_started_at)
    manifest_uri = f"s3://{source.bucket}/{keys.manifest}"
    with s3_errors(manifest_uri):
        current = read_manifest(s3, source.bucket, keys.manifest)
    # A later run's output stands: this one copies nothing over it.
    check_not_superseded(current, run, manifest_uri)
    versions = {}
    for staged_key, final_key, content_type in copies:
        copy_args = {
            "ContentType": content_type,
            "Metadata": metadata,
            "MetadataDirective": "REPLACE",
            "ServerSideEncryption": "AES256",
        }
        with staged_errors(f"staged s3://{source.bucket}/{staged_key}"):
            versions[final_key] = copy_versioned(
                s3, source.bucket, staged_key, final_key, copy_args, part_size=part_size
            )
    body = json.dumps(manifest(event, location, now or datetime.now(UTC), columns, versions), indent=2).encode()
    with s3_errors(manifest_uri):
        switch_manifest(
            s3,
            bucket=source.bucket,
            key=keys.manifest,
            body=body,
            extra={"ContentType": "application/json", "Metadata": metadata, "ServerSideEncryption": "AES256"},
            current=current,
            run=run,
        )
    return location
