"""Fetch: pin the exact object version and learn how to read it."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections import Counter
from typing import Any

from tasks.common.errors import EmptyObject, UnsupportedEncoding
from tasks.common.models import CsvDialect, Format, ObjectProfile, SourceObject
from tasks.common.sample import read_sample
from tasks.transform.readers import unique_column_names

CSV_DELIMITERS = ",\t;|"  # in order of preference when two split a sample equally well
_SNIFF_ROWS = 50
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def sniff_encoding(text_bytes: bytes, *, complete: bool) -> str:
    """``utf-8-sig`` with a UTF-8 byte order mark, ``utf-8`` without; anything else is refused."""
    if text_bytes.startswith(_UTF16_BOMS):
        raise UnsupportedEncoding("the content is UTF-16; convert it to UTF-8")
    encoding = "utf-8-sig" if text_bytes.startswith(codecs.BOM_UTF8) else "utf-8"
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        # Not final unless this is the whole content: the sample may end inside a character.
        decoder.decode(text_bytes, final=complete)
    except UnicodeDecodeError as exc:
        raise UnsupportedEncoding(
            f"the content is not UTF-8 (invalid byte 0x{text_bytes[exc.start]:02x} at offset {exc.start})"
        ) from None
    return encoding


def sniff_csv(text: str, *, complete: bool) -> CsvDialect:
    """The delimiter and header of a CSV sample.

    Quoting is RFC 4180 (``"``, doubled to escape). The delimiter is the candidate that splits
    the sample's rows into the most rows of one consistent width above one field; ``,`` when no
    candidate splits anything (a one-column file).
    """
    if not complete and "\n" in text:
        # Only whole lines: a cut last line would have a misleading width.
        text = text[: text.rindex("\n") + 1]
    delimiter = max(CSV_DELIMITERS, key=lambda candidate: _consistency(text, candidate))
    if _consistency(text, delimiter) == (0, 0):
        delimiter = ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    header = next((row for row in reader if row), None)
    if header is None:
        raise EmptyObject("the CSV file has no header row")
    return CsvDialect(delimiter=delimiter, quotechar='"', doublequote=True, header=unique_column_names(header))


def _consistency(text: str, delimiter: str) -> tuple[int, int]:
    """(rows having the most common width, that width) for widths above one; (0, 0) if none."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    try:
        widths = Counter(len(row) for row in itertools.islice(reader, _SNIFF_ROWS) if row)
    except csv.Error:
        return (0, 0)
    width, rows = max(widths.items(), key=lambda item: (item[1], item[0]), default=(0, 0))
    return (rows, width) if width > 1 else (0, 0)


def profile(s3: Any, source: SourceObject) -> ObjectProfile:
    """Read the pinned version's first bytes: encoding and, for CSV, dialect and header."""
    sample = read_sample(
        s3,
        bucket=source.bucket,
        key=source.key,
        version_id=source.version_id,
        etag=source.etag,
        compression=source.compression,
    )
    encoding = sniff_encoding(sample.text_bytes, complete=sample.complete)
    dialect = None
    if source.format is Format.CSV:
        text = sample.text_bytes.decode(encoding, errors="ignore")
        dialect = sniff_csv(text, complete=sample.complete)
    return ObjectProfile(version_id=source.version_id, etag=source.etag, encoding=encoding, csv=dialect)
