"""CSV to typed JSON Lines: Python decides, ``_csvjson`` does the per-byte work.

The source streams through a bounded buffer: each call to ``_csvjson.convert`` turns the
buffer's whole records into JSON Lines and says where the first unfinished one starts, which
the next read completes. Before the first call, the first ``INFER_BYTES`` of the file decide
each column's type; a later value that does not fit its column's type is kept as a string and
counted (``ColumnSummary.non_conforming``), never dropped and never rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from tasks.common.errors import MalformedInput
from tasks.common.models import ColumnSummary, CsvDialect
from tasks.common.records import ColumnType
from tasks.transform import _csvjson
from tasks.transform.output import ByteSink, Lineage, Reject, truncate_raw
from tasks.transform.readers import FILE_START, ByteStream, Position, Utf8Chunks

CHUNK_BYTES = 4 * 1024 * 1024
"""Bytes read at a time: large enough that the per-call overhead vanishes, small for memory."""

INFER_BYTES = 1024 * 1024
INFER_ROWS = 10_000
"""Column types come from the records in the file's first MiB, at most this many."""


# The converter's one-letter codes: the kind of a single value ("n" for an empty one).
KIND_CODES: dict[ColumnType, str] = {
    ColumnType.STRING: "s",
    ColumnType.INTEGER: "i",
    ColumnType.FLOAT: "f",
    ColumnType.BOOLEAN: "b",
    ColumnType.DATE: "d",
    ColumnType.TIMESTAMP: "t",
}
_TYPE_OF_KIND = {code: column for column, code in KIND_CODES.items()}


@dataclass(frozen=True, slots=True)
class CsvResult:
    records: int
    rejected: int
    columns: list[ColumnSummary]


def column_type(kinds: str) -> ColumnType:
    """The narrowest type every non-null value fits, from the kind letters ``_csvjson.survey`` saw.

    Integers and floats together make a float column. Dates and timestamps are not mixed: a
    column of both is a string column, as no single type describes it. A column with no value
    to go by is a string column.
    """
    letters = set(kinds) - {"n"}
    if not letters:
        return ColumnType.STRING
    if letters == {"i", "f"}:
        return ColumnType.FLOAT
    if len(letters) == 1:
        return _TYPE_OF_KIND[letters.pop()]
    return ColumnType.STRING


def infer_column_types(
    head: bytes, dialect: CsvDialect, nulls: tuple[bytes, ...], *, complete: bool
) -> list[ColumnType]:
    """Column types from the first ``INFER_ROWS`` records of ``head``, the file's first bytes."""
    kinds = _csvjson.survey(head, complete, dialect.delimiter, len(dialect.header), nulls, INFER_ROWS)
    return [column_type(letters) for letters in kinds]


def convert_csv(
    source: ByteStream,
    dialect: CsvDialect,
    *,
    encoding: str,
    lineage: Lineage,
    null_markers: frozenset[str],
    data: ByteSink,
    rejects: ByteSink,
    inferred_types: Sequence[ColumnType] | None = None,
    position: Position = FILE_START,
) -> CsvResult:
    """Stream ``source`` (decompressed bytes of ``encoding``) into JSON Lines and reject lines.

    ``inferred_types`` given (a part of a split file: the types inferred from the file's start),
    nothing is inferred here; ``position`` says where ``source`` starts in its file.
    """
    names = tuple(msgspec.json.encode(name) + b":" for name in dialect.header)
    nulls = tuple(marker.encode() for marker in sorted(null_markers))
    suffix = lineage.suffix()
    chunks = Utf8Chunks(source, encoding=encoding, first_line=position.newline_line)
    reject_encoder = msgspec.json.Encoder()
    buffer = b""
    line = position.line
    header = position.header
    records = rejected = 0
    column_types = list(inferred_types or [])
    kinds = None if inferred_types is None else "".join(KIND_CODES[column] for column in column_types).encode()
    mismatches = [0] * len(names)
    read_size = CHUNK_BYTES
    while True:
        chunk = chunks.read(read_size)
        final = not chunk
        buffer += chunk
        if kinds is None:
            if not final and len(buffer) < INFER_BYTES:
                continue
            column_types = infer_column_types(buffer, dialect, nulls, complete=final)
            kinds = "".join(KIND_CODES[column] for column in column_types).encode()
        converted = _csvjson.convert(buffer, 0, final, dialect.delimiter, names, kinds, nulls, suffix, line, header)
        line, header = converted.line, converted.header
        if converted.header_problem is not None:
            raise MalformedInput(f"the CSV header on line {line - 1} cannot be parsed: {converted.header_problem}")
        data.write(converted.output)
        records += converted.records
        rejected += len(converted.rejects)
        rejects.write(b"".join(_reject_line(reject_encoder, *item) for item in converted.rejects))
        mismatches = [total + more for total, more in zip(mismatches, converted.mismatches, strict=True)]
        if final:
            break
        # A record longer than the buffer: read more at once, so a huge value costs a few reads.
        read_size = CHUNK_BYTES if converted.end else read_size * 2
        buffer = buffer[converted.end :]
    columns = [
        ColumnSummary(name=name, type=column.value, non_conforming=mismatch)
        for name, column, mismatch in zip(dialect.header, column_types, mismatches, strict=True)
    ]
    return CsvResult(records=records, rejected=rejected, columns=columns)


def _reject_line(encoder: msgspec.json.Encoder, line: int, reason: str, raw: bytes) -> bytes:
    return encoder.encode(Reject(line, reason, truncate_raw(raw))) + b"\n"
