"""Where objects live in the pipeline bucket: shared by the tasks, the stack and the tests.

- ``incoming/``: sources. An object created here starts a run (the EventBridge rule filters on
  this prefix, so nothing the pipeline writes can trigger it again).
- ``uploads/``: sources that start no run by themselves: ``pipeline submit`` uploads here, then
  starts the run through the API.
- ``staging/<execution name>/``: a run's transform output before the commit (``data.jsonl``, and
  ``data.parquet`` when the run writes Parquet); WriteOutput copies it under ``processed/`` and a
  lifecycle rule expires it (two days), so a retried commit can copy again.
- ``processed/<source key without incoming/>/<version id>/``: committed outputs. The key depends
  only on the source key and version, so a retry, a redrive or a duplicated trigger rewrites the
  same objects instead of adding new ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.common.models import OutputFormat

INCOMING_PREFIX = "incoming/"
UPLOADS_PREFIX = "uploads/"
SOURCE_PREFIXES = (INCOMING_PREFIX, UPLOADS_PREFIX)
STAGING_PREFIX = "staging/"
PROCESSED_PREFIX = "processed/"

# S3 user metadata an uploader may set to choose the processing type and the output format of an
# S3-triggered run (Validate reads them; `pipeline run` sets them).
PROCESSING_TYPE_METADATA = "processing-type"
OUTPUT_FORMAT_METADATA = "output-format"

DATA_FILES = {OutputFormat.JSONL: "data.jsonl", OutputFormat.PARQUET: "data.parquet"}
DATA_FILE = DATA_FILES[OutputFormat.JSONL]
"""What the transforms stage: JSON Lines, whatever the run's output format."""
DATA_CONTENT_TYPES = {
    OutputFormat.JSONL: "application/x-ndjson",
    OutputFormat.PARQUET: "application/vnd.apache.parquet",
}
REJECTS_FILE = "rejects.jsonl"
MANIFEST_FILE = "manifest.json"
NOTIFIED_FILE = "notified.json"


@dataclass(frozen=True, slots=True)
class OutputKeys:
    data: str
    rejects: str
    manifest: str
    notified: str


def execution_name(execution_arn: str) -> str:
    """The name part of an execution ARN (``arn:aws:states:…:execution:<machine>:<name>``)."""
    return execution_arn.rsplit(":", 1)[-1]


def staging_keys(execution_arn: str) -> tuple[str, str]:
    """(data key, rejects key) of a run's staged output."""
    base = f"{STAGING_PREFIX}{execution_name(execution_arn)}/"
    return base + DATA_FILE, base + REJECTS_FILE


def staged_parquet_key(execution_arn: str) -> str:
    """Where WriteParquet stages a run's records as Parquet, next to the staged JSON Lines."""
    return f"{STAGING_PREFIX}{execution_name(execution_arn)}/{DATA_FILES[OutputFormat.PARQUET]}"


def output_keys(source_key: str, version_id: str, output_format: OutputFormat = OutputFormat.JSONL) -> OutputKeys:
    """The committed output keys of one source object version; the data file is named by its format."""
    relative = source_key.removeprefix(INCOMING_PREFIX)
    base = f"{PROCESSED_PREFIX}{relative}/{version_id}/"
    return OutputKeys(
        data=base + DATA_FILES[output_format],
        rejects=base + REJECTS_FILE,
        manifest=base + MANIFEST_FILE,
        notified=base + NOTIFIED_FILE,
    )
