"""WriteParquet: a run's staged JSON Lines as one Parquet file, staged next to them for WriteOutput.

It runs between the transform and WriteOutput when the run's output format is Parquet. The staged
object streams from S3 to a local file, DuckDB converts that file into a local Parquet file in
bounded memory (its memory limit, spilling to a folder next to them), and the Parquet file streams
back to S3 in parts. Both files sit in the function's ``/tmp``.

Types: a CSV source's columns get the types the transform inferred, and a column where some values
did not fit its type stays text (those values were kept as strings); a JSON source's records carry
their own types, which DuckDB infers from the whole file, whatever keys and nesting each record has.
What DuckDB cannot write exactly fails the step as ``ParquetConversionFailed`` saying why (a system
error: the run fails here and can be redriven), never as a value rounded, renamed or dropped.
Staged records too large to sit twice in the function's free ``/tmp`` (the JSON Lines and the
Parquet file made from them) are refused first, as ``ObjectTooLarge``; so are records DuckDB cannot
convert before the function's timeout: the conversion is interrupted ``stop_margin_ms`` before it,
which leaves the time to say so (a timeout would be a system failure that every redrive repeats).
One pass cannot be interrupted: DuckDB infers a JSON source's types while it prepares the
conversion, reading the whole file, and an interrupt waits for that pass to end; a JSON source
whose inference alone outlasts the margin still meets the timeout. Staged objects that are gone
fail the step as ``StagedOutputMissing``.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import msgspec

from tasks.common.aws import s3_errors, staged_errors
from tasks.common.errors import ObjectTooLarge, ParquetConversionFailed
from tasks.common.layout import DATA_CONTENT_TYPES, staged_parquet_key
from tasks.common.models import ColumnSummary, Format, OutputFormat, StagedOutput, WriteParquetEvent
from tasks.common.records import LINEAGE_FIELDS, ColumnType
from tasks.common.s3_stream import DEFAULT_PART_SIZE, S3MultipartWriter
from tasks.common.staging import get_document

COPY_CHUNK_BYTES = DEFAULT_PART_SIZE
# DuckDB's default (16 MiB) would refuse a record the transforms accept; past this, a clear error.
MAX_RECORD_BYTES = 64 * 1024 * 1024

DUCKDB_TYPES: dict[ColumnType, str] = {
    ColumnType.STRING: "VARCHAR",
    ColumnType.INTEGER: "BIGINT",  # the transform's integers have at most 18 digits
    ColumnType.FLOAT: "DOUBLE",
    ColumnType.BOOLEAN: "BOOLEAN",
    ColumnType.DATE: "DATE",
    # The transform's timestamps may end in an offset (Z, +02:00, -0530, +02) or not. TIMESTAMP
    # would drop an offset without a word; TIMESTAMPTZ applies it, and reads a value without one
    # in the session's time zone, which convert() sets to UTC.
    ColumnType.TIMESTAMP: "TIMESTAMPTZ",
}
LINEAGE_TYPES: dict[str, str] = dict(zip(LINEAGE_FIELDS, ("VARCHAR", "VARCHAR", "BIGINT"), strict=True))

# An integer literal of 19 digits or more after '[', ':' or ',' (with its fraction or exponent, if
# any, so that a float can be told apart). DuckDB types a JSON integer outside the signed 64-bit
# range as DOUBLE (or HUGEINT, which Parquet stores as DOUBLE): its digits would be rounded.
_LONG_INTEGERS = r"[\[:,]\s*(-?[0-9]{19,}(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"
_FIRST_OUT_OF_RANGE_INTEGER = """
    SELECT number, line FROM (
        SELECT unnest(regexp_extract_all(json, ?, 1)) AS number, json ->> '$._line' AS line
        FROM read_json_objects(?, format = 'newline_delimited', maximum_object_size = ?)
    )
    WHERE NOT regexp_matches(number, '[.eE]') AND TRY_CAST(number AS BIGINT) IS NULL
    LIMIT 1
"""
# The conversion, whole: every record as read (sample_size=-1: the types inferred from every record,
# so a key first seen late is still a column), or as the columns' types say.
_COPY_INFERRED = """
    COPY (SELECT * FROM read_json(?, format = 'newline_delimited', maximum_object_size = ?, sample_size = -1))
    TO ? (FORMAT parquet, COMPRESSION zstd)
"""
_COPY_TYPED = """
    COPY (SELECT * FROM read_json(?, format = 'newline_delimited', maximum_object_size = ?, columns = ?))
    TO ? (FORMAT parquet, COMPRESSION zstd)
"""
# DuckDB's column names ignore case: of two top-level keys differing only by case, it renames one.
_FIRST_KEYS_DIFFERING_BY_CASE = """
    SELECT string_agg(key, ', ' ORDER BY key) FROM (
        SELECT DISTINCT unnest(json_keys(json)) AS key
        FROM read_json_objects(?, format = 'newline_delimited', maximum_object_size = ?)
    )
    GROUP BY lower(key) HAVING count(*) > 1
    LIMIT 1
"""


class WriteParquetSettings(msgspec.Struct, frozen=True):
    """DuckDB's limits: the stack sets them next to the function's memory (``stacks/tasks.py::RESOURCES``)."""

    duckdb_memory_mb: int = 1024
    duckdb_threads: int = 1
    stop_margin_ms: int = 30_000
    """The time kept after an interrupted conversion for DuckDB to stop and the function to report
    (an interrupted statement stops within a second, except a JSON source's inference, above); after
    a finished one, for the Parquet file's upload, which is not timed."""


def duckdb_type(column: ColumnSummary) -> str:
    """The Parquet (DuckDB) type of a CSV column: its inferred type, or text if some values did not fit it."""
    if column.non_conforming > 0:
        return "VARCHAR"
    try:
        return DUCKDB_TYPES[ColumnType(column.type)]
    except ValueError:
        raise ParquetConversionFailed(f"column {column.name!r}: no Parquet type for {column.type!r}") from None


def csv_schema(columns: list[ColumnSummary]) -> dict[str, str]:
    """Column name to DuckDB type for a CSV source's records, lineage fields last as the transform writes them."""
    return {**{column.name: duckdb_type(column) for column in columns}, **LINEAGE_TYPES}


def _check_json_is_representable(con: duckdb.DuckDBPyConnection, jsonl: Path) -> None:
    """Fail on what DuckDB's inference would alter without an error (see the queries above)."""
    found = con.execute(_FIRST_OUT_OF_RANGE_INTEGER, [_LONG_INTEGERS, str(jsonl), MAX_RECORD_BYTES]).fetchone()
    if found is not None:
        number, line = found
        raise ParquetConversionFailed(
            f"the record of line {line} holds the integer {number}, outside the 64-bit range Parquet "
            "can store exactly; write this file as JSON Lines"
        )
    clash = con.execute(_FIRST_KEYS_DIFFERING_BY_CASE, [str(jsonl), MAX_RECORD_BYTES]).fetchone()
    if clash is not None:
        raise ParquetConversionFailed(
            f"records have keys that differ only by case ({clash[0]}), which Parquet columns from "
            "DuckDB cannot keep apart; write this file as JSON Lines"
        )


def convert(
    jsonl: Path,
    parquet: Path,
    *,
    schema: dict[str, str] | None,
    settings: WriteParquetSettings,
    spill_dir: Path,
    seconds: float | None = None,
) -> int:
    """Write the JSON Lines file ``jsonl`` as the Parquet file ``parquet``; return its row count.

    ``schema`` names each column's type; None lets DuckDB infer the types from every record. Past
    ``seconds`` (None: no limit) DuckDB is interrupted, and the records are ``ObjectTooLarge``.
    Each pass is a statement, which DuckDB can interrupt (a relation's write cannot be), but for the
    inference of the types (see the module's docstring).
    """
    config: dict[str, str | bool | int | float | list[str]] = {
        "threads": settings.duckdb_threads,
        "memory_limit": f"{settings.duckdb_memory_mb}MB",
        "temp_directory": str(spill_dir),
        # JSON, Parquet and ICU (time zones) are built in; the functions have no route to the internet.
        "autoinstall_known_extensions": False,
    }
    deadline = _Deadline(seconds)
    try:
        with duckdb.connect(config=config) as con, deadline.over(con):
            # Set once connected: as a connect option it can come before ICU, which owns the setting.
            con.execute("SET TimeZone = 'UTC'")
            if schema is None:
                _check_json_is_representable(con, jsonl)
                con.execute(_COPY_INFERRED, [str(jsonl), MAX_RECORD_BYTES, str(parquet)])
            else:
                con.execute(_COPY_TYPED, [str(jsonl), MAX_RECORD_BYTES, schema, str(parquet)])
            counted = con.execute("SELECT count(*) FROM read_parquet(?)", [str(parquet)]).fetchone()
    except duckdb.Error as exc:
        if deadline.passed.is_set():
            raise too_slow(jsonl, seconds or 0) from None
        raise ParquetConversionFailed(f"DuckDB could not write the staged records as Parquet: {exc}") from exc
    assert counted is not None  # count(*) always answers one row
    rows: int = counted[0]
    return rows


def too_slow(jsonl: Path, seconds: float) -> ObjectTooLarge:
    """The refusal of records the function's remaining time cannot convert."""
    return ObjectTooLarge(
        f"the staged records ({jsonl.stat().st_size} bytes) could not be converted to Parquet within the "
        f"function's timeout ({max(seconds, 0):.1f} s were left for it); write this file as JSON Lines"
    )


class _Deadline:
    """``seconds`` (None: no limit) for the statements of one connection. DuckDB drops an interrupt
    that comes between two statements, so once the time has passed it is interrupted again every
    ``_REPEAT_SECONDS`` until the block ends: the next statement is stopped as it starts."""

    _REPEAT_SECONDS = 0.05

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.passed = threading.Event()

    @contextmanager
    def over(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """Interrupt ``con``'s statements once the time has passed, until the block ends."""
        if self.seconds is None:
            yield
            return
        seconds = self.seconds
        ended = threading.Event()

        def interrupt() -> None:
            if ended.wait(seconds):
                return
            self.passed.set()
            while True:
                con.interrupt()
                if ended.wait(self._REPEAT_SECONDS):
                    return

        watcher = threading.Thread(target=interrupt, name="parquet-deadline", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            ended.set()
            watcher.join()


def check_room(staged_bytes: int, free_bytes: int) -> None:
    """Refuse staged records that cannot sit twice in ``free_bytes`` of ``/tmp``: the JSON Lines, then
    the Parquet file and DuckDB's spill files made from them, which are smaller."""
    if 2 * staged_bytes > free_bytes:
        raise ObjectTooLarge(
            f"the staged records ({staged_bytes} bytes) are too large to convert to Parquet in the "
            f"function's /tmp ({free_bytes} bytes free, twice their size needed); write this file as JSON Lines"
        )


def write_parquet(
    s3: Any, event: WriteParquetEvent, settings: WriteParquetSettings, *, remaining_ms: Callable[[], int]
) -> StagedOutput:
    """Stage the run's records as Parquet; the result points WriteOutput at the Parquet object.
    ``remaining_ms`` is the function's remaining time (the Lambda context's)."""
    source, staged = event.source, event.staged
    parquet_key = staged_parquet_key(event.execution_arn)
    schema = None
    if source.format is Format.CSV and staged.columns_key is not None:
        columns = get_document(s3, bucket=staged.bucket, key=staged.columns_key, kind=list[ColumnSummary])
        schema = csv_schema(columns)
    with tempfile.TemporaryDirectory(prefix="write-parquet-") as work:
        folder = Path(work)
        jsonl, parquet, spill = folder / "data.jsonl", folder / "data.parquet", folder / "spill"
        with staged_errors(f"staged records s3://{staged.bucket}/{staged.data_key}"):
            response = s3.get_object(Bucket=staged.bucket, Key=staged.data_key)
            check_room(int(response["ContentLength"]), shutil.disk_usage(folder).free)
            with jsonl.open("wb") as file:
                shutil.copyfileobj(response["Body"], file, COPY_CHUNK_BYTES)
        seconds = (remaining_ms() - settings.stop_margin_ms) / 1000
        if seconds <= 0:
            raise too_slow(jsonl, seconds)
        rows = convert(jsonl, parquet, schema=schema, settings=settings, spill_dir=spill, seconds=seconds)
        if rows != staged.records:
            raise ParquetConversionFailed(f"the Parquet file holds {rows} rows; the transform staged {staged.records}")
        jsonl.unlink()  # its space is no longer needed while the Parquet file uploads
        with (
            s3_errors(f"s3://{staged.bucket}/{parquet_key}"),
            parquet.open("rb") as file,
            S3MultipartWriter(
                s3, bucket=staged.bucket, key=parquet_key, content_type=DATA_CONTENT_TYPES[OutputFormat.PARQUET]
            ) as upload,
        ):
            for chunk in iter(lambda: file.read(COPY_CHUNK_BYTES), b""):
                upload.write(chunk)
    return msgspec.structs.replace(staged, data_key=parquet_key)
