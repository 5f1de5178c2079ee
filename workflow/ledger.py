"""The ledger of sources: what the stack, the workflow, the emulator and the operators' commands
agree on about it.

One DynamoDB item per source object version, written by the workflow itself (direct
``dynamodb:updateItem`` integrations in ``pipeline.asl.json``, no Lambda) when a run takes the
version and when it ends, and by the failure recorder (``ledger_failures.asl.json``) when a run
ends FAILED, TIMED_OUT or ABORTED without being able to say so. The item says what happened to the
file: its status, the executions that touched it (redrives, replays and duplicates included), the
output it has now, and the code and contract versions that made that output.

Item (attribute: type, meaning):

- ``sourceId`` S (partition key): ``<bucket>/<key>`` (bucket names cannot contain ``/``); a refused
  request whose key makes that longer than DynamoDB's 2,048 bytes: ``<bucket>/sha256:<hex>``, the
  digest of the key as the request carried it (``request_source_id``)
- ``versionId`` S (sort key): the S3 version id
- ``bucket``, ``key`` S; ``keyUrlEncoded`` BOOL when the key is recorded as an S3 event sent it
  (a request Validate refused before decoding it)
- ``size`` N, ``etag`` S, ``checksum`` S (``sha256:<hex>``, for datasets that skip unchanged content)
- ``dataset`` S (absent outside a dataset folder), ``contractVersion`` S (the dataset settings'
  digest, ``none`` without settings), ``codeVersion`` S (the functions' code asset, of the output)
- ``status`` S: RUNNING, SUCCEEDED, REJECTED, FAILED or SKIPPED (unchanged content); ``error``,
  ``message`` S for REJECTED and FAILED; ``unchangedFrom`` S for SKIPPED (the version whose output stands)
- ``runArn`` S, ``runStartedAt`` S: the run that owns the item now, and its start (ISO 8601 UTC);
  a run takes the item only if it started later than the owner (so an older run never overwrites
  a newer result) and the owner failed, or it is a replay or reconcile run
- ``executions`` SS: every execution that touched the item
- ``run:<execution name>`` M: one per execution: ``executionArn``, ``trigger``, ``reason``,
  ``startedAt``, ``endedAt``, ``codeVersion``, ``contractVersion``, ``status`` (RUNNING, SUCCEEDED,
  REJECTED, FAILED, TIMED_OUT, ABORTED, DUPLICATE, SUPERSEDED)
- ``output`` M: ``bucket``, ``key``, ``rejectsKey``, ``manifestKey``, ``records`` N, ``rejected`` N:
  the current output; a later run that is rejected or fails leaves it in place
- ``firstSeenAt``, ``updatedAt``, ``succeededAt`` S (ISO 8601 UTC)

Indexes: ``byStatus`` (status, updatedAt) and ``byDataset`` (dataset, updatedAt) answer
``pipeline sources``; ``byRun`` (runArn, keys only) lets the failure recorder find the item of a
run from its execution ARN; ``bySucceededAt`` (local: sourceId, succeededAt) finds the last
succeeded version of a key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

TABLE_PLACEHOLDER = "LedgerTableName"
CODE_VERSION_PLACEHOLDER = "CodeVersion"

PARTITION_KEY = "sourceId"
SORT_KEY = "versionId"
BY_STATUS = "byStatus"
BY_DATASET = "byDataset"
BY_RUN = "byRun"
BY_SUCCEEDED = "bySucceededAt"
# Index name -> (partition key, sort key or None).
GLOBAL_INDEXES: dict[str, tuple[str, str | None]] = {
    BY_STATUS: ("status", "updatedAt"),
    BY_DATASET: ("dataset", "updatedAt"),
    BY_RUN: ("runArn", None),
}
KEYS_ONLY_INDEXES = frozenset({BY_RUN})
LOCAL_INDEXES: dict[str, str] = {BY_SUCCEEDED: "succeededAt"}

RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
REJECTED = "REJECTED"
FAILED = "FAILED"
SKIPPED = "SKIPPED"
STATUSES = (RUNNING, SUCCEEDED, REJECTED, FAILED, SKIPPED)
REPLAYABLE_STATUSES = (REJECTED, FAILED)
"""What ``pipeline replay --status`` selects: sources whose last run did not produce their output."""
RUN_ENTRY_PREFIX = "run:"

# What a ledger task retries: DynamoDB's throttling and server errors, and a timed-out call
# (retryable per https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html),
# as Step Functions names them. Its optimized integration (``arn:aws:states:::dynamodb:*``) calls
# DynamoDB with the Java SDK 1.x and names an error after its exception class
# (workflow/local/java_sdk_errors.py, which makes the engine name them so): a code DynamoDB's API
# models, with ``Exception`` appended when it lacks it (``InternalServerError`` is
# ``InternalServerErrorException``: inferred from that rule, which AWS-recorded names of other
# services show), and ``AmazonDynamoDBException`` for any other code (recorded against AWS for a
# ValidationException). That last name is retried too, since by the same rule (inferred, not
# observed) it would also be DynamoDB's ServiceUnavailable (503), and throttling for an SDK that
# predates DynamoDB's ThrottlingException; a refusal that will not pass (a ValidationException, a
# key too long for the ledger) costs up to about 50 s of retries before it is caught or fails. The
# ``aws-sdk:dynamodb:*`` integration uses the Java SDK 2.x: ``DynamoDb.<class>``, and
# ``DynamoDb.DynamoDbException`` for any other code.
TRANSIENT_ERRORS = (
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.RequestLimitExceededException",
    "DynamoDB.InternalServerErrorException",
    "DynamoDB.AmazonDynamoDBException",
    "DynamoDB.SdkClientException",
    "States.Timeout",
)
TRANSIENT_SDK_ERRORS = (
    "DynamoDb.ProvisionedThroughputExceededException",
    "DynamoDb.ThrottlingException",
    "DynamoDb.RequestLimitExceededException",
    "DynamoDb.InternalServerErrorException",
    "DynamoDb.DynamoDbException",
    "DynamoDb.SdkClientException",
    "States.Timeout",
)
# A ledger write whose condition fails: another run owns or settled the source version. Neither a
# business error (the input is fine) nor a system error (nothing to fix or redrive): the run ends
# without effect (AlreadyHandled, Superseded), or, for a rejection, without announcing it.
OWNED_ELSEWHERE = "DynamoDB.ConditionalCheckFailedException"
# What DynamoDB's refusal of a request's record is named once retried, a partition key longer than
# its limit among others: RecordRequestRejected catches it, and KeyTooLongForLedger tells the key's
# length (DynamoDB's cause) from the rest.
KEY_REFUSED = "DynamoDB.AmazonDynamoDBException"
PARTITION_KEY_MAX_BYTES = 2048  # DynamoDB's limit, in UTF-8 bytes


def source_id(bucket: str, key: str) -> str:
    """The partition key of a source object: ``<bucket>/<key>``."""
    return f"{bucket}/{key}"


def request_source_id(bucket: str, key: str) -> str:
    """The partition key of a request Validate refused, under ``key`` as the request carried it:
    ``source_id`` while that fits DynamoDB's partition key, else ``<bucket>/sha256:<hex digest of
    key>`` (of its UTF-8, as moto's States.Hash computes it; an S3 event's key, URL-encoded, is
    ASCII), as ``RecordRequestRejectedByDigest`` writes it. (A key Validate accepts always fits:
    1,024 bytes and a bucket name.)"""
    plain = source_id(bucket, key)
    if len(plain.encode()) <= PARTITION_KEY_MAX_BYTES:
        return plain
    return f"{bucket}/sha256:{hashlib.sha256(key.encode()).hexdigest()}"


@dataclass(frozen=True, slots=True)
class RunEntry:
    """One execution's part in a source version's story."""

    name: str
    execution_arn: str
    trigger: str | None
    status: str | None
    started_at: str | None
    ended_at: str | None
    reason: str | None
    code_version: str | None
    contract_version: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "executionArn": self.execution_arn,
            "trigger": self.trigger,
            "status": self.status,
            "startedAt": self.started_at,
            "endedAt": self.ended_at,
            "reason": self.reason or None,
            "codeVersion": self.code_version,
            "contractVersion": self.contract_version,
        }


@dataclass(frozen=True, slots=True)
class LedgerItem:
    """A ledger item, read from DynamoDB's typed JSON (``{"S": ...}``) into plain fields."""

    bucket: str
    key: str
    version_id: str
    status: str
    key_url_encoded: bool = False
    size: int | None = None
    etag: str | None = None
    checksum: str | None = None
    dataset: str | None = None
    contract_version: str | None = None
    code_version: str | None = None
    error: str | None = None
    message: str | None = None
    run_arn: str | None = None
    run_started_at: str | None = None
    executions: tuple[str, ...] = ()
    runs: tuple[RunEntry, ...] = ()
    output: dict[str, Any] | None = None
    unchanged_from: str | None = None
    first_seen_at: str | None = None
    updated_at: str | None = None
    succeeded_at: str | None = None

    @classmethod
    def from_dynamodb(cls, item: dict[str, Any]) -> LedgerItem:
        plain = {name: plain_value(value) for name, value in item.items()}
        bucket, _, key = str(plain.pop(PARTITION_KEY)).partition("/")
        entries = [
            run_entry(name.removeprefix(RUN_ENTRY_PREFIX), value)
            for name, value in plain.items()
            if name.startswith(RUN_ENTRY_PREFIX)
        ]
        runs = tuple(sorted(entries, key=lambda entry: entry.started_at or ""))
        size = plain.get("size")
        return cls(
            bucket=str(plain.get("bucket", bucket)),
            key=str(plain.get("key", key)),
            version_id=str(plain[SORT_KEY]),
            status=str(plain.get("status", "")),
            key_url_encoded=bool(plain.get("keyUrlEncoded", False)),
            size=int(size) if size is not None else None,
            etag=plain.get("etag"),
            checksum=plain.get("checksum"),
            dataset=plain.get("dataset"),
            contract_version=plain.get("contractVersion"),
            code_version=plain.get("codeVersion"),
            error=plain.get("error"),
            message=plain.get("message"),
            run_arn=plain.get("runArn"),
            run_started_at=plain.get("runStartedAt"),
            executions=tuple(sorted(plain.get("executions", ()))),
            runs=runs,
            output=plain.get("output"),
            unchanged_from=plain.get("unchangedFrom"),
            first_seen_at=plain.get("firstSeenAt"),
            updated_at=plain.get("updatedAt"),
            succeeded_at=plain.get("succeededAt"),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "keyUrlEncoded": self.key_url_encoded,
            "versionId": self.version_id,
            "status": self.status,
            "size": self.size,
            "etag": self.etag,
            "checksum": self.checksum,
            "dataset": self.dataset,
            "contractVersion": self.contract_version,
            "codeVersion": self.code_version,
            "error": self.error,
            "message": self.message,
            "runArn": self.run_arn,
            "runStartedAt": self.run_started_at,
            "executions": list(self.executions),
            "runs": [entry.as_json() for entry in self.runs],
            "output": self.output,
            "unchangedFrom": self.unchanged_from,
            "firstSeenAt": self.first_seen_at,
            "updatedAt": self.updated_at,
            "succeededAt": self.succeeded_at,
        }


def run_entry(name: str, value: dict[str, Any]) -> RunEntry:
    return RunEntry(
        name=name,
        execution_arn=str(value.get("executionArn", "")),
        trigger=value.get("trigger"),
        status=value.get("status"),
        started_at=value.get("startedAt"),
        ended_at=value.get("endedAt"),
        reason=value.get("reason"),
        code_version=value.get("codeVersion"),
        contract_version=value.get("contractVersion"),
    )


def plain_value(value: dict[str, Any]) -> Any:
    """One DynamoDB typed value (``{"S": "x"}``, ``{"N": "1"}``, ``{"M": {...}}``...) as plain Python."""
    ((kind, inner),) = value.items()
    if kind == "N":
        number = float(inner)
        return int(number) if number.is_integer() else number
    if kind == "M":
        return {name: plain_value(item) for name, item in inner.items()}
    if kind == "L":
        return [plain_value(item) for item in inner]
    if kind in {"SS", "NS"}:
        return list(inner)
    if kind == "NULL":
        return None
    return inner
