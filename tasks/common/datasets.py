"""Settings per dataset: the folder under ``incoming/`` (or ``uploads/``) a file is dropped in.

``incoming/orders/2026-11.csv`` belongs to the dataset ``orders``; its settings, if any, are the
file ``tasks/datasets/orders.json``, deployed with the functions (a change is reviewed and
deployed like code). Every setting is optional:

- ``schema``: a JSON Schema (draft 2020-12) each output record must satisfy, lineage fields
  aside; a record that does not is a reject naming the field and the rule it breaks;
- ``outputFormat``: ``jsonl`` or ``parquet`` when a request does not say;
- ``nullMarkers``: CSV values written as null besides the empty value (replaces the default);
- ``maxRejectRatio``: the share of rejects above which the file fails;
- ``skipUnchangedContent``: a new version whose bytes (SHA-256) are those of the last version that
  succeeded is recorded in the ledger as SKIPPED, pointing at that version's output, and not processed.

A file directly under ``incoming/`` belongs to no dataset and gets the defaults.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Any

import msgspec

from tasks.common.layout import SOURCE_PREFIXES
from tasks.common.models import NO_CONTRACT, OutputFormat

DATASETS_DIR = Path(__file__).resolve().parent.parent / "datasets"
_DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class DatasetError(Exception):
    """A dataset's settings file is unusable: a deployment mistake, caught by the tests before it ships."""


class DatasetSettings(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    schema: dict[str, Any] | None = None
    output_format: OutputFormat | None = None
    null_markers: list[str] | None = None
    max_reject_ratio: float | None = None
    skip_unchanged_content: bool = False

    def __post_init__(self) -> None:
        if self.max_reject_ratio is not None and not 0 <= self.max_reject_ratio <= 1:
            raise ValueError("maxRejectRatio must be between 0 and 1")


def dataset_of(key: str) -> str | None:
    """The dataset a source key belongs to: its first folder under the source prefix, if any."""
    for prefix in SOURCE_PREFIXES:
        if key.startswith(prefix):
            folder, slash, _ = key.removeprefix(prefix).partition("/")
            return folder if slash and _DATASET_NAME.fullmatch(folder) else None
    return None


def contract_version(name: str | None) -> str:
    """The digest of dataset ``name``'s settings file (``sha256:`` and 16 hex digits), ``none`` without one.

    The ledger records it with each output, so a replay after a contract change can tell the
    outputs made under the old settings from those made under the new.
    """
    if name is None or not _DATASET_NAME.fullmatch(name):
        return NO_CONTRACT
    path = DATASETS_DIR / f"{name}.json"
    if not path.is_file():
        return NO_CONTRACT
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@functools.cache
def dataset_settings(name: str | None) -> DatasetSettings | None:
    """The settings of dataset ``name``, or None when it has no settings file (or there is no dataset)."""
    if name is None or not _DATASET_NAME.fullmatch(name):
        return None
    path = DATASETS_DIR / f"{name}.json"
    if not path.is_file():
        return None
    try:
        return msgspec.json.decode(path.read_bytes(), type=DatasetSettings)
    except (msgspec.DecodeError, ValueError) as exc:
        raise DatasetError(f"{path.name}: {exc}") from None
