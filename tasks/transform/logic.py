"""What every transform shares: lineage, the JSON records' writer, and the final count checks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from tasks.common.errors import EmptyObject, TooManyRejects
from tasks.common.records import LINEAGE_FIELDS
from tasks.transform.readers import Record, Reject

BATCH_SIZE = 1024 * 1024
"""Bytes gathered before a writer call: one call per record would cost more than the encoding."""


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


class RejectLine(msgspec.Struct):
    """One line of a rejects object."""

    line: int
    reason: str
    raw: str


class _LineBatch:
    """Encodes values as JSON lines into one buffer and hands it to ``sink`` about once per MiB."""

    def __init__(self, sink: ByteSink, encoder: msgspec.json.Encoder) -> None:
        self._sink = sink
        self._encoder = encoder
        self._buffer = bytearray()

    def add(self, value: object) -> None:
        self._encoder.encode_into(value, self._buffer, -1)
        self._buffer += b"\n"
        if len(self._buffer) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._sink.write(bytes(self._buffer))
            self._buffer.clear()


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


def write_records(
    items: Iterable[Record | Reject], *, lineage: Lineage, data: ByteSink, rejects: ByteSink
) -> tuple[int, int]:
    """Write records (lineage added) to ``data`` and rejects to ``rejects``.

    Returns (records, rejected).
    """
    encoder = msgspec.json.Encoder()
    data_lines = _LineBatch(data, encoder)
    reject_lines = _LineBatch(rejects, encoder)
    source = {"_source_key": lineage.source_key, "_source_version": lineage.source_version}
    records = rejected = 0
    for item in items:
        if isinstance(item, Record):
            fields = without_lineage_clash(item.fields) | source
            fields["_line"] = item.line
            data_lines.add(fields)
            records += 1
        else:
            reject_lines.add(RejectLine(item.line, item.reason, item.raw))
            rejected += 1
    data_lines.flush()
    reject_lines.flush()
    return records, rejected


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
