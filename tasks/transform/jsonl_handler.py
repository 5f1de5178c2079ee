"""Lambda entry point of the Transform step for JSON Lines sources."""

from __future__ import annotations

from tasks.common.models import Format
from tasks.transform.run import build_handler

lambda_handler = build_handler(Format.JSONL)
