"""Turning a reader's records and rejects into the staged JSON Lines outputs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import msgspec

from tasks.common.errors import EmptyObject, TooManyRejects
from tasks.transform.readers import Record, Reject

BATCH_SIZE = 1024 * 1024
"""Bytes gathered before a writer call: one call per record would cost more than the encoding."""


class ByteSink(Protocol):
    """Where JSON Lines go: an ``S3MultipartWriter`` in the Lambda, any object with ``write`` in tests."""

    def write(self, data: bytes) -> None: ...


class _RejectLine(msgspec.Struct):
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


def write_records(
    items: Iterable[Record | Reject], *, data: ByteSink, rejects: ByteSink, max_reject_ratio: float
) -> tuple[int, int]:
    """Write records to ``data`` and rejects to ``rejects`` as JSON Lines; return both counts.

    The checks run after the whole input is written: the reject ratio is only known at the
    end. Raising inside the writers' ``with`` blocks makes them abort, so a file that fails a
    check leaves no staged output behind.
    """
    encoder = msgspec.json.Encoder()
    data_lines = _LineBatch(data, encoder)
    reject_lines = _LineBatch(rejects, encoder)
    records = rejected = 0
    for item in items:
        if isinstance(item, Record):
            data_lines.add(item.fields)
            records += 1
        else:
            reject_lines.add(_RejectLine(item.line, item.reason, item.raw))
            rejected += 1
    data_lines.flush()
    reject_lines.flush()
    total = records + rejected
    if total == 0:
        raise EmptyObject("no records")
    ratio = rejected / total
    if ratio > max_reject_ratio:
        raise TooManyRejects(
            f"{rejected} rejected and {records} valid records: "
            f"reject ratio {ratio:.4f} is above the limit {max_reject_ratio}"
        )
    return records, rejected
