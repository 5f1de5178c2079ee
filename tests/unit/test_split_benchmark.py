"""The split benchmark's dataset and harness on a small file (no timing is asserted)."""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.data import ensure_multiline_csv
from benchmarks.local_file import transform_file
from benchmarks.split import run_split


def test_the_multiline_dataset_holds_quoted_line_breaks_and_counts_its_records(tmp_path: Path) -> None:
    path, records = ensure_multiline_csv(1, root=tmp_path)
    text = path.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) - 1 == records
    assert text.count("\n") > records + 1000  # line breaks inside quoted notes
    assert ensure_multiline_csv(1, root=tmp_path) == (path, records)


def test_the_split_harness_merges_what_one_pass_writes(tmp_path: Path) -> None:
    path, records = ensure_multiline_csv(1, root=tmp_path / "data")
    single, split = tmp_path / "single", tmp_path / "split"
    single.mkdir()
    split.mkdir()
    one = transform_file(path, single / "data.jsonl", single / "rejects.jsonl")
    with ThreadPoolExecutor(max_workers=2) as pool:
        run = run_split(path, split, range_bytes=50_000, pool=pool)
    assert (run.records, run.rejected) == (one.records, one.rejected) == (records, 0)
    assert run.ranges == -(-path.stat().st_size // 50_000)
    assert (split / "data.jsonl").read_bytes() == (single / "data.jsonl").read_bytes()
    assert not list(split.glob("part-*"))
