"""Fetch: pin the exact object version and learn how to read it."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections import Counter
from typing import Any

from tasks.common.errors import EmptyObject, UnsupportedEncoding, UnsupportedFormat
from tasks.common.layout import CSV_DIALECT_FILE, staging_key
from tasks.common.models import CsvDialect, Format, ObjectProfile, Route, SourceObject, StagedProfile
from tasks.common.records import is_blank_row, unique_column_names
from tasks.common.sample import SAMPLE_BYTES, Sample, read_sample
from tasks.common.staging import put_document

CSV_DELIMITERS = ",\t;|"  # in order of preference when two split a sample equally well
_SNIFF_ROWS = 50
MAX_SAMPLE_BYTES = 4 * 1024 * 1024
"""The most Fetch reads to find the end of a CSV header: 10,000 names of 20 characters take 210 KB."""
# Never in a source Validate accepted (binary content is refused): the end-of-sample marker.
_SAMPLE_END = "\0"
# The csv module refuses a field over 128 KiB by default; a sample may hold one that long (a wide
# header's only field, a long quoted value), up to four times the sample once decompressed.
csv.field_size_limit(max(csv.field_size_limit(), 4 * MAX_SAMPLE_BYTES))
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


def header_row_ends(text: str) -> bool:
    """Whether ``text``, the start of a CSV file, holds its whole header row (its first row that is
    not blank): for every candidate delimiter, a line break outside quotes closes that row.

    The marker appended after the text lands in the header row only while that row is still open.
    """
    for delimiter in CSV_DELIMITERS:
        reader = csv.reader(
            io.StringIO(text + _SAMPLE_END, newline=""),
            delimiter=delimiter,
            quotechar='"',
            doublequote=True,
            strict=False,
        )
        try:
            header = next((row for row in reader if not is_blank_row(row)), [_SAMPLE_END])
        except csv.Error:
            continue  # sniff_csv's rules decide about a sample this delimiter cannot parse
        if any(_SAMPLE_END in field for field in header):
            return False
    return True


def profile(s3: Any, source: SourceObject) -> ObjectProfile:
    """Read the pinned version's first bytes: encoding and, for CSV, dialect and header.

    A CSV header longer than the first sample is read whole: the sample grows (four times at a
    time) until the header row ends in it, up to ``MAX_SAMPLE_BYTES``.
    """
    size = SAMPLE_BYTES
    while True:
        sample = read_sample(
            s3,
            bucket=source.bucket,
            key=source.key,
            version_id=source.version_id,
            etag=source.etag,
            compression=source.compression,
            size=size,
        )
        if source.format is not Format.CSV or sample.complete:
            break
        encoding = sniff_encoding(sample.text_bytes, complete=False)
        if header_row_ends(sample.text_bytes.decode(encoding, errors="ignore")):
            break
        if size >= MAX_SAMPLE_BYTES:
            raise UnsupportedFormat(f"the CSV header row does not end within the first {MAX_SAMPLE_BYTES} bytes")
        size *= 4
    return profile_of(sample, source.format, version_id=source.version_id, etag=source.etag)


def stage_profile(
    s3: Any, *, execution_arn: str, bucket: str, found: ObjectProfile, route: Route = Route.SINGLE
) -> StagedProfile:
    """The profile as the state carries it: a CSV dialect (a header of any width) staged for the
    transform, and the route the workflow takes (one pass or by ranges)."""
    dialect_key = None
    if found.csv is not None:
        dialect_key = staging_key(execution_arn, CSV_DIALECT_FILE)
        put_document(s3, bucket=bucket, key=dialect_key, document=found.csv)
    return StagedProfile(
        version_id=found.version_id,
        etag=found.etag,
        encoding=found.encoding,
        csv_dialect_key=dialect_key,
        route=route,
    )


def profile_of(sample: Sample, fmt: Format, *, version_id: str, etag: str) -> ObjectProfile:
    """What a sample of an object version says: its encoding and, for CSV, its dialect and header."""
    encoding = sniff_encoding(sample.text_bytes, complete=sample.complete)
    dialect = None
    if fmt is Format.CSV:
        text = sample.text_bytes.decode(encoding, errors="ignore")
        dialect = sniff_csv(text, complete=sample.complete)
    return ObjectProfile(version_id=version_id, etag=etag, encoding=encoding, csv=dialect)
