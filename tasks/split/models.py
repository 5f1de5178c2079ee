"""The split's messages: what its steps pass in the execution state, and what they stage in S3.

The state carries pointers, counts and one range's bounds, never a list that grows with the file:
the ranges themselves are JSON arrays in S3 (``*_items_key``) that a Distributed Map's
``ItemReader`` (``s3:getObject``, ``InputType: JSON``) hands out one item per child; each child
writes what it found under a key derived from the run and its index, and the next step reads
those back. Field names are camelCase on the wire, as for every ``Model``.
"""

from __future__ import annotations

from typing import Self

from tasks.common.errors import BusinessError
from tasks.common.models import Format, Model, SourceObject, StagedProfile


class StagedSource(Model, frozen=True):
    """A gzip source decompressed once into staging, pinned by its version: what a split reads."""

    bucket: str
    key: str
    version_id: str
    size: int


class SplitSource(Model, frozen=True):
    """Everything a range needs besides its bounds: the bytes to read and how to read them."""

    bucket: str
    key: str
    version_id: str
    """The object version read: the source itself, or its decompressed copy (``StagedSource``)."""
    size: int
    format: Format
    content_start: int
    """The first byte after a UTF-8 byte order mark (3 with one, else 0)."""
    header_end: int
    """Where the CSV header record ends (the first byte a part without the header may start at);
    ``content_start`` for JSON Lines. The size when the file's first bytes do not hold the whole
    header: the file is then one part."""
    delimiter: str | None
    """The CSV delimiter; None for JSON Lines."""
    source_key: str
    source_version_id: str
    """The lineage every record carries: the source's key and version, even when a copy is read."""
    dataset: str | None = None
    schema_key: str | None = None
    """CSV: the staged ``CsvSchema``, the column names and the types every part converts with."""


class CsvSchema(Model, frozen=True):
    """Staged by PlanRanges: what the single pass would decide from the file's first bytes."""

    names: list[str]
    types: list[str]
    """``ColumnType`` values, one per name."""


class ScanItem(Model, frozen=True):
    """One nominal byte range [start, end) of the scan: an item of the first Distributed Map."""

    index: int
    start: int
    end: int


class ScanPlan(Model, frozen=True):
    """PlanRanges' result: the scan's items (``itemsKey``, ``ranges`` of them) and the source."""

    split: SplitSource
    ranges: int
    items_key: str
    max_concurrency: int
    """The most ranges scanned or transformed at once: both Distributed Maps' ``MaxConcurrencyPath``."""


class RangeError(Model, frozen=True):
    """A business error a range met: the file's, not the range's, so it is kept as data (a Map
    child that raised it would fail the Map as a system error) and raised by the next step if it
    is the first in file order, as one pass would have met it."""

    name: str
    message: str

    @classmethod
    def of(cls, error: BusinessError) -> Self:
        return cls(name=type(error).__name__, message=str(error))

    def exception(self) -> BusinessError:
        """The error to raise: its class is the one named (the ASL error name), its message the same."""
        return _business_errors()[self.name](self.message)


def _business_errors(base: type[BusinessError] = BusinessError) -> dict[str, type[BusinessError]]:
    """Every business error class, by its name."""
    found = {base.__name__: base}
    for subclass in base.__subclasses__():
        found |= _business_errors(subclass)
    return found


class FirstStart(Model, frozen=True):
    """The first record start in a range for one start state, and the line breaks before it."""

    offset: int
    """Absolute offset in the object."""
    breaks: int
    """Line breaks from the range's start to ``offset``: what ``_line`` counts (CSV: \\n,
    \\r\\n and a lone \\r; JSON Lines: \\n)."""
    newlines: int
    """The \\n among them."""


class RangeSummary(Model, frozen=True):
    """What ScanRange found in one range, by the state the parser may be in at its start.

    ``ends[s]`` is the state at the range's end and ``first[s]`` the first record start in the
    range (None if none starts there), when the range starts in state ``s`` (``State``).
    """

    index: int
    start: int
    end: int
    ends: list[int]
    first: list[FirstStart | None]
    breaks: int
    newlines: int
    error: RangeError | None = None
    """The business error that stopped the scan (the source's version gone); the rest is then empty."""


class ScanRangeEvent(Model, frozen=True):
    execution_arn: str
    """The parent run's ARN (a Distributed Map child has its own: pass the parent's in ItemSelector)."""
    split: SplitSource
    range: ScanItem


class ScanRangeResult(Model, frozen=True):
    index: int
    summary_key: str


class CutRangesEvent(Model, frozen=True):
    execution_arn: str
    plan: ScanPlan


class PartItem(Model, frozen=True):
    """One part [start, end) cut on record boundaries: an item of the second Distributed Map."""

    index: int
    start: int
    end: int
    line: int
    """``_line`` of the record at ``start``."""
    newline_line: int
    """1 + the \\n before ``start``: the line a UTF-8 error names, as in one pass."""
    header: bool
    """CSV: the part holds the header (the first part only)."""


class PartPlan(Model, frozen=True):
    """CutRanges' result: the parts' items (``itemsKey``, ``parts`` of them) and the source."""

    split: SplitSource
    parts: int
    items_key: str


class TransformRangeEvent(Model, frozen=True):
    execution_arn: str
    split: SplitSource
    range: PartItem


class PartResult(Model, frozen=True):
    """What TransformRange staged for one part (``result.json`` next to its data and rejects)."""

    index: int
    records: int
    rejected: int
    non_conforming: list[int]
    """CSV: per column, the values kept as text because they did not fit the column's type."""
    data_bytes: int
    rejects_bytes: int
    error: RangeError | None = None


class PartOutcome(Model, frozen=True):
    """TransformRange's small reply to the Map (the counts are read back from S3)."""

    index: int
    records: int
    rejected: int
    error: str | None = None


class CommitRangesEvent(Model, frozen=True):
    execution_arn: str
    source: SourceObject
    plan: PartPlan


class InflateSourceEvent(Model, frozen=True):
    execution_arn: str
    source: SourceObject


class PlanRangesEvent(Model, frozen=True):
    execution_arn: str
    source: SourceObject
    profile: StagedProfile
    """Fetch's, as the state carries it: a CSV's dialect is read from staging."""
    staged: StagedSource | None = None
    """The decompressed copy to split instead of the source (a gzip source), from InflateSource."""
