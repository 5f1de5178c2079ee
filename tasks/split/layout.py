"""Where a split run stages its objects: under the run's staging folder, named by range index.

Every key derives from the (parent) execution and an index only, so a retried or redriven step
rewrites the same objects, and the next step finds them without being told their names:

- ``staging/<execution>/source/<name>``: a gzip source decompressed once (InflateSource).
- ``staging/<execution>/split/scan-ranges.json``, ``schema.json``: PlanRanges' scan items and CSV schema.
- ``staging/<execution>/split/scans/<index>.json``: each range's ``RangeSummary`` (ScanRange).
- ``staging/<execution>/split/parts.json``: the parts cut on record boundaries (CutRanges).
- ``staging/<execution>/split/parts/<index>/data.jsonl``, ``rejects.jsonl``, ``result.json``:
  each part's output (TransformRange), joined by CommitRanges into the run's staged
  ``data.jsonl`` and ``rejects.jsonl`` (``tasks.common.layout.staging_keys``), which the
  single-pass path commits from.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.common.layout import DATA_FILE, REJECTS_FILE, STAGING_PREFIX, execution_name

_INDEX_DIGITS = 6  # zero-padded, so a listing sorts in range order
_SCAN_ITEMS = "scan-ranges.json"
_PART_ITEMS = "parts.json"
ITEMS_FILES = (_SCAN_ITEMS, _PART_ITEMS)
"""The two Distributed Maps' item arrays: the state machine reads them (its role names them)."""


@dataclass(frozen=True, slots=True)
class PartKeys:
    data: str
    rejects: str
    result: str


def _run(execution_arn: str) -> str:
    return f"{STAGING_PREFIX}{execution_name(execution_arn)}/"


def _split(execution_arn: str) -> str:
    return f"{_run(execution_arn)}split/"


def inflated_key(execution_arn: str, source_key: str) -> str:
    """The decompressed copy of a gzip source: its file name without ``.gz``."""
    name = source_key.rsplit("/", 1)[-1]
    if name.lower().endswith(".gz"):
        name = name[: -len(".gz")]
    return f"{_run(execution_arn)}source/{name}"


def scan_items_key(execution_arn: str) -> str:
    return f"{_split(execution_arn)}{_SCAN_ITEMS}"


def schema_key(execution_arn: str) -> str:
    return f"{_split(execution_arn)}schema.json"


def summary_key(execution_arn: str, index: int) -> str:
    return f"{_split(execution_arn)}scans/{index:0{_INDEX_DIGITS}d}.json"


def part_items_key(execution_arn: str) -> str:
    return f"{_split(execution_arn)}{_PART_ITEMS}"


def part_keys(execution_arn: str, index: int) -> PartKeys:
    base = f"{_split(execution_arn)}parts/{index:0{_INDEX_DIGITS}d}/"
    return PartKeys(data=base + DATA_FILE, rejects=base + REJECTS_FILE, result=base + "result.json")
