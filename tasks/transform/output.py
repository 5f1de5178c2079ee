"""What every transform writes: records and rejects, lineage, the sinks they go to, the count checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from tasks.common.errors import EmptyObject, TooManyRejects
from tasks.common.records import LINEAGE_FIELDS

RAW_LIMIT = 1000
"""Characters of a rejected record's raw text kept in the rejects file: enough to see what is wrong."""


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    """1-based physical line where the record starts in the decompressed text."""
    fields: dict[str, Any]


class Reject(msgspec.Struct, frozen=True):
    """A record that cannot be used: one line of the rejects object."""

    line: int
    """1-based physical line where the record starts in the decompressed text."""
    reason: str
    """Human readable, e.g. ``expected 3 fields, found 4``."""
    raw: str
    """The record's text, as ``truncate_raw`` keeps it."""


def truncate_raw(raw: str | bytes) -> str:
    """A rejected record's text as the rejects object keeps it: its first ``RAW_LIMIT`` characters.

    Bytes are UTF-8 that may end inside a character (the C converter cuts by bytes), so a cut
    character is dropped; a character takes at most 4 bytes, so decoding ``RAW_LIMIT * 4`` bytes
    is enough.
    """
    if isinstance(raw, bytes):
        raw = raw[: RAW_LIMIT * 4].decode("utf-8", errors="ignore")
    return raw[:RAW_LIMIT]


class ByteSink(Protocol):
    """Where JSON Lines go: an ``S3MultipartWriter`` in the Lambda, any object with ``write`` in tests."""

    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where records come from, written into each one as ``_source_key``, ``_source_version``, ``_line``."""

    source_key: str
    source_version: str

    def suffix(self) -> bytes:
        """The JSON text that closes every CSV record, up to its line number."""
        encode = msgspec.json.encode
        return (
            b',"_source_key":'
            + encode(self.source_key)
            + b',"_source_version":'
            + encode(self.source_version)
            + b',"_line":'
        )


def without_lineage_clash(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with any key named like a lineage field renamed (``_line`` → ``_line_2``), so
    the lineage added next never overwrites a value of the record."""
    if not any(name in fields for name in LINEAGE_FIELDS):
        return fields
    renamed: dict[str, Any] = {}
    for key, value in fields.items():
        name = key
        if key in LINEAGE_FIELDS:
            suffix = 2
            while f"{key}_{suffix}" in fields or f"{key}_{suffix}" in renamed:
                suffix += 1
            name = f"{key}_{suffix}"
        renamed[name] = value
    return renamed


def json_type(value: object) -> str:
    """The JSON type of a decoded value that is not an object, for the reason of its reject."""
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null"


def check_counts(records: int, rejected: int, *, max_reject_ratio: float) -> None:
    """Fail a file with no record, or with more rejects than ``max_reject_ratio`` allows.

    Called after the whole input is written (the ratio is only known at the end), inside the
    writers' ``with`` blocks, so a failing file leaves no staged output behind.
    """
    total = records + rejected
    if total == 0:
        raise EmptyObject("no records")
    ratio = rejected / total
    if ratio > max_reject_ratio:
        raise TooManyRejects(
            f"{rejected} rejected and {records} valid records: "
            f"reject ratio {ratio:.4f} is above the limit {max_reject_ratio}"
        )
