"""``pipeline smoke``: prove that a deployed stack works, with real AWS calls only, then clean up.

The steps, each timed, each wait bounded:

1. **listen**: two temporary SQS queues (named ``<stack>-smoke-<run id>-runs`` and ``-alarms``, each
   with a policy admitting only its topic) subscribed to the runs topic and the alarms topic;
2. **S3 run**: a sample CSV put under ``incoming/smoke/<run id>/`` starts a run through the S3 rule;
   it must end SUCCEEDED with its output and manifest in the bucket, and the success notification
   must arrive on the runs topic;
3. **S3 rejection**: a malformed JSON array under the same folder must end in a business error,
   the rejection notification must arrive, and nothing may be committed under ``processed/`` for it;
4. **API**: a signed ``POST /executions`` (the sample again, with an Idempotency-Key) answers 202
   and ``GET /executions/{name}`` 200; an unsigned POST 403; a body the schema refuses 400, with a
   body that is valid JSON;
5. **alarm**: ``SetAlarmState`` ALARM on one of the alarms that act on the alarms topic (the one
   quiet the longest, never one already in ALARM) must bring its message on the alarms topic; the
   alarm is then set back to the state it had.

Then everything the smoke created is removed (unless ``keep``): the sample objects, every version
of them and the outputs the runs committed under ``processed/smoke/<run id>/``, the subscriptions
and the queues. The runs' staged files (``staging/<execution>/``) are the pipeline's own: the
bucket's lifecycle rule expires them. The smoke's AWS actions are granted by the operator role
(``stacks/operators.py``); against ``pipeline serve`` the same calls reach the local environment.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import boto3

from tasks.common.errors import BUSINESS_ERROR_NAMES
from tasks.common.layout import INCOMING_PREFIX, MANIFEST_FILE, PROCESSED_PREFIX, output_keys
from workflow.api_contract import EXECUTIONS_PATH, IDEMPOTENCY_HEADER
from workflow.deployment import (
    OUTPUT_ALARM_TOPIC,
    OUTPUT_API_URL,
    OUTPUT_BUCKET,
    OUTPUT_STATE_MACHINE,
    OUTPUT_TOPIC,
    SMOKE_FOLDER,
    smoke_queue_prefix,
)
from workflow.executions import RUNNING, SUCCEEDED
from workflow.ops.stack import OperationError, aws_call, stack_outputs
from workflow.ops.submit import call_api

REQUIRED_OUTPUTS = (OUTPUT_BUCKET, OUTPUT_STATE_MACHINE, OUTPUT_TOPIC, OUTPUT_ALARM_TOPIC, OUTPUT_API_URL)
SAMPLE_NAME = "orders.csv"
SAMPLE = b"order_id,customer,amount,ordered_at\n1,alpha,12.50,2026-01-31T10:00:00Z\n2,beta,7.25,2026-01-31T10:05:00Z\n"
MALFORMED_NAME = "malformed.json"
MALFORMED = b'[{"order_id": 1, "customer": "alpha"}, {"order_id": 2, "customer": '  # the array never closes
# A value the request schema refuses, in a field whose error message quotes values: exactly the
# message that would break a gateway response template that does not escape it (deploy review #21).
BAD_BODY_FIELD = ("processingType", "urgent")
# Step Functions lists executions by start date; the caller's clock may differ from AWS's.
CLOCK_SKEW = timedelta(minutes=5)
POLL_FIRST_SECONDS = 0.2
POLL_MAX_SECONDS = 2.0
RECEIVE_WAIT_SECONDS = 5  # SQS long polling; at most 20


T = TypeVar("T")


class SmokeFailed(Exception):
    """A step did not hold; the message says what was seen instead."""


class WaitTimedOut(SmokeFailed):
    """A bounded wait ended without what it waited for."""


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    held: bool
    seconds: float
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"step": self.name, "held": self.held, "seconds": round(self.seconds, 2), "detail": self.detail}


@dataclass
class SmokeReport:
    run_id: str
    steps: list[StepResult] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)  # what was removed, or kept with --keep
    leftovers: list[str] = field(default_factory=list)  # what could not be removed

    @property
    def held(self) -> bool:
        return bool(self.steps) and all(step.held for step in self.steps) and not self.leftovers

    def as_json(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "held": self.held,
            "steps": [step.as_json() for step in self.steps],
            "cleaned": self.cleaned,
            "leftovers": self.leftovers,
        }


class Deadline:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def until(self, what: str, probe: Callable[[], T | None]) -> T:
        """``probe()``'s first answer that is not None, asked at growing intervals; past the
        deadline ``WaitTimedOut`` naming ``what``."""
        interval = POLL_FIRST_SECONDS
        while True:
            found = probe()
            if found is not None:
                return found
            if self.remaining() <= 0:
                raise WaitTimedOut(f"no {what} within {self.seconds:.0f} s")
            time.sleep(min(interval, self.remaining()))
            interval = min(interval * 2, POLL_MAX_SECONDS)


@dataclass(frozen=True, slots=True)
class Notification:
    """One message of a topic as an SQS subscription receives it (SNS's envelope, or raw)."""

    subject: str | None
    text: str
    body: dict[str, Any]  # the message parsed as a JSON object; empty when it is not one

    @classmethod
    def of_sqs_body(cls, raw: str) -> Notification:
        try:
            envelope = json.loads(raw)
        except ValueError:
            envelope = None
        if isinstance(envelope, dict) and envelope.get("Type") == "Notification" and "Message" in envelope:
            subject, text = envelope.get("Subject"), str(envelope["Message"])
        else:
            subject, text = None, raw
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        return cls(subject=subject, text=text, body=parsed if isinstance(parsed, dict) else {})


class Inbox:
    """A temporary queue's messages: everything received is kept, so that waiting for one message
    never loses another that a later step waits for."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.received: list[Notification] = []

    def wait_for(self, matches: Callable[[Notification], bool], deadline: Deadline, what: str) -> Notification:
        while True:
            for notification in self.received:
                if matches(notification):
                    return notification
            remaining = deadline.remaining()
            if remaining <= 0:
                raise WaitTimedOut(f"no {what} within {deadline.seconds:.0f} s ({len(self.received)} other messages)")
            answer = aws_call(
                partial(
                    self._sqs.receive_message,
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=max(1, min(RECEIVE_WAIT_SECONDS, int(remaining))),
                )
            )
            for message in answer.get("Messages", []):
                self.received.append(Notification.of_sqs_body(message["Body"]))
                aws_call(
                    partial(self._sqs.delete_message, QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                )


def source_folder(run_id: str) -> str:
    """Where one smoke run puts its samples: a folder of its own under incoming/smoke/."""
    return f"{INCOMING_PREFIX}{SMOKE_FOLDER}/{run_id}/"


def output_folder(run_id: str) -> str:
    """Where the pipeline commits the outputs of those samples (``tasks/common/layout.py``)."""
    return f"{PROCESSED_PREFIX}{SMOKE_FOLDER}/{run_id}/"


def queue_name(stack_name: str, run_id: str, topic: str) -> str:
    return f"{smoke_queue_prefix(stack_name)}{run_id}-{topic}"


def idempotency_key(run_id: str) -> str:
    """The API run's key: a retried smoke step finds the same run instead of starting another."""
    return f"smoke-{run_id}"


def new_run_id(now: datetime | None = None) -> str:
    """``20261130T093748Z-3fa2``: sorts by time, unique enough for a person's concurrent smokes."""
    return f"{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def queue_policy(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    """SNS may deliver to the queue for that topic only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "FromTheTopicOnly",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }


@dataclass
class _Created:
    """What the smoke made, in the order it made it, for the cleanup."""

    queues: list[str] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)
    uploaded: bool = False
    api_runs: list[str] = field(default_factory=list)
    alarm: tuple[str, str] | None = None  # (name, the state to set back)


class Smoke:
    """One smoke run against a stack found by its outputs; ``run`` returns the report."""

    def __init__(
        self,
        aws: boto3.Session,
        stack_name: str,
        *,
        timeout: float,
        progress: Callable[[str], None] = lambda _: None,
    ) -> None:
        outputs = stack_outputs(aws, stack_name)
        missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
        if missing:
            raise OperationError(f"stack {stack_name!r} has no output {', '.join(missing)}")
        self._aws = aws
        self._stack_name = stack_name
        self._outputs = outputs
        self._timeout = timeout
        self._progress = progress
        self.report = SmokeReport(new_run_id())
        self._s3 = aws.client("s3")
        self._sqs = aws.client("sqs")
        self._sns = aws.client("sns")
        self._sfn = aws.client("stepfunctions")
        self._cloudwatch = aws.client("cloudwatch")
        self._created = _Created()
        self._inboxes: dict[str, Inbox] = {}
        self._sample: tuple[str, str] | None = None  # (key, version) of the sample the S3 run read

    @property
    def bucket(self) -> str:
        return self._outputs[OUTPUT_BUCKET]

    @property
    def folder(self) -> str:
        return source_folder(self.report.run_id)

    def run(self, *, keep: bool) -> SmokeReport:
        try:
            self._step("listen on the runs and alarms topics", self._listen)
            listening = self.report.steps[-1].held
            # (name, step, whether it needs the subscriptions)
            steps: tuple[tuple[str, Callable[[], str], bool], ...] = (
                ("S3 upload runs to SUCCEEDED and notifies", self._s3_run, True),
                ("malformed upload is rejected and notifies", self._s3_rejection, True),
                ("API: signed POST 202, GET 200", self._api_start_and_describe, False),
                ("API: unsigned POST 403", self._api_unsigned, False),
                ("API: bad body 400 with a JSON body", self._api_bad_body, False),
                ("alarm state change reaches the alarms topic", self._alarm, True),
            )
            for name, step, needs_listening in steps:
                if listening or not needs_listening:
                    self._step(name, step)
                else:
                    self.report.steps.append(StepResult(name, False, 0.0, "not run: no subscription to listen with"))
        finally:
            self._clean_up(keep=keep)
        return self.report

    def _step(self, name: str, step: Callable[[], str]) -> None:
        self._progress(f"… {name}")
        started = time.monotonic()
        try:
            detail, held = step(), True
        except (SmokeFailed, OperationError) as exc:
            # One line, whatever the endpoint answered.
            detail, held = " ".join(str(exc).split()), False
        self.report.steps.append(StepResult(name, held, time.monotonic() - started, detail))

    # -- the steps --------------------------------------------------------------------------

    def _listen(self) -> str:
        for label, output in (("runs", OUTPUT_TOPIC), ("alarms", OUTPUT_ALARM_TOPIC)):
            topic_arn = self._outputs[output]
            # The queue is in the topic's account and region. Its policy is given when it is created:
            # a policy set afterwards can take up to 60 seconds to apply, and a notification sent
            # meanwhile would be lost (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html).
            _, _, _, region, account, _ = topic_arn.split(":", 5)
            name = queue_name(self._stack_name, self.report.run_id, label)
            queue_arn = f"arn:aws:sqs:{region}:{account}:{name}"
            policy = json.dumps(queue_policy(queue_arn, topic_arn))
            url = aws_call(partial(self._sqs.create_queue, QueueName=name, Attributes={"Policy": policy}))["QueueUrl"]
            self._created.queues.append(url)
            subscription = aws_call(
                partial(
                    self._sns.subscribe,
                    TopicArn=topic_arn,
                    Protocol="sqs",
                    Endpoint=queue_arn,
                    ReturnSubscriptionArn=True,
                )
            )["SubscriptionArn"]
            self._created.subscriptions.append(subscription)
            self._inboxes[label] = Inbox(self._sqs, url)
        return f"queues {queue_name(self._stack_name, self.report.run_id, 'runs')} and -alarms subscribed"

    def _upload(self, name: str, body: bytes) -> tuple[str, str, datetime]:
        key = self.folder + name
        self._created.uploaded = True
        uploaded = datetime.now(UTC)
        version = aws_call(lambda: self._s3.put_object(Bucket=self.bucket, Key=key, Body=body))["VersionId"]
        return key, str(version), uploaded

    def _run_of(self, key: str, version: str, uploaded: datetime, deadline: Deadline) -> dict[str, Any]:
        """The execution the S3 rule started for this object version, once it has ended."""
        self._progress(f"  waiting for the run of s3://{self.bucket}/{key}")
        looked: set[str] = set()
        arn = deadline.until(
            f"run of {key} (is the S3 rule enabled?)",
            partial(self._find_execution, key, version, uploaded - CLOCK_SKEW, looked),
        )
        return deadline.until(f"end of the run of {key}", partial(self._ended, arn))

    def _ended(self, arn: str) -> dict[str, Any] | None:
        described: dict[str, Any] = aws_call(partial(self._sfn.describe_execution, executionArn=arn))
        return None if described["status"] == RUNNING else described

    def _find_execution(self, key: str, version: str, since: datetime, looked: set[str]) -> str | None:
        request: dict[str, Any] = {"stateMachineArn": self._outputs[OUTPUT_STATE_MACHINE], "maxResults": 100}
        while True:
            page = aws_call(partial(self._sfn.list_executions, **request))
            for item in page.get("executions", []):
                if item["startDate"] < since:
                    return None  # newest first: the rest started before the upload
                if item["executionArn"] in looked:
                    continue
                looked.add(item["executionArn"])
                described = aws_call(partial(self._sfn.describe_execution, executionArn=item["executionArn"]))
                run_input = json.loads(described.get("input") or "{}")
                if run_input.get("key") == key and run_input.get("versionId") in (version, None):
                    return str(item["executionArn"])
            if not page.get("nextToken"):
                return None
            request["nextToken"] = page["nextToken"]

    def _s3_run(self) -> str:
        deadline = Deadline(self._timeout)
        key, version, uploaded = self._upload(SAMPLE_NAME, SAMPLE)
        self._sample = (key, version)
        run = self._run_of(key, version, uploaded, deadline)
        if run["status"] != SUCCEEDED:
            raise SmokeFailed(f"{run['name']} ended {run['status']}: {run.get('error')}: {run.get('cause')}")
        output = json.loads(run.get("output") or "{}").get("output") or {}
        for what in ("key", "manifestKey"):
            if what not in output:
                raise SmokeFailed(f"{run['name']} SUCCEEDED but its output names no {what}: {output}")
            aws_call(partial(self._s3.head_object, Bucket=output["bucket"], Key=output[what]))
        self._inboxes["runs"].wait_for(
            lambda message: (
                message.body.get("executionArn") == run["executionArn"] and message.body.get("status") == SUCCEEDED
            ),
            deadline,
            f"success notification of {run['name']}",
        )
        return (
            f"{run['name']} SUCCEEDED: {output.get('records')} records in s3://{output['bucket']}/{output['key']},"
            " manifest present, success notification received"
        )

    def _s3_rejection(self) -> str:
        deadline = Deadline(self._timeout)
        key, version, uploaded = self._upload(MALFORMED_NAME, MALFORMED)
        run = self._run_of(key, version, uploaded, deadline)
        if run["status"] == SUCCEEDED or run.get("error") not in BUSINESS_ERROR_NAMES:
            raise SmokeFailed(f"{run['name']} ended {run['status']} ({run.get('error')}), not a business rejection")
        self._inboxes["runs"].wait_for(
            lambda message: (
                message.body.get("executionArn") == run["executionArn"] and message.body.get("status") == "REJECTED"
            ),
            deadline,
            f"rejection notification of {run['name']}",
        )
        committed = output_keys(key, version).manifest.removesuffix(MANIFEST_FILE)
        listed = aws_call(lambda: self._s3.list_objects_v2(Bucket=self.bucket, Prefix=committed))
        if listed.get("KeyCount", 0):
            keys = [item["Key"] for item in listed.get("Contents", [])]
            raise SmokeFailed(f"{run['name']} was rejected, yet {', '.join(keys)} were committed")
        return f"{run['name']} rejected ({run['error']}), rejection notification received, nothing under {committed}"

    @property
    def _executions_url(self) -> str:
        return self._outputs[OUTPUT_API_URL].rstrip("/") + f"/{EXECUTIONS_PATH}"

    def _api_start_and_describe(self) -> str:
        if self._sample is None:
            raise SmokeFailed("not run: the S3 step uploaded no sample to start a run of")
        key, version = self._sample
        body = json.dumps({"key": key, "versionId": version}).encode()
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: idempotency_key(self.report.run_id)}
        started = call_api(self._aws, "POST", self._executions_url, body=body, headers=headers)
        if started.status != 202:
            raise SmokeFailed(f"signed POST answered {started.status}: {started.body}")
        self._created.api_runs.append(str(started.body["executionArn"]))
        name = str(started.body["name"])
        described = call_api(self._aws, "GET", f"{self._executions_url}/{name}")
        if described.status != 200 or described.body.get("name") != name:
            raise SmokeFailed(f"GET {EXECUTIONS_PATH}/{name} answered {described.status}: {described.body}")
        return f"POST 202 started {name}; GET 200 says {described.body.get('status')}"

    def _api_unsigned(self) -> str:
        body = json.dumps({"key": self.folder + SAMPLE_NAME}).encode()
        answer = call_api(None, "POST", self._executions_url, body=body, headers={"Content-Type": "application/json"})
        if answer.status != 403:
            raise SmokeFailed(f"an unsigned POST answered {answer.status}, not 403: {answer.body}")
        return "unsigned POST 403"

    def _api_bad_body(self) -> str:
        field_name, value = BAD_BODY_FIELD
        body = json.dumps({"key": self.folder + SAMPLE_NAME, field_name: value}).encode()
        answer = call_api(
            self._aws, "POST", self._executions_url, body=body, headers={"Content-Type": "application/json"}
        )
        if answer.status != 400:
            raise SmokeFailed(f"a body with {field_name}={value!r} answered {answer.status}, not 400: {answer.body}")
        try:
            json.loads(answer.raw)
        except ValueError:
            raise SmokeFailed(f"the 400 body is not valid JSON: {answer.raw[:300]!r}") from None
        return f"400 {answer.body.get('message')!r}"

    def _alarm(self) -> str:
        deadline = Deadline(self._timeout)
        topic = self._outputs[OUTPUT_ALARM_TOPIC]
        pages = aws_call(lambda: list(self._cloudwatch.get_paginator("describe_alarms").paginate(ActionPrefix=topic)))
        alarms = [
            alarm for page in pages for alarm in page.get("MetricAlarms", []) if topic in alarm.get("AlarmActions", [])
        ]
        if not alarms:
            raise SmokeFailed(f"no alarm acts on the alarms topic {topic}")
        quiet = [alarm for alarm in alarms if alarm["StateValue"] != "ALARM"]
        if not quiet:
            raise SmokeFailed(f"all {len(alarms)} alarms on the alarms topic are in ALARM: look at them first")
        # The one quiet the longest: the least likely to change state on its own meanwhile.
        alarm = min(quiet, key=lambda found: found.get("StateUpdatedTimestamp") or datetime.min.replace(tzinfo=UTC))
        name, previous = str(alarm["AlarmName"]), str(alarm["StateValue"])
        self._created.alarm = (name, previous)
        aws_call(
            lambda: self._cloudwatch.set_alarm_state(
                AlarmName=name,
                StateValue="ALARM",
                StateReason=f"pipeline smoke {self.report.run_id}: checking that alarm notifications arrive",
            )
        )
        self._inboxes["alarms"].wait_for(
            lambda message: message.body.get("AlarmName") == name and message.body.get("NewStateValue") == "ALARM",
            deadline,
            f"ALARM notification of {name} on the alarms topic",
        )
        self._restore_alarm()
        return f"{name}: set to ALARM, its notification received, set back to {previous}"

    # -- cleanup ----------------------------------------------------------------------------

    def _restore_alarm(self) -> None:
        if self._created.alarm is None:
            return
        name, previous = self._created.alarm
        aws_call(
            lambda: self._cloudwatch.set_alarm_state(
                AlarmName=name, StateValue=previous, StateReason=f"pipeline smoke {self.report.run_id}: set back"
            )
        )
        self._created.alarm = None

    def _clean_up(self, *, keep: bool) -> None:
        report = self.report
        for description, action in (
            ("set the alarm back", self._restore_alarm),
            ("wait for the API run to end", self._wait_for_api_runs),
        ):
            try:
                action()
            except (OperationError, SmokeFailed) as exc:
                report.leftovers.append(f"could not {description}: {exc}")
        created = self._created
        objects = [source_folder(report.run_id), output_folder(report.run_id)] if created.uploaded else []
        if keep:
            report.cleaned.extend(
                [
                    *(f"kept s3://{self.bucket}/{prefix}" for prefix in objects),
                    *(f"kept queue {url}" for url in created.queues),
                ]
            )
            report.cleaned.extend(f"kept subscription {arn}" for arn in created.subscriptions)
            return
        for arn in created.subscriptions:
            self._remove(f"subscription {arn}", partial(self._sns.unsubscribe, SubscriptionArn=arn))
        for url in created.queues:
            self._remove(f"queue {url}", partial(self._sqs.delete_queue, QueueUrl=url))
        for prefix in objects:
            self._remove(f"s3://{self.bucket}/{prefix} (every version)", partial(self._delete_versions, prefix))

    def _remove(self, what: str, remove: Callable[[], Any]) -> None:
        try:
            aws_call(remove)
        except OperationError as exc:
            self.report.leftovers.append(f"{what}: {exc}")
        else:
            self.report.cleaned.append(f"removed {what}")

    def _delete_versions(self, prefix: str) -> None:
        """Every version and delete marker under ``prefix``: the bucket is versioned, so a plain
        delete would only hide the objects."""
        pages = self._s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            found = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for kind in ("Versions", "DeleteMarkers")
                for item in page.get(kind, [])
            ]
            if found:
                answer = self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": found, "Quiet": True})
                if answer.get("Errors"):
                    raise OperationError(f"{len(answer['Errors'])} versions not deleted: {answer['Errors'][0]}")

    def _wait_for_api_runs(self) -> None:
        """The API run commits the same output as the S3 run: let it end before that is deleted."""
        deadline = Deadline(self._timeout)
        for arn in self._created.api_runs:
            deadline.until(f"end of the API run {arn}", partial(self._ended, arn))
