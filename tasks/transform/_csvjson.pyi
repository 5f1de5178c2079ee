# Types of the C extension built from _csvjson.c; the docstrings there say what each returns.

from typing import final

@final
class Converted:
    """What ``convert`` made of a buffer (a struct sequence: read each field by its name)."""

    output: bytes
    end: int
    line: int
    header: bool
    records: int
    rejects: list[tuple[int, str, bytes]]
    mismatches: tuple[int, ...]
    header_problem: str | None

def convert(
    data: bytes,
    start: int,
    final: bool,
    delimiter: str,
    names: tuple[bytes, ...],
    kinds: bytes,
    nulls: tuple[bytes, ...],
    suffix: bytes,
    line: int,
    header: bool,
    /,
) -> Converted: ...
def survey(
    data: bytes, final: bool, delimiter: str, columns: int, nulls: tuple[bytes, ...], limit: int, /
) -> tuple[str, ...]: ...
def jsonl_lines(block: bytes, suffix: bytes, line: int, /) -> tuple[bytes, bytes, int] | None: ...
