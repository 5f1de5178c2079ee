"""Lambda entry point of the Transform step for CSV sources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

from tasks.common.errors import ValidationError
from tasks.common.models import ObjectProfile
from tasks.transform.readers import Record, Reject, read_csv
from tasks.transform.run import build_handler


def read(text: TextIO, profile: ObjectProfile) -> Iterator[Record | Reject]:
    if profile.csv is None:
        raise ValidationError("a CSV transform needs the dialect that Fetch sniffed")
    return read_csv(text, profile.csv)


lambda_handler = build_handler(read)
