"""``pipeline reconcile``: find every upload the pipeline has not accounted for, and start its run.

Three ways an upload can be left without a result, and what ``--fix`` does for each:

- **unrecorded**: an object version under the prefix with no ledger item (its event never became a
  run: the stack did not exist yet, the run failed before it took the version, a bug). ``--fix``
  starts a run for it (``trigger: reconcile``).
- **stuck**: a ledger item RUNNING whose run has ended without recording its end (the failure
  recorder's event was lost) or has run past the workflow's ``TimeoutSeconds``. ``--fix`` starts a
  new run, which may take the version from the stuck one.
- **undelivered**: an event EventBridge could not deliver, parked in the rules' dead-letter queue.
  ``--fix`` starts the run an "Object Created" event would have started, and deletes the message
  only once that run has started; other events (undelivered failure announcements) are reported.

Runs are named after what they are for (``rc-`` and a digest of the version, and of the stuck run),
so running reconcile twice starts nothing twice. Works against any endpoint: AWS, or ``pipeline serve``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from botocore.exceptions import ClientError

from tasks.common.layout import INCOMING_PREFIX
from workflow.executions import RUNNING as EXECUTION_RUNNING
from workflow.executions import aware
from workflow.ledger import BY_STATUS, PARTITION_KEY, RUNNING, SORT_KEY, LedgerItem, request_source_id, source_id

RECONCILE_NAME_PREFIX = "rc-"
BATCH_GET_LIMIT = 100  # BatchGetItem's largest request
# How long a received dead-letter message stays hidden from other readers while reconcile works on it
# (it is made visible again as soon as reconcile is done with it).
VISIBILITY_SECONDS = 60
DEFAULT_TIMEOUT = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    key: str
    version_id: str
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class StuckRun:
    item: LedgerItem
    why: str


@dataclass(frozen=True, slots=True)
class Undelivered:
    """One dead-letter message: the event it holds, and the run it stands for if it is a trigger's."""

    message_id: str
    receipt_handle: str
    rule: str
    error: str
    event: dict[str, Any]
    run_input: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class Fixed:
    what: str
    key: str
    execution_arn: str | None
    error: str | None = None


@dataclass
class Report:
    unrecorded: list[ObjectVersion]
    stuck: list[StuckRun]
    undelivered: list[Undelivered]
    fixed: list[Fixed]

    @property
    def clean(self) -> bool:
        return not (self.unrecorded or self.stuck or self.undelivered)

    def as_json(self) -> dict[str, Any]:
        return {
            "unrecorded": [
                {"key": found.key, "versionId": found.version_id, "lastModified": found.last_modified.isoformat()}
                for found in self.unrecorded
            ],
            "stuck": [
                {
                    "key": stuck.item.key,
                    "versionId": stuck.item.version_id,
                    "runArn": stuck.item.run_arn,
                    "why": stuck.why,
                }
                for stuck in self.stuck
            ],
            "undelivered": [
                {
                    "messageId": message.message_id,
                    "rule": message.rule,
                    "error": message.error,
                    "runInput": message.run_input,
                }
                for message in self.undelivered
            ],
            "fixed": [
                {"what": fix.what, "key": fix.key, "executionArn": fix.execution_arn, "error": fix.error}
                for fix in self.fixed
            ],
        }


# -- finding -------------------------------------------------------------------------------


def object_versions(s3: Any, bucket: str, prefix: str) -> Iterator[ObjectVersion]:
    """Every version (not delete markers) under ``prefix``: each was an upload, and each had an event."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            if not version["Key"].endswith("/"):
                yield ObjectVersion(version["Key"], version["VersionId"], aware(version["LastModified"]))


def recorded_keys(dynamodb: Any, table: str, keys: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Which of ``keys`` (ledger primary keys) have an item: (sourceId, versionId) pairs."""
    found: set[tuple[str, str]] = set()
    pending = list(keys)
    while pending:
        batch, pending = pending[:BATCH_GET_LIMIT], pending[BATCH_GET_LIMIT:]
        request: dict[str, Any] = {table: {"Keys": batch, "ProjectionExpression": f"{PARTITION_KEY}, {SORT_KEY}"}}
        while request:
            answer = dynamodb.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table, []):
                found.add((item[PARTITION_KEY]["S"], item[SORT_KEY]["S"]))
            request = answer.get("UnprocessedKeys") or {}
    return found


def unrecorded(s3: Any, dynamodb: Any, table: str, bucket: str, prefix: str) -> list[ObjectVersion]:
    """Object versions with no ledger item, under the key as it is or as an S3 event encodes it (a
    refused request's, which may be its digest)."""
    versions = list(object_versions(s3, bucket, prefix))

    def ids(version: ObjectVersion) -> list[tuple[str, str]]:
        plain = source_id(bucket, version.key)
        encoded = request_source_id(bucket, quote_plus(version.key, safe="/"))
        return [(plain, version.version_id)] + ([(encoded, version.version_id)] if encoded != plain else [])

    wanted = {pair for version in versions for pair in ids(version)}
    keys = [{PARTITION_KEY: {"S": pk}, SORT_KEY: {"S": sk}} for pk, sk in sorted(wanted)]
    found = recorded_keys(dynamodb, table, keys)
    return [version for version in versions if not any(pair in found for pair in ids(version))]


def stuck_runs(
    sfn: Any, dynamodb: Any, table: str, bucket: str, prefix: str, *, timeout: timedelta, now: datetime
) -> list[StuckRun]:
    """RUNNING items whose run has ended, or has run longer than the workflow's timeout."""
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": BY_STATUS,
        "KeyConditionExpression": "#status = :running",
        "FilterExpression": f"begins_with({PARTITION_KEY}, :where)",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":running": {"S": RUNNING}, ":where": {"S": source_id(bucket, prefix)}},
    }
    found = []
    while True:
        page = dynamodb.query(**request)
        for raw in page.get("Items", []):
            item = LedgerItem.from_dynamodb(raw)
            why = _why_stuck(sfn, item, timeout=timeout, now=now)
            if why:
                found.append(StuckRun(item, why))
        if not page.get("LastEvaluatedKey"):
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _why_stuck(sfn: Any, item: LedgerItem, *, timeout: timedelta, now: datetime) -> str | None:
    if item.run_arn:
        try:
            status = sfn.describe_execution(executionArn=item.run_arn)["status"]
        except ClientError:
            return "its run no longer exists"
        if status != EXECUTION_RUNNING:
            return f"its run ended {status} without recording its end"
    if item.run_started_at and now - datetime.fromisoformat(item.run_started_at) > timeout:
        return f"RUNNING for more than the workflow's {timeout} timeout"
    return None


def trigger_input(event: dict[str, Any]) -> dict[str, str] | None:
    """The pipeline input the S3 rule makes of an "Object Created" event (its input transformer);
    None for any other event."""
    detail = event.get("detail") or {}
    if event.get("source") != "aws.s3" or event.get("detail-type") != "Object Created":
        return None
    return {
        "bucket": str(detail["bucket"]["name"]),
        "key": str(detail["object"]["key"]),
        "versionId": str(detail["object"]["version-id"]),
        "trigger": "s3",
    }


def undelivered(sqs: Any, queue_url: str) -> list[Undelivered]:
    """The dead-letter queue's messages (hidden from other readers for a minute while we look)."""
    expected = int(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    )
    seen: dict[str, Undelivered] = {}
    for _ in range(expected // 10 + 2):
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=VISIBILITY_SECONDS,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            attributes = message.get("MessageAttributes", {})
            try:
                event = json.loads(message["Body"])
            except ValueError:
                event = {}
            seen[message["MessageId"]] = Undelivered(
                message_id=message["MessageId"],
                receipt_handle=message["ReceiptHandle"],
                rule=attributes.get("RULE_ARN", {}).get("StringValue", "?"),
                error=attributes.get("ERROR_MESSAGE", {}).get("StringValue", "?"),
                event=event,
                run_input=trigger_input(event) if isinstance(event, dict) else None,
            )
    return list(seen.values())


def reconcile(
    *,
    s3: Any,
    dynamodb: Any,
    sfn: Any,
    sqs: Any,
    bucket: str,
    table: str,
    state_machine_arn: str,
    queue_url: str,
    prefix: str = INCOMING_PREFIX,
    timeout: timedelta = DEFAULT_TIMEOUT,
    fix: bool = False,
    now: datetime | None = None,
) -> Report:
    moment = now or datetime.now(UTC)
    report = Report(
        unrecorded=unrecorded(s3, dynamodb, table, bucket, prefix),
        stuck=stuck_runs(sfn, dynamodb, table, bucket, prefix, timeout=timeout, now=moment),
        undelivered=undelivered(sqs, queue_url),
        fixed=[],
    )
    deleted: set[str] = set()
    try:
        if fix:
            report.fixed, deleted = _fix(
                report, sfn=sfn, sqs=sqs, bucket=bucket, state_machine_arn=state_machine_arn, queue_url=queue_url
            )
    finally:
        # What reconcile read but did not act on is visible again at once, to the next look or to a person.
        for message in report.undelivered:
            if message.message_id not in deleted:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=0
                )
    return report


# -- fixing --------------------------------------------------------------------------------


def run_name(*parts: str) -> str:
    return RECONCILE_NAME_PREFIX + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]


def _start(sfn: Any, state_machine_arn: str, name: str, run_input: dict[str, str]) -> tuple[str | None, str | None]:
    """(execution ARN, error): a run already started under that name counts as started."""
    try:
        arn: str = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(run_input))[
            "executionArn"
        ]
        return arn, None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ExecutionAlreadyExists":
            return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}", None
        return None, f"{error.get('Code', 'Error')}: {error.get('Message', exc)}"


def _fix(
    report: Report, *, sfn: Any, sqs: Any, bucket: str, state_machine_arn: str, queue_url: str
) -> tuple[list[Fixed], set[str]]:
    """What was started, and the dead-letter messages deleted because their run has started."""
    fixed = []
    deleted = set()
    for version in report.unrecorded:
        run_input = {"bucket": bucket, "key": version.key, "versionId": version.version_id, "trigger": "reconcile"}
        arn, error = _start(sfn, state_machine_arn, run_name(bucket, version.key, version.version_id), run_input)
        fixed.append(Fixed("unrecorded", version.key, arn, error))
    for stuck in report.stuck:
        item = stuck.item
        run_input = {"bucket": item.bucket, "key": item.key, "versionId": item.version_id, "trigger": "reconcile"}
        name = run_name(item.bucket, item.key, item.version_id, item.run_arn or "")
        arn, error = _start(sfn, state_machine_arn, name, run_input)
        fixed.append(Fixed("stuck", item.key, arn, error))
    for message in report.undelivered:
        if message.run_input is None:
            continue
        run_input = message.run_input
        # Named as for the same version found unrecorded (S3 events carry the key URL-encoded).
        name = run_name(run_input["bucket"], unquote_plus(run_input["key"]), run_input["versionId"])
        arn, error = _start(sfn, state_machine_arn, name, run_input)
        if arn is not None:
            # Deleted only now: the run it stood for has started (or had started before).
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message.receipt_handle)
            deleted.add(message.message_id)
        fixed.append(Fixed("undelivered", run_input["key"], arn, error))
    return fixed, deleted
