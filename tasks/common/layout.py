"""Where objects live in the pipeline bucket: shared by the tasks, the stack and the tests.

- ``incoming/``: sources. An object created here starts a run (the EventBridge rule filters on
  this prefix, so nothing the pipeline writes can trigger it again).
- ``uploads/``: sources that start no run by themselves: ``pipeline submit`` uploads here, then
  starts the run through the API.
- ``staging/<execution name>/``: a run's transform output before the commit (``data.jsonl``, and
  ``data.parquet`` when the run writes Parquet), and what a CSV run has one entry of per column
  (``csv-dialect.json`` from Fetch, ``columns.json`` from the transform), which the state carries
  the keys of, never the lists (Step Functions caps a state's payload at 256 KB); WriteOutput
  copies it under ``processed/`` and a lifecycle rule expires it (two days), so a retried commit
  can copy again.
- ``processed/<source key without incoming/>/<version id>/``: committed outputs. The key depends
  only on the source key and version, so a retry, a redrive or a duplicated trigger rewrites the
  same objects instead of adding new ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from tasks.common.models import OutputFormat, SourceObject

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
CSV_DIALECT_FILE = "csv-dialect.json"
COLUMNS_FILE = "columns.json"

# S3's limits on what the pipeline writes: a key is at most 1,024 bytes of UTF-8
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html); the user metadata of a
# PUT at most 2 KB, counted as the UTF-8 bytes of every key and value
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html).
MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 2048


@dataclass(frozen=True, slots=True)
class OutputKeys:
    data: str
    rejects: str
    manifest: str
    notified: str


def execution_name(execution_arn: str) -> str:
    """The name part of an execution ARN (``arn:aws:states:…:execution:<machine>:<name>``)."""
    return execution_arn.rsplit(":", 1)[-1]


def staging_key(execution_arn: str, file: str) -> str:
    """The key of ``file`` among a run's staged objects."""
    return f"{STAGING_PREFIX}{execution_name(execution_arn)}/{file}"


def staging_keys(execution_arn: str) -> tuple[str, str]:
    """(data key, rejects key) of a run's staged output."""
    return staging_key(execution_arn, DATA_FILE), staging_key(execution_arn, REJECTS_FILE)


def staged_parquet_key(execution_arn: str) -> str:
    """Where WriteParquet stages a run's records as Parquet, next to the staged JSON Lines."""
    return staging_key(execution_arn, DATA_FILES[OutputFormat.PARQUET])


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


def output_metadata(source: SourceObject, execution_arn: str) -> dict[str, str]:
    """S3 user metadata of committed objects (ASCII only, so the key is percent-encoded)."""
    return {
        "source-key": quote(source.key, safe="/"),
        "source-version-id": source.version_id,
        "processing-type": source.processing_type.value,
        "execution-arn": execution_arn,
    }


def metadata_bytes(metadata: dict[str, str]) -> int:
    """The size S3 counts against ``MAX_METADATA_BYTES``."""
    return sum(len(name.encode()) + len(value.encode()) for name, value in metadata.items())
