"""Benchmark of the transform step against DuckDB, and of the handlers' import times.

``python -m benchmarks.transform [--sizes 100,1000] [--cores 1,2] [--repeat N] [--quick]``

For each dataset size and core count, every path converts the same generated records to JSON
Lines in a fresh process pinned with ``taskset`` (``benchmarks.child``): ours through
``transform_file`` (exactly what the Lambda runs, minus S3) from CSV, JSON Lines and a JSON array,
and DuckDB's ``COPY ... TO ... (FORMAT json)`` from CSV and JSON Lines as yardsticks. The runs of
one repetition follow each other, so a noisy neighbour slows every engine alike; each figure is
the median of the repetitions. Then the import time of every handler module.

Prints a table and the targets with PASS/FAIL. The exit status is 0 whether targets pass or
not (this is a report); 1 when a path crashed or its record counts are wrong.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from benchmarks import imports
from benchmarks.child import OURS, ChildResult
from benchmarks.data import MB, Dataset, ensure_dataset
from benchmarks.pinning import pinned

REPO_ROOT = Path(__file__).resolve().parent.parent

YARDSTICK = {"csv": "duckdb-csv", "jsonl": "duckdb-jsonl"}
"""The DuckDB path each of our paths is compared with: the one reading the same file."""

LABELS = {
    **{path: f"ours {label}" for path, label in OURS.items()},
    "duckdb-csv": "DuckDB CSV→JSONL",
    "duckdb-jsonl": "DuckDB JSONL→JSONL",
}

PATHS = ("csv", "duckdb-csv", "jsonl", "duckdb-jsonl", "json")
"""Run order within one repetition: each of ours next to its yardstick."""

MIN_RATIO_TO_DUCKDB = 0.8
RSS_GROWTH_LIMIT = 1.25
RSS_LIMIT_MB = 300.0
CSV_1GB_SIZE = 1000
CSV_1GB_LIMIT_SECONDS = 60.0

QUICK_SIZE = 20


@dataclass(frozen=True)
class Row:
    """The medians of one path on one dataset and core count."""

    path: str
    size_mb: int
    cores: int
    input_bytes: int
    seconds: float
    peak_rss_kb: int
    import_seconds: float

    @property
    def mb_per_s(self) -> float:
        return self.input_bytes / MB / self.seconds


@dataclass(frozen=True)
class Target:
    name: str
    passed: bool
    figure: str


class ChildFailed(Exception):
    """A timed child process exited with an error: the benchmark cannot report that path."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    sizes: list[int] = [QUICK_SIZE] if args.quick else args.sizes
    cores: list[int] = [1] if args.quick else args.cores
    available = len(os.sched_getaffinity(0))
    if max(cores) > available:
        raise SystemExit(f"--cores {max(cores)}: this process may only use {available} core(s)")

    rows: list[Row] = []
    failures: list[str] = []
    records: dict[int, int] = {}
    for size in sizes:
        print(f"dataset {size} MB: generating or reusing .bench/data ...", flush=True)
        dataset = ensure_dataset(size)
        records[size] = dataset.records
        repeat = args.repeat or (1 if args.quick or size >= CSV_1GB_SIZE else 3)
        for core_count in cores:
            print(f"  {core_count} core(s), {repeat} repetition(s) ...", flush=True)
            new_rows, errors = _measure(dataset, size, core_count, repeat)
            rows += new_rows
            failures += errors
    print(flush=True)
    print("measuring handler import times ...", flush=True)
    import_times = [imports.measure(module) for module in imports.HANDLER_MODULES]

    print()
    _print_table(rows)
    print()
    _print_targets(_targets(rows, sizes, cores))
    print()
    _print_imports(import_times)
    print()
    if failures:
        print("FAILED (crashed or wrong counts):")
        for error in failures:
            print(f"  {error}")
        return 1
    counts = ", ".join(f"{count:,} at {size} MB" for size, count in records.items())
    print(f"count checks: PASS (every path: records = output lines = DuckDB's rows = {counts}; none rejected)")
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.transform", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=_int_list, default=[100, 1000], help="dataset sizes in MB of CSV (default 100,1000)"
    )
    parser.add_argument("--cores", type=_int_list, default=[1, 2], help="core counts to pin to (default 1,2)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per path (default 3 below 1000 MB, else 1)")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_SIZE} MB, 1 core, 1 repetition")
    return parser.parse_args(argv)


def _int_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",")]
    if any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _measure(dataset: Dataset, size: int, cores: int, repeat: int) -> tuple[list[Row], list[str]]:
    results: dict[str, list[ChildResult]] = {path: [] for path in PATHS}
    errors: list[str] = []
    where = f"{size} MB, {cores} core(s)"
    for _ in range(repeat):
        for path in PATHS:
            try:
                result = run_child(path, source_of(dataset, path), cores)
            except ChildFailed as exc:
                # One broken path must not cost the figures of the others: it is reported at the end.
                errors.append(f"{LABELS[path]}, {where}: crashed: {exc}")
                continue
            errors += _count_errors(path, result, dataset.records, where)
            results[path].append(result)
    rows = [
        Row(
            path=path,
            size_mb=size,
            cores=cores,
            input_bytes=source_of(dataset, path).stat().st_size,
            seconds=statistics.median(result.seconds for result in runs),
            peak_rss_kb=round(statistics.median(result.peak_rss_kb for result in runs)),
            import_seconds=statistics.median(result.import_seconds for result in runs),
        )
        for path, runs in results.items()
        if runs
    ]
    return rows, errors


def source_of(dataset: Dataset, path: str) -> Path:
    """The file a path reads: DuckDB's yardsticks read the same files as ours."""
    fmt = path.removeprefix("duckdb-")
    return {"csv": dataset.csv, "jsonl": dataset.jsonl, "json": dataset.json}[fmt]


def run_child(path: str, source: Path, cores: int) -> ChildResult:
    """Run one conversion in a fresh process pinned to the first ``cores`` cores."""
    completed = subprocess.run(
        pinned(cores, [sys.executable, "-m", "benchmarks.child", path, str(source), str(cores)]),
        capture_output=True,
        cwd=REPO_ROOT,
        check=False,
    )
    if completed.returncode != 0:
        stderr = completed.stderr.decode(errors="replace").strip()
        raise ChildFailed(stderr.splitlines()[-1] if stderr else f"exit status {completed.returncode}")
    return msgspec.json.decode(completed.stdout.splitlines()[-1], type=ChildResult)


def _count_errors(path: str, result: ChildResult, expected: int, where: str) -> list[str]:
    errors = []
    if result.records != expected:
        errors.append(f"{LABELS[path]}, {where}: {result.records:,} records, the dataset holds {expected:,}")
    if result.output_lines != result.records:
        errors.append(f"{LABELS[path]}, {where}: {result.output_lines:,} output lines for {result.records:,} records")
    if result.rejected:
        errors.append(f"{LABELS[path]}, {where}: {result.rejected:,} records rejected")
    return errors


def _ratio(row: Row, rows: Sequence[Row]) -> float | None:
    """``row``'s speed over its DuckDB yardstick's on the same dataset and cores; None without one."""
    yardstick = YARDSTICK.get(row.path)
    for other in rows:
        if other.path == yardstick and other.size_mb == row.size_mb and other.cores == row.cores:
            return row.mb_per_s / other.mb_per_s
    return None


def _find(rows: Sequence[Row], path: str, size: int, cores: int) -> Row | None:
    for row in rows:
        if (row.path, row.size_mb, row.cores) == (path, size, cores):
            return row
    return None


def _print_table(rows: Sequence[Row]) -> None:
    header = ("dataset", "path", "input MB", "cores", "MB/s", "x DuckDB", "peak RSS MB", "seconds", "import ms")
    lines = [
        (
            f"{row.size_mb} MB",
            LABELS[row.path],
            f"{row.input_bytes / MB:,.1f}",
            str(row.cores),
            f"{row.mb_per_s:,.1f}",
            "-" if (ratio := _ratio(row, rows)) is None else f"{ratio:.2f}",
            f"{row.peak_rss_kb / 1024:,.0f}",
            f"{row.seconds:,.2f}",
            f"{row.import_seconds * 1000:,.0f}",
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in [header, *lines]) for column in range(len(header))]
    for line in [header, *lines]:
        # Text columns left-aligned, figures right-aligned.
        cells = [
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def _targets(rows: Sequence[Row], sizes: Sequence[int], cores: Sequence[int]) -> list[Target]:
    return [*_speed_targets(rows, sizes, cores), *_memory_targets(rows, sizes, cores), *_csv_time_target(rows)]


def _speed_targets(rows: Sequence[Row], sizes: Sequence[int], cores: Sequence[int]) -> list[Target]:
    """Ours against DuckDB from the same file, on 1 core (a 1-vCPU Lambda)."""
    targets = []
    for size in sizes:
        for path in YARDSTICK:
            row = _find(rows, path, size, 1)
            ratio = None if row is None or 1 not in cores else _ratio(row, rows)
            if ratio is not None:
                targets.append(
                    Target(
                        f"{LABELS[path]} ≥ {MIN_RATIO_TO_DUCKDB}x DuckDB, 1 core, {size} MB",
                        ratio >= MIN_RATIO_TO_DUCKDB,
                        f"{ratio:.2f}x",
                    )
                )
    return targets


def _memory_targets(rows: Sequence[Row], sizes: Sequence[int], cores: Sequence[int]) -> list[Target]:
    """Each of our paths at the largest size: bounded, and barely more than at the smallest."""
    targets = []
    smallest, largest = min(sizes), max(sizes)
    for core_count in cores:
        for path in OURS:
            small, large = _find(rows, path, smallest, core_count), _find(rows, path, largest, core_count)
            if small is None or large is None:
                continue
            large_mb, small_mb = large.peak_rss_kb / 1024, small.peak_rss_kb / 1024
            if largest == smallest:
                targets.append(
                    Target(
                        f"peak RSS of {LABELS[path]} < {RSS_LIMIT_MB:.0f} MB, {core_count} core(s), {largest} MB",
                        large_mb < RSS_LIMIT_MB,
                        f"{large_mb:.0f} MB",
                    )
                )
            else:
                growth = large_mb / small_mb
                targets.append(
                    Target(
                        f"peak RSS of {LABELS[path]} at {largest} MB ≤ {RSS_GROWTH_LIMIT}x at {smallest} MB"
                        f" and < {RSS_LIMIT_MB:.0f} MB, {core_count} core(s)",
                        growth <= RSS_GROWTH_LIMIT and large_mb < RSS_LIMIT_MB,
                        f"{large_mb:.0f} MB = {growth:.2f}x {small_mb:.0f} MB",
                    )
                )
    return targets


def _csv_time_target(rows: Sequence[Row]) -> list[Target]:
    """The 1 GB CSV on 1 core, measured only when the 1000 MB dataset was run."""
    row = _find(rows, "csv", CSV_1GB_SIZE, 1)
    if row is None:
        return []
    return [
        Target(
            f"{LABELS['csv']} of {CSV_1GB_SIZE} MB in < {CSV_1GB_LIMIT_SECONDS:.0f} s, 1 core",
            row.seconds < CSV_1GB_LIMIT_SECONDS,
            f"{row.seconds:.1f} s",
        )
    ]


def _print_targets(targets: Sequence[Target]) -> None:
    print("targets")
    if not targets:
        print("  none measurable with these sizes and cores")
        return
    width = max(len(target.name) for target in targets)
    for target in targets:
        print(f"  {'PASS' if target.passed else 'FAIL'}  {target.name.ljust(width)}  {target.figure}")


def _print_imports(import_times: Sequence[imports.ImportTime]) -> None:
    print(
        f"handler import times (python -X importtime, 1 core, median of {imports.RUNS};"
        f" target < {imports.TARGET_MS:.0f} ms)"
    )
    width = max(len(result.module) for result in import_times)
    for result in import_times:
        milliseconds = result.cumulative_us / 1000
        verdict = "PASS" if milliseconds < imports.TARGET_MS else "FAIL"
        top = ", ".join(f"{package} {self_us / 1000:.0f}" for package, self_us in result.contributors)
        print(f"  {verdict}  {result.module.ljust(width)}  {milliseconds:6.0f} ms   most (self ms): {top}")


if __name__ == "__main__":
    sys.exit(main())
