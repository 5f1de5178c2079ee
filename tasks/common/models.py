"""Typed messages passed between the workflow's states.

Every handler decodes its event into one of these structs and returns one. Field names are
camelCase on the wire (the state machine's JSON) and snake_case in Python. States pass
pointers, counts and small metadata only, never records (Step Functions caps a payload at
256 KB).
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

import msgspec

from tasks.common.errors import ValidationError


class ProcessingType(enum.StrEnum):
    STANDARD = "standard"
    PRIORITY = "priority"
    BATCH = "batch"


class Format(enum.StrEnum):
    CSV = "csv"
    JSON = "json"
    JSONL = "jsonl"


class Compression(enum.StrEnum):
    NONE = "none"
    GZIP = "gzip"


class Route(enum.StrEnum):
    """How a source is transformed: in one pass, split into ranges, or first decompressed then split
    (``tasks.split.plan.route`` decides; the workflow's RouteByFormat follows it)."""

    SINGLE = "single"
    SPLIT = "split"
    INFLATE = "inflate"


class OutputFormat(enum.StrEnum):
    JSONL = "jsonl"
    PARQUET = "parquet"


class Trigger(enum.StrEnum):
    """What started a run: an S3 event or an API request, or one of the operators' commands
    (``pipeline backfill``, ``replay``, ``reconcile --fix``), which name the key as it is."""

    S3 = "s3"
    API = "api"
    BACKFILL = "backfill"
    REPLAY = "replay"
    RECONCILE = "reconcile"


NO_CONTRACT = "none"
"""The contract version of a source whose folder has no dataset settings."""


class Model(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """Base of every message: strict (unknown fields are an error), immutable."""


class PipelineRequest(Model, frozen=True):
    """The workflow's input: which object to process and how."""

    bucket: str
    key: str
    version_id: str | None = None
    processing_type: ProcessingType | None = None
    output_format: OutputFormat | None = None
    """None: the dataset's format (``tasks/datasets``), else JSON Lines."""
    trigger: Trigger = Trigger.API
    reason: str | None = None
    """Why an operator asked for this run (``pipeline replay --reason``); the ledger records it."""


class SourceObject(Model, frozen=True):
    """The object a run processes, as Validate found it."""

    bucket: str
    key: str
    version_id: str
    etag: str
    size: int
    format: Format
    compression: Compression
    processing_type: ProcessingType
    trigger: Trigger
    output_format: OutputFormat = OutputFormat.JSONL
    dataset: str | None = None
    """The dataset whose settings apply (``tasks/datasets/<dataset>.json``), if the key's folder has one."""
    contract_version: str = NO_CONTRACT
    """The digest of those settings (``sha256:…``), recorded in the ledger with the output; ``none`` without."""
    reason: str = ""
    """The request's reason, for the ledger (empty: none given)."""
    skip_unchanged_content: bool = False
    """The dataset skips a version whose content its last succeeded version already had."""


class CsvDialect(Model, frozen=True):
    """How to read a CSV source, as Fetch sniffed it: one header name per column, so it is staged
    (``StagedProfile.csv_dialect_key``), never carried in the state."""

    delimiter: str
    quotechar: str
    doublequote: bool
    header: list[str]


class ObjectProfile(Model, frozen=True):
    """What Fetch learnt from the pinned object's first bytes."""

    version_id: str
    etag: str
    encoding: str
    csv: CsvDialect | None = None


class StagedProfile(Model, frozen=True):
    """An ``ObjectProfile`` as the state carries it: its CSV dialect staged under the run's
    ``staging/`` prefix, so the state stays small whatever the number of columns."""

    version_id: str
    etag: str
    encoding: str
    csv_dialect_key: str | None = None
    """CSV sources: the staged ``CsvDialect`` (JSON)."""
    route: Route = Route.SINGLE
    """One pass, or by ranges: decided by Fetch from the stored size, format and compression."""


class ColumnSummary(Model, frozen=True):
    """One CSV column of the output: its normalized name, inferred type, and the values that
    did not fit that type (kept as strings)."""

    name: str
    type: str
    non_conforming: int


class StagedOutput(Model, frozen=True):
    """A transform's run-scoped output, not yet committed."""

    bucket: str
    data_key: str
    rejects_key: str
    records: int
    rejected: int
    columns_key: str | None = None
    """CSV sources only: the staged list of ``ColumnSummary``, one per column (JSON). JSON records
    carry their own types and need not share keys."""


class OutputLocation(Model, frozen=True):
    """The committed output of a run."""

    bucket: str
    key: str
    rejects_key: str
    manifest_key: str
    records: int
    rejected: int


class ContentChecksum(Model, frozen=True):
    """The digest of a source version's bytes: ``sha256:<hex>``."""

    checksum: str


class NotificationReceipt(Model, frozen=True):
    message_id: str | None
    published: bool


class ValidateEvent(Model, frozen=True):
    execution_arn: str
    request: dict[str, Any]


class FetchEvent(Model, frozen=True):
    execution_arn: str
    source: SourceObject


class TransformEvent(Model, frozen=True):
    execution_arn: str
    source: SourceObject
    profile: StagedProfile


class WriteOutputEvent(Model, frozen=True):
    execution_arn: str
    source: SourceObject
    staged: StagedOutput
    run_started_at: str | None = None
    """When the run started (``$$.Execution.StartTime``): a run that started later keeps its output."""


# Checksum reads the same version Fetch pins: it takes Fetch's input.
ChecksumEvent = FetchEvent


# WriteParquet sits between the transform and WriteOutput when the output is Parquet: it takes
# WriteOutput's input and hands on the same shape, the staged output now pointing at Parquet.
WriteParquetEvent = WriteOutputEvent


class NotifyEvent(Model, frozen=True):
    execution_arn: str
    source: SourceObject
    output: OutputLocation


M = TypeVar("M", bound=Model)


def decode_event(event: object, model: type[M]) -> M:
    """Convert a raw Lambda event into ``model`` or raise ``ValidationError`` saying why."""
    try:
        return msgspec.convert(event, model)
    except msgspec.ValidationError as exc:
        raise ValidationError(f"invalid {model.__name__}: {exc}") from None


def to_payload(message: Model) -> dict[str, Any]:
    """The JSON-ready form of a message, as a handler returns it to Step Functions."""
    payload: dict[str, Any] = msgspec.to_builtins(message)
    return payload
