"""Where objects live in the pipeline bucket: shared by the tasks, the stack and the tests.

- ``incoming/``: sources. An object created here starts a run (the EventBridge rule filters on
  this prefix, so nothing the pipeline writes can trigger it again).
- ``uploads/``: sources that start no run by themselves: ``pipeline submit`` uploads here, then
  starts the run through the API.
- ``staging/<execution name>/``: a run's transform output before the commit; WriteOutput copies it
  under ``processed/`` and a lifecycle rule expires it (two days), so a retried commit can copy again.
- ``processed/<source key without incoming/>/<version id>/``: committed outputs. The key depends
  only on the source key and version, so a retry, a redrive or a duplicated trigger rewrites the
  same objects instead of adding new ones.
"""

from __future__ import annotations

from dataclasses import dataclass

INCOMING_PREFIX = "incoming/"
UPLOADS_PREFIX = "uploads/"
SOURCE_PREFIXES = (INCOMING_PREFIX, UPLOADS_PREFIX)
STAGING_PREFIX = "staging/"
PROCESSED_PREFIX = "processed/"

DATA_FILE = "data.jsonl"
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


def output_keys(source_key: str, version_id: str) -> OutputKeys:
    """The committed output keys of one source object version."""
    relative = source_key.removeprefix(INCOMING_PREFIX)
    base = f"{PROCESSED_PREFIX}{relative}/{version_id}/"
    return OutputKeys(
        data=base + DATA_FILE,
        rejects=base + REJECTS_FILE,
        manifest=base + MANIFEST_FILE,
        notified=base + NOTIFIED_FILE,
    )
