# Types of the C extension built from _boundaries.c; the docstrings there say what each returns.

from typing import final

ELEMENTS: int

@final
class Scanned:
    """What ``scan`` found in one buffer (a struct sequence: read each field by its name)."""

    element: int
    seen: int
    starts: tuple[tuple[int, int, int, int], ...]
    breaks: int
    newlines: int

def scan(data: bytes, delimiter: str | None, element: int, seen: int, after: int, /) -> Scanned: ...
def states(element: int, /) -> tuple[int, ...]: ...
def record_ends(data: bytes | memoryview, delimiter: str | None, count: int, final: bool, /) -> list[int]: ...
