"""Deterministic benchmark inputs: the same records as CSV, JSON Lines and a JSON array.

Twelve mixed-type columns, like the data behind PERFORMANCE.md: an integer id, short strings,
2-decimal amounts, small ints, long floats, booleans, ISO timestamps and dates, a city with
commas (quoted in CSV), a note that is sometimes empty and sometimes holds a quote and a comma,
an optional int (empty in about half the rows) and a zero-padded code that must stay a string.

The requested size is the CSV's: the JSON files hold the same records, so they are larger. A
seeded generator makes the same bytes every time; files are cached under ``.bench/data/``,
keyed by size and ``GENERATOR_VERSION``.
"""

from __future__ import annotations

import json
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path

GENERATOR_VERSION = 1
"""Change it whenever the bytes generated change, so cached files are not reused."""

DATA_DIR = Path(__file__).resolve().parent.parent / ".bench" / "data"

MB = 1_000_000

SEED = 20261127

COLUMNS = (
    "id",
    "customer",
    "amount",
    "quantity",
    "ratio",
    "paid",
    "created_at",
    "ship_date",
    "city",
    "note",
    "coupon",
    "code",
)

_POOL_BITS = 12
"""Each column picks among 4,096 pre-rendered values: a row then costs no formatting, and pools
this small stay in the CPU cache (picking from 65,536 values took twice as long)."""

_POOL_MASK = (1 << _POOL_BITS) - 1

_CHUNK_ROWS = 16_384
"""Rows rendered and written at a time: a few MB per write call."""

_FIRST_NAMES = ("ada", "alan", "grace", "linus", "barbara", "ken", "margaret", "dennis", "frances", "edsger")
_LAST_NAMES = ("lovelace", "turing", "hopper", "torvalds", "liskov", "thompson", "hamilton", "ritchie", "allen")
_CITIES = (
    "Portland, OR",
    "Austin, TX",
    "Paris, France",
    "Berlin, Germany",
    "São Paulo, SP, Brazil",
    "Kyoto, Japan",
    "Cape Town, South Africa",
    "Montréal, QC, Canada",
)
_NOTES = (
    "gift wrap",
    "call before delivery, please",
    'customer said "leave it at the door", thanks',
    'box marked "fragile", handle with care',
    "second attempt",
)
_MULTILINE_NOTES = (
    *_NOTES,
    "deliver to the back door\nthe front one is blocked",
    'customer wrote:\r\n"ring twice,\r\nthen wait"',
    "line one\nline two\nline three",
)
"""Notes of the multi-line dataset: quoted values holding \n and \r\n, as exports write them."""
_START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Dataset:
    """One generated size: three files holding the same ``records`` records."""

    csv: Path
    jsonl: Path
    json: Path
    records: int


@dataclass(frozen=True)
class _Pool:
    """One column's values, each rendered with what precedes it in a row of either format."""

    csv: list[str]
    """``,value``, quoted as CSV needs."""
    json: list[str]
    """``, "column": value``."""


def ensure_dataset(size_mb: int, root: Path = DATA_DIR) -> Dataset:
    """The cached dataset of ``size_mb`` MB of CSV, generated first if it is not there yet."""
    directory = root / f"v{GENERATOR_VERSION}-{size_mb}mb"
    count_file = directory / "records.count"
    # The count is written last, so an interrupted generation is never mistaken for a finished one.
    if count_file.exists():
        return Dataset(*_files(directory), records=int(count_file.read_text()))
    directory.mkdir(parents=True, exist_ok=True)
    generated = generate(size_mb, directory)
    count_file.write_text(str(generated.records))
    return generated


def ensure_multiline_csv(size_mb: int, root: Path = DATA_DIR) -> tuple[Path, int]:
    """The cached CSV of ``size_mb`` MB whose notes hold line breaks (and its record count):
    what a split must not cut. CSV only: the split benchmark reads nothing else."""
    directory = root / f"v{GENERATOR_VERSION}-{size_mb}mb-multiline"
    csv_path, count_file = directory / "records.csv", directory / "records.count"
    if not count_file.exists():
        directory.mkdir(parents=True, exist_ok=True)
        rng = random.Random(SEED)  # noqa: S311 (seeded on purpose: the same bytes every time)
        pools = _pools(rng, note_choices=_MULTILINE_NOTES)
        target = size_mb * MB
        with csv_path.open("wb") as csv_file:
            written = csv_file.write((",".join(COLUMNS) + "\n").encode())
            records = 0
            while written < target:
                csv_lines, _ = _render_chunk(rng, pools, first_id=records + 1)
                csv_lines = csv_lines[: _rows_to_reach(csv_lines, target - written)]
                written += csv_file.write(_lines_bytes(csv_lines))
                records += len(csv_lines)
        count_file.write_text(str(records))
    return csv_path, int(count_file.read_text())


def generate(size_mb: int, directory: Path) -> Dataset:
    """Write the three files into ``directory``; the CSV stops at the first row that reaches ``size_mb`` MB."""
    rng = random.Random(SEED)  # noqa: S311 (seeded on purpose: the same bytes every time)
    pools = _pools(rng)
    target = size_mb * MB
    csv_path, jsonl_path, json_path = _files(directory)
    header = (",".join(COLUMNS) + "\n").encode()
    with (
        csv_path.open("wb") as csv_file,
        jsonl_path.open("wb") as jsonl_file,
        json_path.open("wb") as json_file,
    ):
        csv_file.write(header)
        written = len(header)
        records = 0
        while written < target:
            csv_lines, json_lines = _render_chunk(rng, pools, first_id=records + 1)
            csv_bytes = _lines_bytes(csv_lines)
            if written + len(csv_bytes) > target:
                kept = _rows_to_reach(csv_lines, target - written)
                csv_lines, json_lines = csv_lines[:kept], json_lines[:kept]
                csv_bytes = _lines_bytes(csv_lines)
            jsonl_bytes = _lines_bytes(json_lines)
            csv_file.write(csv_bytes)
            jsonl_file.write(jsonl_bytes)
            # JSON text never holds a raw line end, so the array's items are the same lines, comma-separated.
            json_file.write((b"[\n" if records == 0 else b",\n") + jsonl_bytes[:-1].replace(b"\n", b",\n"))
            written += len(csv_bytes)
            records += len(csv_lines)
        json_file.write(b"\n]\n")
    return Dataset(csv_path, jsonl_path, json_path, records)


def _files(directory: Path) -> tuple[Path, Path, Path]:
    return directory / "records.csv", directory / "records.jsonl", directory / "records.json"


def _pools(rng: random.Random, note_choices: Sequence[str] = _NOTES) -> list[_Pool]:
    """The pre-rendered values of every column after ``id``, in ``COLUMNS`` order."""
    n = range(1 << _POOL_BITS)
    customers = [f"{rng.choice(_FIRST_NAMES)}.{rng.choice(_LAST_NAMES)}" for _ in n]
    amounts = [f"{cents // 100}.{cents % 100:02d}" for cents in (rng.randrange(1, 1_000_000) for _ in n)]
    quantities = [str(rng.randint(1, 20)) for _ in n]
    ratios = [repr(rng.random() * 100) for _ in n]
    paid = ["true" if rng.random() < 0.7 else "false" for _ in n]
    created = [(_START + timedelta(seconds=rng.randrange(365 * 86_400))).strftime("%Y-%m-%dT%H:%M:%SZ") for _ in n]
    shipped = [(date(2026, 1, 1) + timedelta(days=rng.randrange(400))).isoformat() for _ in n]
    cities = [rng.choice(_CITIES) for _ in n]
    notes = ["" if rng.random() < 0.4 else rng.choice(note_choices) for _ in n]
    coupons = ["" if rng.random() < 0.5 else str(rng.randrange(100, 100_000)) for _ in n]
    codes = [f"{rng.randrange(100_000):05d}" for _ in n]
    # Numbers and booleans have the same text in both formats; an empty coupon is null in JSON.
    json_texts = [
        [json.dumps(value, ensure_ascii=False) for value in customers],
        amounts,
        quantities,
        ratios,
        paid,
        [json.dumps(value) for value in created],
        [json.dumps(value) for value in shipped],
        [json.dumps(value, ensure_ascii=False) for value in cities],
        [json.dumps(value, ensure_ascii=False) for value in notes],
        [value or "null" for value in coupons],
        [json.dumps(value) for value in codes],
    ]
    csv_texts = [customers, amounts, quantities, ratios, paid, created, shipped, cities, notes, coupons, codes]
    return [
        _Pool(
            csv=[f",{_csv_field(value)}" for value in csv_values],
            json=[f', "{column}": {value}' for value in json_values],
        )
        for column, csv_values, json_values in zip(COLUMNS[1:], csv_texts, json_texts, strict=True)
    ]


def _csv_field(value: str) -> str:
    if any(special in value for special in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _render_chunk(rng: random.Random, pools: Sequence[_Pool], *, first_id: int) -> tuple[list[str], list[str]]:
    """``_CHUNK_ROWS`` records as CSV lines and JSON objects, without line ends."""
    # One random 16-bit number per row and column, masked to a pool index; the same picks make
    # both formats, so they hold the same records.
    picks = [[index & _POOL_MASK for index in array("H", rng.randbytes(2 * _CHUNK_ROWS))] for _ in pools]
    ids = range(first_id, first_id + _CHUNK_ROWS)
    csv_columns = [[pool.csv[index] for index in pick] for pool, pick in zip(pools, picks, strict=True)]
    json_columns = [[pool.json[index] for index in pick] for pool, pick in zip(pools, picks, strict=True)]
    csv_lines = list(map("".join, zip(map(str, ids), *csv_columns, strict=True)))
    json_lines = [line + "}" for line in map("".join, zip(map('{{"id": {}'.format, ids), *json_columns, strict=True))]
    return csv_lines, json_lines


def _lines_bytes(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _rows_to_reach(lines: list[str], remaining: int) -> int:
    """How many of ``lines`` (with their line ends) it takes to write at least ``remaining`` bytes."""
    for rows, size in enumerate(accumulate(len(line.encode()) + 1 for line in lines), start=1):
        if size >= remaining:
            return rows
    return len(lines)
