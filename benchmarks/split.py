"""Benchmark of a split CSV against one pass: the same bytes out, and the time on N cores.

``python -m benchmarks.split [--size MB] [--ranges N] [--workers N]``

On a generated CSV whose quoted notes hold line breaks (``benchmarks.data.ensure_multiline_csv``):

1. one pass: ``transform_file``, what the single-pass Lambda runs minus S3;
2. split: the split steps' logic in their order, every range and part in a pool of ``--workers``
   processes (as the Distributed Map's children): plan (the types and the header's end from the
   file's first bytes), scan every range, cut (the reduce), transform every part, merge (the
   counts checked once, the parts' files joined in order).

Then it checks that the merged data and rejects are byte-identical to one pass's and prints the
times and the scan's speed per core. Each process streams its range from the file and the
outputs go to disk: nothing holds the file in memory, so 2 GB runs as 200 MB does. Exit status
1 when the outputs differ.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import BinaryIO, TypeVar

from benchmarks.data import DATA_DIR, MB, ensure_multiline_csv
from benchmarks.local_file import LOCAL_VERSION, transform_file
from tasks.commit_ranges.logic import merge_results
from tasks.common.datasets import DatasetSettings
from tasks.common.models import Compression, Format
from tasks.common.sample import SAMPLE_BYTES, sample_of
from tasks.fetch.logic import profile_of
from tasks.split.cuts import cut_parts
from tasks.split.models import CsvSchema, PartItem, PartResult, RangeSummary, ScanItem, SplitSource
from tasks.split.plan import content_start, null_markers_of, plan_csv, scan_items
from tasks.split.scan import scan_range
from tasks.transform.csv_converter import CHUNK_BYTES
from tasks.transform.logic import TransformSettings
from tasks.transform_range.logic import transform_part

COPY_BYTES = 8 * 1024 * 1024
SETTINGS = TransformSettings()
SCAN_TARGET_MB_S = 500.0

T = TypeVar("T")
R = TypeVar("R")


class FileRange:
    """``length`` bytes of an open file from ``start``: what an S3 ranged GET's body gives."""

    def __init__(self, file: BinaryIO, start: int, length: int) -> None:
        file.seek(start)
        self._file = file
        self._left = length

    def read(self, size: int, /) -> bytes:
        data = self._file.read(min(size, self._left))
        self._left -= len(data)
        return data


@dataclass(frozen=True)
class Scanned:
    summary: RangeSummary
    seconds: float
    cpu_seconds: float
    """The worker's CPU time: what the scan costs on a core of its own, on a shared machine too."""


def scan_one(path: Path, size: int, delimiter: str | None, item: ScanItem) -> Scanned:
    """ScanRange: the range and the byte after it."""
    with path.open("rb") as file:
        source = FileRange(file, item.start, item.end - item.start + (item.end < size))
        started, cpu = time.perf_counter(), time.process_time()
        summary = scan_range(source, delimiter=delimiter, index=item.index, start=item.start, end=item.end)
        return Scanned(summary, time.perf_counter() - started, time.process_time() - cpu)


@dataclass(frozen=True)
class Transformed:
    result: PartResult
    cpu_seconds: float


def transform_one(
    path: Path, split: SplitSource, schema: CsvSchema | None, directory: Path, part: PartItem
) -> Transformed:
    """TransformRange: the part's bytes into a data and a rejects file of its own."""
    data_path, rejects_path = part_files(directory, part.index)
    cpu = time.process_time()
    with path.open("rb") as file, data_path.open("wb") as data, rejects_path.open("wb") as rejects:
        counts = transform_part(
            FileRange(file, part.start, part.end - part.start),
            split=split,
            part=part,
            schema=schema,
            data=data,
            rejects=rejects,
            settings=SETTINGS,
            dataset=DatasetSettings(),
        )
        result = PartResult(
            index=part.index,
            records=counts.records,
            rejected=counts.rejected,
            non_conforming=counts.non_conforming,
            data_bytes=data.tell(),
            rejects_bytes=rejects.tell(),
        )
    return Transformed(result, time.process_time() - cpu)


def part_files(directory: Path, index: int) -> tuple[Path, Path]:
    return directory / f"part-{index:06d}.data.jsonl", directory / f"part-{index:06d}.rejects.jsonl"


@dataclass(frozen=True)
class SplitRun:
    ranges: int
    parts: int
    records: int
    rejected: int
    scanned: list[Scanned]
    transformed: list[Transformed]
    phases: dict[str, float]
    main_cpu_seconds: float
    """The plan, the cut and the merge, in this process."""


def run_split(path: Path, directory: Path, *, range_bytes: int, pool: Executor) -> SplitRun:
    """The split's steps on ``path``; the merged output in ``directory``/data.jsonl, rejects.jsonl."""
    phases: dict[str, float] = {}
    clock, cpu = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = now - clock
        clock = now

    size = path.stat().st_size
    with path.open("rb") as file:  # Fetch's sample, then PlanRanges' first bytes
        sample = sample_of(file.read(SAMPLE_BYTES), whole=size <= SAMPLE_BYTES, compression=Compression.NONE)
        profile = profile_of(sample, Format.CSV, version_id=LOCAL_VERSION, etag="")
        assert profile.csv is not None
        start = content_start(profile.encoding)
        file.seek(0)
        schema, header_end = plan_csv(
            FileRange(file, 0, CHUNK_BYTES),
            encoding=profile.encoding,
            dialect=profile.csv,
            null_values=null_markers_of(SETTINGS, DatasetSettings()),
            start=start,
            size=size,
        )
    split = SplitSource(
        bucket="local",
        key=str(path),
        version_id=LOCAL_VERSION,
        size=size,
        format=Format.CSV,
        content_start=start,
        header_end=header_end,
        delimiter=profile.csv.delimiter,
        source_key=str(path),
        source_version_id=LOCAL_VERSION,
    )
    items = scan_items(start, size, range_bytes)
    lap("plan")
    scanned = ordered(pool, partial(scan_one, path, size, split.delimiter), items)
    lap("scan")
    parts = cut_parts([done.summary for done in scanned], start=start, size=size, header_end=header_end)
    lap("cut")
    transformed = ordered(pool, partial(transform_one, path, split, schema, directory), parts)
    lap("transform")
    results = [done.result for done in transformed]
    records, rejected, _ = merge_results(results, schema, max_reject_ratio=SETTINGS.max_reject_ratio)
    for name, which in (("data.jsonl", 0), ("rejects.jsonl", 1)):
        with (directory / name).open("wb") as merged:
            for part in parts:
                piece = part_files(directory, part.index)[which]
                with piece.open("rb") as source:
                    append(source, merged)
                piece.unlink()
    lap("merge")
    return SplitRun(len(items), len(parts), records, rejected, scanned, transformed, phases, time.process_time() - cpu)


def append(source: BinaryIO, target: BinaryIO) -> None:
    """Copy ``source`` to the end of ``target`` in the kernel, as S3 joins the parts without the
    function reading them (``UploadPartCopy``); byte by byte where the kernel cannot."""
    try:
        while os.copy_file_range(source.fileno(), target.fileno(), COPY_BYTES):
            pass
    except OSError:
        shutil.copyfileobj(source, target, COPY_BYTES)


def ordered(pool: Executor, function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    return list(pool.map(function, items))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    print(f"dataset: {args.size} MB of CSV with quoted line breaks (generated once into .bench/data) ...", flush=True)
    path, records = ensure_multiline_csv(args.size)
    size = path.stat().st_size
    range_bytes = -(-size // args.ranges)
    workdir = DATA_DIR.parent / "split"
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir) as temporary:
        single, split = Path(temporary, "single"), Path(temporary, "split")
        single.mkdir()
        split.mkdir()
        print("one pass ...", flush=True)
        started, cpu = time.perf_counter(), time.process_time()
        one = transform_file(path, single / "data.jsonl", single / "rejects.jsonl", settings=SETTINGS)
        single_seconds, single_cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"split into {args.ranges} ranges on {args.workers} worker processes ...", flush=True)
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("fork")) as pool:
            run = run_split(path, split, range_bytes=range_bytes, pool=pool)
        split_seconds = time.perf_counter() - started
        identical = all(
            filecmp.cmp(single / name, split / name, shallow=False) for name in ("data.jsonl", "rejects.jsonl")
        )
        counts_equal = (run.records, run.rejected) == (one.records, one.rejected) == (records, 0)
        data_bytes = (split / "data.jsonl").stat().st_size
    _report(args, size, (single_seconds, single_cpu), split_seconds, run)
    print(
        f"  transform/core {size / MB / sum(done.cpu_seconds for done in run.transformed):8.1f} MB/s   (the parts'"
        f" CSV bytes over their CPU seconds, reading included; the cost model's per-range input)"
    )
    print(f"  JSON Lines out {data_bytes / MB:8,.0f} MB   {data_bytes / size:.3f} bytes per CSV byte")
    print(
        f"  outputs        {'byte-identical' if identical else 'DIFFERENT'} (data.jsonl, rejects.jsonl);"
        f" records {run.records:,} of {records:,}, rejected {run.rejected}"
    )
    return 0 if identical and counts_equal else 1


def _report(args: argparse.Namespace, size: int, single: tuple[float, float], split: float, run: SplitRun) -> None:
    single_seconds, single_cpu = single
    wall_rate = size / MB / sum(done.seconds for done in run.scanned)
    scan_cpu = sum(done.cpu_seconds for done in run.scanned)
    transform_cpu = sum(done.cpu_seconds for done in run.transformed)
    split_cpu = scan_cpu + transform_cpu + run.main_cpu_seconds
    cpu_rate = size / MB / scan_cpu
    print()
    print(
        f"{size / MB:,.0f} MB CSV, {run.ranges} ranges ({-(-size // args.ranges) / MB:,.1f} MB each), "
        f"{run.parts} parts, {args.workers} worker processes, load average {os.getloadavg()[0]:.1f}"
        f" on {os.cpu_count()} CPUs"
    )
    print(f"  one pass       {single_seconds:8.2f} s   {size / MB / single_seconds:7.1f} MB/s   CPU {single_cpu:.2f} s")
    print(
        f"  split          {split:8.2f} s   {size / MB / split:7.1f} MB/s   CPU {split_cpu:.2f} s"
        f" ({split_cpu / single_cpu:.2f}x one pass's)   speed-up {single_seconds / split:.2f}x"
    )
    for name, seconds in run.phases.items():
        print(f"    {name:<12} {seconds:8.2f} s")
    print(
        f"  CPU seconds    scan {scan_cpu:.2f}, transform {transform_cpu:.2f} (one pass {single_cpu:.2f}),"
        f" plan + cut + merge {run.main_cpu_seconds:.2f}"
    )
    # A machine shared by other sessions gives this one session a share, however many processes
    # it runs (Linux autogroups): the speed-up on free cores, from the CPU seconds of each step.
    free = run.main_cpu_seconds + (scan_cpu + transform_cpu) / args.workers
    print(
        f"  on {args.workers} free cores  {free:.2f} s   {single_cpu / free:.2f}x one pass (computed: plan, cut and"
        f" merge in turn, the ranges' CPU seconds spread over the workers)"
    )
    verdict = "PASS" if cpu_rate >= SCAN_TARGET_MB_S else "FAIL"
    print(
        f"  scan per core  {cpu_rate:8.0f} MB/s   {verdict} (target >= {SCAN_TARGET_MB_S:.0f} MB/s; the ranges' bytes"
        f" over the workers' CPU seconds, reading included; over their wall seconds: {wall_rate:.0f} MB/s)"
    )
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    this = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS       {this:8.0f} MB this process (one pass included), {children:.0f} MB the largest worker")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.split", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=_positive, default=200, help="MB of CSV (default 200)")
    parser.add_argument("--ranges", type=_positive, default=16, help="ranges to split into (default 16)")
    parser.add_argument("--workers", type=_positive, default=2, help="worker processes (default 2)")
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


if __name__ == "__main__":
    sys.exit(main())
