"""``pipeline replay``: process sources again with the code and contract deployed now.

Native redrive resumes a failed run with the code and input it had, within 14 days; a replay is a
new run of each selected source version (found in the ledger by dataset, key prefix or status),
started with ``trigger: replay`` and the operator's reason. The run may take a version an earlier
run settled (the ledger's start condition allows replays), records the reason in the ledger, and
commits its output only if it succeeds: the manifest is switched atomically and the earlier output
stays as a noncurrent version (``tasks/write_output/switch.py``); a replay that is rejected or fails
leaves the earlier output current.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from workflow.ledger import LedgerItem

REPLAY_NAME_PREFIX = "replay-"
MAX_REASON = 512


class ReplayError(ValueError):
    """The replay cannot be asked for as it is (no reason, a reason too long)."""


@dataclass(frozen=True, slots=True)
class ReplayStart:
    """One source version replayed, or why not."""

    bucket: str
    key: str
    version_id: str
    execution_arn: str | None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "versionId": self.version_id,
            "executionArn": self.execution_arn,
            "error": self.error,
        }


def check_reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise ReplayError("--reason must say why the sources are processed again")
    if len(text) > MAX_REASON:
        raise ReplayError(f"--reason is longer than {MAX_REASON} characters")
    return text


def source_key(item: LedgerItem) -> str:
    """The object's key as S3 names it (a rejection recorded before Validate keeps the event's encoding)."""
    return unquote_plus(item.key) if item.key_url_encoded else item.key


def replay_name(item: LedgerItem, started: datetime) -> str:
    """``replay-<UTC second>-<digest of the version>``: one name per version per replay request."""
    digest = hashlib.sha256(f"{item.bucket}\0{source_key(item)}\0{item.version_id}".encode()).hexdigest()[:16]
    return f"{REPLAY_NAME_PREFIX}{started.astimezone(UTC):%Y%m%dT%H%M%S}-{digest}"


def replay_input(item: LedgerItem, reason: str) -> dict[str, str]:
    return {
        "bucket": item.bucket,
        "key": source_key(item),
        "versionId": item.version_id,
        "trigger": "replay",
        "reason": reason,
    }


def replay(
    sfn: Any, state_machine_arn: str, items: list[LedgerItem], *, reason: str, now: datetime | None = None
) -> list[ReplayStart]:
    """Start one run per item; an AWS refusal is reported for its item and does not stop the others."""
    text = check_reason(reason)
    started = now or datetime.now(UTC)
    outcomes = []
    for item in items:
        try:
            arn = sfn.start_execution(
                stateMachineArn=state_machine_arn,
                name=replay_name(item, started),
                input=json.dumps(replay_input(item, text)),
            )["executionArn"]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            message = f"{error.get('Code', 'Error')}: {error.get('Message', exc)}"
            outcomes.append(ReplayStart(item.bucket, source_key(item), item.version_id, None, message))
            continue
        outcomes.append(ReplayStart(item.bucket, source_key(item), item.version_id, arn))
    return outcomes
