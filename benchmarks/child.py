"""One timed conversion, run by the harness in a fresh process pinned to the cores under test.

``python -m benchmarks.child PATH SOURCE THREADS`` converts SOURCE to JSON Lines in a temporary
directory (deleted after) and prints one JSON ``ChildResult``. The engine is imported inside the
process and timed apart from the conversion, so interpreter start and imports never count as
transform time, and each run starts with cold caches of its own.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import msgspec

OURS = {"csv": "CSV→JSONL", "jsonl": "JSONL→JSONL", "json": "JSON array→JSONL"}
"""Our paths through ``transform_file``, by the name of the input format."""

DUCKDB = {"duckdb-csv": "read_csv", "duckdb-jsonl": "read_json"}
"""The yardsticks, by the DuckDB table function that reads their input."""

_COUNT_CHUNK = 8 * 1024 * 1024


class ChildResult(msgspec.Struct, frozen=True):
    records: int
    rejected: int
    output_lines: int
    seconds: float
    """The conversion only."""
    import_seconds: float
    peak_rss_kb: int
    """ru_maxrss of this process: every thread of it (DuckDB's too), imports included."""


def run(path: str, source: Path, threads: int) -> ChildResult:
    """Convert ``source`` along ``path`` into a temporary directory and measure it."""
    with tempfile.TemporaryDirectory(prefix="bench-") as directory:
        output = Path(directory) / "data.jsonl"
        if path in OURS:
            records, rejected, seconds, import_seconds = _ours(source, output, Path(directory) / "rejects.jsonl")
        else:
            records, seconds, import_seconds = _duckdb(DUCKDB[path], source, output, threads)
            rejected = 0
        output_lines = _count_lines(output)
    peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return ChildResult(records, rejected, output_lines, seconds, import_seconds, peak_rss_kb)


def _ours(source: Path, data: Path, rejects: Path) -> tuple[int, int, float, float]:
    started = time.perf_counter()
    # Imported here, not at the top, so that its cost is measured apart from the conversion.
    from benchmarks.local_file import transform_file  # noqa: PLC0415

    imported = time.perf_counter()
    result = transform_file(source, data, rejects)
    return result.records, result.rejected, time.perf_counter() - imported, imported - started


def _duckdb(reader: str, source: Path, output: Path, threads: int) -> tuple[int, float, float]:
    started = time.perf_counter()
    import duckdb  # noqa: PLC0415 (timed apart from the conversion, as ours is)

    imported = time.perf_counter()
    connection = duckdb.connect()
    # DuckDB would otherwise start one thread per core of the machine, not of the taskset.
    connection.execute(f"SET threads={threads}")
    converting = time.perf_counter()
    # The reader comes from DUCKDB and the paths are quoted: nothing else reaches the statement.
    copied = connection.execute(
        f"COPY (SELECT * FROM {reader}({_sql_text(source)})) TO {_sql_text(output)} (FORMAT json)"  # noqa: S608
    ).fetchone()
    seconds = time.perf_counter() - converting
    if copied is None:
        raise RuntimeError("DuckDB's COPY returned no row count")
    return int(copied[0]), seconds, imported - started


def _sql_text(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_COUNT_CHUNK):
            lines += chunk.count(b"\n")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.child", description=__doc__)
    parser.add_argument("path", choices=[*OURS, *DUCKDB])
    parser.add_argument("source", type=Path)
    parser.add_argument("threads", type=int, help="DuckDB's threads: the cores the process is pinned to")
    args = parser.parse_args(argv)
    result = run(args.path, args.source, args.threads)
    sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")


if __name__ == "__main__":
    main()
