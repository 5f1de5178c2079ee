"""The local engine's speed, as a user meets it: the figures of issue 13, item 5.

``python -m benchmarks.engine [warm|serve|large|all] [--runs N] [--files N] [--size-mb N]``

- ``warm``: ``pipeline run samples/orders.csv``, wall time of the whole command, after one run
  that warms the caches (the synth, the parsed definition, the service models); median of
  ``--runs`` (target: at most 2 s).
- ``serve``: ``pipeline serve`` with ``--files`` files (200) uploaded at once by 16 clients; runs
  per second from the first upload to the end of the last run (target: at least 10 on 2 cores).
  This is ``tests/e2e/test_load.py``'s measurement, run as its own command.
- ``large``: ``pipeline run`` of a generated CSV of ``--size-mb`` MB (200): wall time and the
  engine process's peak resident memory (``VmHWM``, sampled; the sandboxes are other processes,
  their peak is reported apart) (targets: at most 15 s, under 1 GiB).

Every figure is printed with its target and whether it was met. Each command runs as a
subprocess of this one, from this checkout's virtual environment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.data import ensure_dataset

REPO_ROOT = Path(__file__).resolve().parent.parent
PIPELINE = Path(sys.executable).parent / "pipeline"
SAMPLE = REPO_ROOT / "samples" / "orders.csv"

WARM_TARGET_SECONDS = 2.0
SERVE_TARGET_RUNS_PER_SECOND = 10.0
LARGE_TARGET_SECONDS = 15.0
LARGE_TARGET_RSS_BYTES = 1024**3

_SAMPLE_SECONDS = 0.02
_LOAD = re.compile(r"all runs ended in ([\d.]+) s \(([\d.]+) executions/s\); statuses (\{.*?\})")


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    target: str
    met: bool
    detail: str = ""

    def line(self) -> str:
        verdict = "met" if self.met else "NOT met"
        detail = f"  ({self.detail})" if self.detail else ""
        return f"{self.name:<44} {self.value:>10.2f} {self.unit:<8} target {self.target:<12} {verdict}{detail}"


@dataclass(frozen=True)
class Timed:
    seconds: float
    peak_rss_bytes: int
    children_peak_rss_bytes: int
    returncode: int
    output: str


def timed_command(command: Sequence[str], timeout: float) -> Timed:
    """Run ``command``; its wall time, its own peak RSS (VmHWM, sampled) and its descendants'."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    children_peaks: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _hwm(process.pid))
            for pid in descendants(process.pid):
                children_peaks[pid] = max(children_peaks.get(pid, 0), _hwm(pid))
            done.wait(_SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        done.set()
        sampler.join()
    return Timed(
        seconds=time.monotonic() - started,
        peak_rss_bytes=peak,
        children_peak_rss_bytes=max(children_peaks.values(), default=0),
        returncode=process.returncode,
        output=output,
    )


def _hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return 0
    return 0


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux: /proc's children lists), the sandboxes included."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            pending.append(child)
    return found


def warm(runs: int) -> list[Figure]:
    command = [str(PIPELINE), "run", str(SAMPLE)]
    first = timed_command(command, timeout=600)
    if first.returncode != 0:
        raise SystemExit(f"pipeline run failed:\n{first.output}")
    times = [timed_command(command, timeout=300).seconds for _ in range(runs)]
    median = statistics.median(times)
    detail = f"{runs} runs after a warm-up: min {min(times):.2f} s, max {max(times):.2f} s; first {first.seconds:.2f} s"
    return [
        Figure(
            "warm `pipeline run samples/orders.csv`",
            median,
            "s",
            f"<= {WARM_TARGET_SECONDS:g} s",
            median <= WARM_TARGET_SECONDS,
            detail,
        )
    ]


def serve(files: int) -> list[Figure]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.e2e.test_load", str(files)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    match = _LOAD.search(result.stdout)
    if match is None:
        raise SystemExit(f"the load run printed no figure:\n{result.stdout}\n{result.stderr}")
    seconds, rate, statuses = float(match.group(1)), float(match.group(2)), match.group(3)
    return [
        Figure(
            f"`pipeline serve`, {files} files uploaded at once",
            rate,
            "runs/s",
            f">= {SERVE_TARGET_RUNS_PER_SECOND:g} runs/s",
            rate >= SERVE_TARGET_RUNS_PER_SECOND and result.returncode == 0,
            f"{os.cpu_count()} cores; all ended in {seconds:.1f} s; statuses {statuses}",
        )
    ]


def large(size_mb: int) -> list[Figure]:
    dataset = ensure_dataset(size_mb)
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as scratch:
        source = Path(scratch) / f"large-{size_mb}mb.csv"
        os.symlink(dataset.csv, source)
        timed = timed_command([str(PIPELINE), "run", str(source), "--json"], timeout=3600)
    if timed.returncode != 0:
        raise SystemExit(f"pipeline run of {source.name} failed:\n{timed.output[-4000:]}")
    report = json.loads(timed.output[timed.output.index("{") :])
    records = report["output"]["records"]
    if records != dataset.records:
        raise SystemExit(f"{records} records written, {dataset.records} expected")
    gib = 1024**3
    return [
        Figure(
            f"`pipeline run` of a {size_mb} MB CSV: wall time",
            timed.seconds,
            "s",
            f"<= {LARGE_TARGET_SECONDS:g} s",
            timed.seconds <= LARGE_TARGET_SECONDS,
            f"{records:,} records; states: "
            + ", ".join(f"{state['name']} {state['durationMs'] / 1000:.1f} s" for state in report["states"]),
        ),
        Figure(
            f"`pipeline run` of a {size_mb} MB CSV: engine peak RSS",
            timed.peak_rss_bytes / gib,
            "GiB",
            "< 1 GiB",
            timed.peak_rss_bytes < LARGE_TARGET_RSS_BYTES,
            f"largest sandbox or helper process: {timed.children_peak_rss_bytes / gib:.2f} GiB",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__.split("\n\n")[0])
    parser.add_argument("which", nargs="?", choices=["warm", "serve", "large", "all"], default="all")
    parser.add_argument("--runs", type=int, default=5, help="warm runs measured (default 5)")
    parser.add_argument("--files", type=int, default=200, help="files uploaded to serve (default 200)")
    parser.add_argument("--size-mb", type=int, default=200, help="size of the large CSV (default 200)")
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    if args.which in ("warm", "all"):
        figures += warm(args.runs)
    if args.which in ("serve", "all"):
        figures += serve(args.files)
    if args.which in ("large", "all"):
        figures += large(args.size_mb)
    for figure in figures:
        print(figure.line(), flush=True)
    return 0 if all(figure.met for figure in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
