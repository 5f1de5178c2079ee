"""Writing records and rejects as JSON Lines, and the checks made once the input is exhausted."""

from __future__ import annotations

import json

import pytest

from tasks.common.errors import EmptyObject, TooManyRejects
from tasks.transform.json_converter import BATCH_SIZE, write_records
from tasks.transform.output import RAW_LIMIT, Lineage, Record, Reject, check_counts, truncate_raw

LINEAGE = Lineage("incoming/a.json", "v1")
SOURCE = ',"_source_key":"incoming/a.json","_source_version":"v1"'


class MemoryWriter:
    """Collects what is written, like an ``S3MultipartWriter`` without S3."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    @property
    def content(self) -> bytes:
        return b"".join(self.writes)


def run(
    items: list[Record | Reject], max_reject_ratio: float = 0.5
) -> tuple[tuple[int, int], MemoryWriter, MemoryWriter]:
    data, rejects = MemoryWriter(), MemoryWriter()
    counts = write_records(items, lineage=LINEAGE, data=data, rejects=rejects)
    check_counts(*counts, max_reject_ratio=max_reject_ratio)
    return counts, data, rejects


def test_records_and_rejects_are_counted_and_written_to_their_own_output() -> None:
    # Given three records and one reject
    items: list[Record | Reject] = [
        Record(2, {"a": "1"}),
        Reject(3, "expected 1 fields, found 2", "x,y"),
        Record(4, {"a": "2"}),
        Record(5, {"a": "3"}),
    ]
    # When they are written
    counts, data, rejects = run(items)
    # Then the counts are returned and each output holds its own lines
    assert counts == (3, 1)
    assert data.content.count(b"\n") == 3
    assert rejects.content.count(b"\n") == 1


def test_records_are_written_as_compact_json_lines() -> None:
    # Given records with nested and non-ASCII values
    items: list[Record | Reject] = [
        Record(1, {"name": "Zoë", "tags": ["a", "b"], "n": 1.5}),
        Record(2, {"empty": None}),
    ]
    # When they are written
    _, data, _ = run(items)
    # Then each record is one compact JSON object per line, in order, its lineage last
    assert (
        data.content
        == (
            f'{{"name":"Zoë","tags":["a","b"],"n":1.5{SOURCE},"_line":1}}\n{{"empty":null{SOURCE},"_line":2}}\n'
        ).encode()
    )


def test_a_record_key_named_like_a_lineage_field_is_renamed_not_overwritten() -> None:
    # Given a record that has its own _line and _line_2 keys
    items: list[Record | Reject] = [Record(3, {"_line": "mine", "_line_2": "also mine", "a": 1})]
    # When it is written
    _, data, _ = run(items)
    # Then its values are kept under free names and the lineage has the real line
    assert json.loads(data.content) == {
        "_line_3": "mine",
        "_line_2": "also mine",
        "a": 1,
        "_source_key": "incoming/a.json",
        "_source_version": "v1",
        "_line": 3,
    }


def test_rejects_are_written_with_line_reason_and_raw() -> None:
    # Given a record and a reject whose raw text holds quotes and a newline
    items: list[Record | Reject] = [Record(1, {"a": 1}), Reject(7, "invalid JSON: bad", '{"a": \n')]
    # When they are written
    _, _, rejects = run(items)
    # Then the reject line has exactly the fields line, reason and raw, in that order
    assert rejects.content == b'{"line":7,"reason":"invalid JSON: bad","raw":"{\\"a\\": \\n"}\n'
    assert json.loads(rejects.content) == {"line": 7, "reason": "invalid JSON: bad", "raw": '{"a": \n'}


def test_small_writes_are_batched_into_about_one_mib() -> None:
    # Given about 3 MiB of small records
    items: list[Record | Reject] = [Record(i, {"i": i, "pad": "p" * 100}) for i in range(30_000)]
    # When they are written
    _, data, _ = run(items)
    # Then the writer gets a few large writes instead of one per record, and nothing is lost
    assert len(data.writes) == -(-len(data.content) // BATCH_SIZE)
    assert all(len(chunk) >= BATCH_SIZE for chunk in data.writes[:-1])
    assert [json.loads(line)["i"] for line in data.content.splitlines()] == list(range(30_000))


def test_nothing_is_written_to_an_output_that_received_nothing() -> None:
    # Given only records
    # When they are written
    _, _, rejects = run([Record(1, {"a": 1})])
    # Then the rejects writer was never called (it will hold an empty object)
    assert rejects.writes == []


def test_no_records_and_no_rejects_is_an_empty_object() -> None:
    # Given an input that yields nothing (a header-only CSV, an empty array)
    # When it is written
    # Then EmptyObject is raised
    with pytest.raises(EmptyObject, match="no records"):
        run([])


@pytest.mark.parametrize(
    ("records", "rejected", "max_ratio"),
    [(9, 1, 0.1), (1, 1, 0.5), (0, 3, 1.0), (10, 0, 0.0)],
    ids=["at-limit", "half-at-half", "all-rejected-allowed", "none-rejected-zero-limit"],
)
def test_reject_ratio_at_or_below_the_limit_passes(records: int, rejected: int, max_ratio: float) -> None:
    # Given a mix whose reject ratio is at most the limit
    items: list[Record | Reject] = [Record(i, {"i": i}) for i in range(records)]
    items += [Reject(i, "bad", "") for i in range(rejected)]
    # When it is written
    counts, _, _ = run(items, max_reject_ratio=max_ratio)
    # Then both counts are returned
    assert counts == (records, rejected)


@pytest.mark.parametrize(
    ("records", "rejected", "max_ratio", "ratio"),
    [(8, 2, 0.1, "0.2000"), (0, 1, 0.5, "1.0000"), (99, 1, 0.0, "0.0100")],
    ids=["above-limit", "only-rejects", "zero-tolerance"],
)
def test_reject_ratio_above_the_limit_is_too_many_rejects(
    records: int, rejected: int, max_ratio: float, ratio: str
) -> None:
    # Given a mix whose reject ratio exceeds the limit
    items: list[Record | Reject] = [Record(i, {"i": i}) for i in range(records)]
    items += [Reject(i, "bad", "") for i in range(rejected)]
    # When it is written
    # Then TooManyRejects names both counts, the ratio and the limit
    with pytest.raises(TooManyRejects) as raised:
        run(items, max_reject_ratio=max_ratio)
    message = str(raised.value)
    assert f"{rejected} rejected" in message
    assert f"{records} valid records" in message
    assert ratio in message
    assert str(max_ratio) in message


def test_outputs_are_complete_before_the_ratio_check_raises() -> None:
    # Given an input with too many rejects
    data, rejects = MemoryWriter(), MemoryWriter()
    items: list[Record | Reject] = [Record(1, {"a": 1}), Reject(2, "bad", "x")]
    # When it is written and the check fails
    with pytest.raises(TooManyRejects):
        check_counts(*write_records(items, lineage=LINEAGE, data=data, rejects=rejects), max_reject_ratio=0.1)
    # Then everything was flushed first (the S3 writers' abort is what discards it)
    assert data.content == f'{{"a":1{SOURCE},"_line":1}}\n'.encode()
    assert rejects.content == b'{"line":2,"reason":"bad","raw":"x"}\n'


@pytest.mark.parametrize("raw", ["é" * (RAW_LIMIT * 3), ("é" * (RAW_LIMIT * 3)).encode()], ids=["text", "utf-8"])
def test_a_reject_keeps_the_first_raw_limit_characters_of_its_text_or_bytes(raw: str | bytes) -> None:
    # Given a rejected record's raw text of two-byte characters, as text or as UTF-8 bytes
    # When it is truncated for the rejects object
    kept = truncate_raw(raw)
    # Then the first RAW_LIMIT characters are kept, whichever form it came in
    assert kept == "é" * RAW_LIMIT


def test_a_character_cut_by_the_byte_limit_is_dropped_not_garbled() -> None:
    # Given raw bytes cut inside their last character, as the C converter cuts them
    raw = ("x" * 10 + "€").encode()[:-1]
    # When it is truncated
    kept = truncate_raw(raw)
    # Then the cut character is left out
    assert kept == "x" * 10
