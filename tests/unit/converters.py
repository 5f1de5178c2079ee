"""The converters' two outputs read back as ``Record`` and ``Reject`` items, for the tests to compare."""

from __future__ import annotations

import contextlib
import io
import json
from unittest import mock

from tasks.common.models import Compression, CsvDialect
from tasks.common.records import LINEAGE_FIELDS, ColumnType
from tasks.transform import csv_converter
from tasks.transform.jsonl_converter import convert_jsonl
from tasks.transform.output import Lineage, Record, Reject
from tasks.transform.readers import ByteStream, open_binary

LINEAGE = Lineage("incoming/test", "v1")


def items_of(data: bytes, rejects: bytes) -> list[Record | Reject]:
    """A converter's two outputs as one list in line order, each record's lineage checked and taken off."""
    items: list[Record | Reject] = []
    for line in data.splitlines():
        fields = json.loads(line)
        source = {name: fields.pop(name) for name in LINEAGE_FIELDS}
        assert (source["_source_key"], source["_source_version"]) == (LINEAGE.source_key, LINEAGE.source_version)
        items.append(Record(source["_line"], fields))
    items += [Reject(**json.loads(line)) for line in rejects.splitlines()]
    return sorted(items, key=lambda item: item.line)


def converted_csv(
    data: bytes,
    dialect: CsvDialect,
    *,
    encoding: str = "utf-8",
    compression: Compression = Compression.NONE,
    infer_types: bool = False,
    null_markers: frozenset[str] = frozenset(),
) -> list[Record | Reject]:
    """The CSV converter's output; without ``infer_types`` the values are as the file spells them.

    The parsing tests compare values with Python's csv module, which reads every value as a
    string: every column is then a string column, whatever the inference would make of it.
    """
    records, rejects = io.BytesIO(), io.BytesIO()
    as_written = mock.patch.object(csv_converter, "infer_column_types", all_strings)
    with contextlib.nullcontext() if infer_types else as_written:
        csv_converter.convert_csv(
            open_binary(io.BytesIO(data), compression=compression),
            dialect,
            encoding=encoding,
            lineage=LINEAGE,
            null_markers=null_markers,
            data=records,
            rejects=rejects,
        )
    return items_of(records.getvalue(), rejects.getvalue())


def all_strings(head: bytes, dialect: CsvDialect, nulls: tuple[bytes, ...], *, complete: bool) -> list[ColumnType]:
    """``infer_column_types`` for a file read as written: every column a string column."""
    return [ColumnType.STRING] * len(dialect.header)


def converted_jsonl(stream: ByteStream, *, compression: Compression, encoding: str) -> list[Record | Reject]:
    records, rejects = io.BytesIO(), io.BytesIO()
    binary = open_binary(stream, compression=compression)
    convert_jsonl(binary, encoding=encoding, lineage=LINEAGE, data=records, rejects=rejects)
    return items_of(records.getvalue(), rejects.getvalue())
