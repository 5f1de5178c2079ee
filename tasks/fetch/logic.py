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
from tasks.common.records import is_blank_row, unique_column_names
from tasks.common.sample import Sample, read_sample

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
    the sample's rows into the most rows of one consistent width above one field, preferring one
    that splits the header to that width too; ``,`` when no candidate splits anything (a
    one-column file).
    """
    if not complete and "\n" in text:
        # Only whole lines: a cut last line would have a misleading width.
        text = text[: text.rindex("\n") + 1]
    delimiter = max(CSV_DELIMITERS, key=lambda candidate: _consistency(text, candidate))
    if _consistency(text, delimiter) == (False, 0, 0):
        delimiter = ","
    # newline="" as in open_text: the csv module, not the text layer, splits lines (a lone \r too).
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True, strict=False
    )
    # The header is the row the converter takes for it: the first one that is not blank (a line of
    # spaces included), or the reader would check the real header against a blank line's width.
    header = next((row for row in reader if not is_blank_row(row)), None)
    if header is None:
        raise EmptyObject("the CSV file has no header row")
    return CsvDialect(delimiter=delimiter, quotechar='"', doublequote=True, header=unique_column_names(header))


def _consistency(text: str, delimiter: str) -> tuple[bool, int, int]:
    """(the header has the most common width, rows having it, that width) for widths above one.

    ``(False, 0, 0)`` if none. A header of another width ranks below any that agrees, whatever its
    row count: the converter would reject all those rows. A wrong candidate can count more rows than
    the right one has records, as it splits a quoted multi-line value at each of its lines: a
    ``,`` file whose quoted addresses hold a ``;`` on each line has more ``;`` rows of two fields.
    """
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True, strict=False
    )
    try:
        rows = [row for row in itertools.islice(reader, _SNIFF_ROWS) if row]
    except csv.Error:
        return (False, 0, 0)
    widths = Counter(len(row) for row in rows)
    width, count = max(widths.items(), key=lambda item: (item[1], item[0]), default=(0, 0))
    header = next((row for row in rows if not is_blank_row(row)), [])
    return (len(header) == width, count, width) if width > 1 else (False, 0, 0)


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
    return profile_of(sample, source.format, version_id=source.version_id, etag=source.etag)


def profile_of(sample: Sample, fmt: Format, *, version_id: str, etag: str) -> ObjectProfile:
    """What a sample of an object version says: its encoding and, for CSV, its dialect and header."""
    encoding = sniff_encoding(sample.text_bytes, complete=sample.complete)
    dialect = None
    if fmt is Format.CSV:
        text = sample.text_bytes.decode(encoding, errors="ignore")
        dialect = sniff_csv(text, complete=sample.complete)
    return ObjectProfile(version_id=version_id, etag=etag, encoding=encoding, csv=dialect)
