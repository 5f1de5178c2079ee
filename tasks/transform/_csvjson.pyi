# Types of the C extension built from _csvjson.c; the docstrings there say what each returns.

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
) -> tuple[bytes, int, int, int, int, list[tuple[int, str, bytes]], tuple[int, ...], str | None]: ...
def survey(
    data: bytes, final: bool, delimiter: str, columns: int, nulls: tuple[bytes, ...], limit: int, /
) -> tuple[str, ...]: ...
def jsonl_lines(block: bytes, suffix: bytes, line: int, /) -> tuple[bytes, bytes, int] | None: ...
