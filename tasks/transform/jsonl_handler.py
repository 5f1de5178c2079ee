"""Lambda entry point of the Transform step for JSON Lines sources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

from tasks.common.models import ObjectProfile
from tasks.transform.readers import Record, Reject, read_jsonl
from tasks.transform.run import build_handler


def read(text: TextIO, profile: ObjectProfile) -> Iterator[Record | Reject]:
    return read_jsonl(text)


lambda_handler = build_handler(read)
