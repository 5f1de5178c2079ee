"""The embedded environment: the synthesized stack, created on moto, with the real handlers.

``LocalPipeline`` builds, from the template, the bucket (versioned, EventBridge notifications
on), the topic, the EventBridge rules with their targets and the state machine (its definition
with the substitutions resolved to the local functions). Uploading an object under
``incoming/`` then starts a run exactly as on AWS: S3 emits "Object Created", the rule matches,
its target starts the execution with the rule's input transformer, the interpreter invokes the
handlers. Notifications published to the topic are collected through an SQS subscription.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import boto3
from moto import mock_aws

from tasks.common import aws as task_aws
from workflow.definition import substitute
from workflow.deployment import LOCAL_ACCOUNT, REGION, STACK_NAME
from workflow.executions import STATUS_CHANGE, TERMINAL, StateVisit, read_history, visits
from workflow.local import clock as clock_module
from workflow.local import (
    conditional_writes,
    distributed_map,
    eventbridge,
    execution_context,
    interpreter_cache,
    ledger_resources,
    nested_executions,
    redrive,
)
from workflow.local.lambdas import INVOKE_EVENT, LOCAL_ENVIRONMENT, LambdaEmulator, _environment
from workflow.local.sdk_faults import BEFORE_CALL, SdkFaults
from workflow.local.synth import template_path
from workflow.local.template import StackModel, load_stack

MOTO_CONFIG: Any = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    # Lambda never reaches moto's own Lambda backend: the emulator's hook answers every Invoke.
    "core": {"passthrough": {"services": ["awslambda"]}, "reset_boto3_session": True},
}
DEFAULT_TIME_SCALE = 0.001


class RunTimeout(TimeoutError):
    """An execution did not finish before the deadline."""


@dataclass(frozen=True, slots=True)
class Notification:
    subject: str | None
    message: str
    attributes: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "message": self.message, "attributes": self.attributes}


@dataclass(frozen=True, slots=True)
class Execution:
    arn: str
    name: str
    status: str
    input: dict[str, Any]
    output: dict[str, Any] | None
    error: str | None
    cause: str | None


@contextmanager
def _quiet_emulator_logs(stream: TextIO) -> Iterator[None]:
    """Send moto's interpreter logs (it logs every caught task failure) and Powertools'
    empty-metrics warning to the run's log, not the caller's terminal."""
    handler = logging.StreamHandler(stream)
    moto_logger = logging.getLogger("moto")
    moto_logger.addHandler(handler)
    moto_logger.propagate = False
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        try:
            yield
        finally:
            moto_logger.removeHandler(handler)
            moto_logger.propagate = True


class LocalPipeline:
    """Use as a context manager; every AWS call inside it goes to the embedded environment."""

    def __init__(self, stack: StackModel, *, log_stream: TextIO, time_scale: float = DEFAULT_TIME_SCALE) -> None:
        self.stack = stack
        self.clock = clock_module.ScaledClock(scale=time_scale)
        self.lambdas = LambdaEmulator(stack.functions, log_stream=log_stream)
        # Faults in the AWS calls the handlers make (throttling, timeouts), one function at a time.
        self.sdk_faults = SdkFaults(lambda: self.lambdas.current_function)
        self._log_stream = log_stream
        self.started: list[str] = []
        self._started_lock = threading.Lock()
        # (execution ARN, redrive count): each end of each (re)drive is announced once.
        self._announced: set[tuple[str, int]] = set()
        self._clients = threading.local()
        self._seen_endings: set[tuple[str, Any]] = set()
        self._client_lock = threading.Lock()
        self.redriver = redrive.Redriver()
        self._exit = ExitStack()
        self._queue_url = ""

    @classmethod
    def from_project(cls, *, log_stream: TextIO, time_scale: float = DEFAULT_TIME_SCALE) -> LocalPipeline:
        """Synthesize (or reuse the cached synth of) this checkout's stack."""
        return cls(load_stack(template_path(), STACK_NAME), log_stream=log_stream, time_scale=time_scale)

    def __enter__(self) -> LocalPipeline:
        try:
            # Nothing of the caller's AWS configuration leaks in: every call stays in the embedded
            # environment, even with AWS_ENDPOINT_URL pointing at a running 'pipeline serve'.
            outside = {name: None for name in os.environ if name.startswith("AWS_ENDPOINT_URL")}
            self._exit.enter_context(_environment({**LOCAL_ENVIRONMENT, **outside, "AWS_PROFILE": None}))
            self._exit.enter_context(_quiet_emulator_logs(self._log_stream))
            self._exit.callback(self.lambdas.restore_logs)
            self._exit.enter_context(mock_aws(config=MOTO_CONFIG))
            session = boto3.setup_default_session(region_name=REGION) or boto3.DEFAULT_SESSION
            session.events.register(INVOKE_EVENT, self.lambdas.before_send, unique_id="local-lambda")
            session.events.register(BEFORE_CALL, self.sdk_faults.before_call, unique_id="local-sdk-faults")
            # The handlers share tasks.common.aws, whose clients are cached per process: here each
            # environment's functions start cold, with clients of this session and its hooks.
            task_aws.reset_clients()
            self._exit.enter_context(clock_module.installed(self.clock))
            self._exit.enter_context(eventbridge.installed(self._start_from_rule, self._publish_from_rule))
            self._exit.enter_context(redrive.installed(self.redriver))
            self._exit.enter_context(execution_context.installed())
            self._exit.enter_context(distributed_map.installed())
            self._exit.enter_context(nested_executions.installed())
            self._exit.enter_context(conditional_writes.installed())
            self._exit.enter_context(interpreter_cache.installed())
            self._create_resources()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            ledger_resources.drain(self.client("stepfunctions"), self.stack)
        finally:
            self._exit.close()

    def client(self, service: str) -> Any:
        """A client of the embedded environment; one per thread (creating clients is not thread-safe)."""
        clients: dict[str, Any] = self._clients.__dict__.setdefault("by_service", {})
        if service not in clients:
            with self._client_lock:
                clients[service] = boto3.client(service, region_name=REGION)
        return clients[service]

    def _create_resources(self) -> None:
        stack = self.stack
        s3, sns, sqs = self.client("s3"), self.client("sns"), self.client("sqs")
        events, sfn = self.client("events"), self.client("stepfunctions")
        s3.create_bucket(Bucket=stack.bucket_name)
        s3.put_bucket_versioning(Bucket=stack.bucket_name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(
            Bucket=stack.bucket_name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        for arn in stack.topic_arns:
            sns.create_topic(Name=arn.rsplit(":", 1)[1])
        topic_arn = stack.topic_arn
        self._queue_url = sqs.create_queue(QueueName="local-notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        sfn.create_state_machine(
            name=stack.state_machine_name,
            definition=json.dumps(substitute(stack.definition, stack.substitutions)),
            roleArn=f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{stack.state_machine_name}",
            type="STANDARD",
        )
        ledger_resources.create(self.client("dynamodb"), sfn, sqs, stack)
        for rule in stack.rules:
            events.put_rule(Name=rule.logical_id, EventPattern=json.dumps(rule.pattern), State="ENABLED")
            events.put_targets(
                Rule=rule.logical_id,
                Targets=[
                    {
                        "Id": f"Target{index}",
                        "Arn": target.arn,
                        **(
                            {
                                "InputTransformer": {
                                    "InputPathsMap": target.input_paths,
                                    "InputTemplate": target.input_template,
                                }
                            }
                            if target.input_template is not None
                            else {}
                        ),
                    }
                    for index, target in enumerate(rule.targets)
                ],
            )

    def function_for_state(self, state_name: str) -> str:
        """The name of the function a Task state of the definition invokes."""
        states = substitute(self.stack.definition, self.stack.substitutions)["States"]
        lambda_states = {
            name: body["Resource"]
            for name, body in states.items()
            if body.get("Type") == "Task" and body.get("Resource", "").startswith("arn:aws:lambda:")
        }
        if state_name not in lambda_states:
            raise KeyError(f"{state_name!r} is not a Lambda task; those are: {', '.join(sorted(lambda_states))}")
        function_name: str = lambda_states[state_name].split(":")[6]
        return function_name

    def _publish_from_rule(self, topic_arn: str, message: str) -> None:
        self.client("sns").publish(TopicArn=topic_arn, Message=message)

    def _announce(self, execution_arn: str, described: dict[str, Any]) -> None:
        """Emit Step Functions' "Execution Status Change" event for a finished execution, once.

        AWS emits it to the default bus; here it goes through the same rules, so the failure
        notification rule of the template publishes what it would publish on AWS.
        """
        announcement = (execution_arn, int(described.get("redriveCount", 0)))
        with self._started_lock:
            if announcement in self._announced:
                return
            self._announced.add(announcement)
        detail = {
            "executionArn": execution_arn,
            "stateMachineArn": described["stateMachineArn"],
            "name": described["name"],
            "status": described["status"],
            "startDate": int(described["startDate"].timestamp() * 1000),
            "stopDate": int(described["stopDate"].timestamp() * 1000) if described.get("stopDate") else None,
            "input": described.get("input"),
            "output": described.get("output"),
            "error": described.get("error"),
            "cause": described.get("cause"),
        }
        try:
            self.client("events").put_events(
                Entries=[
                    {
                        "Source": "aws.states",
                        "DetailType": STATUS_CHANGE,
                        "Resources": [execution_arn],
                        "Detail": json.dumps(detail),
                    }
                ]
            )
        except Exception:
            with self._started_lock:
                self._announced.discard(announcement)  # the next look announces it again
            raise

    def redrive(self, execution_arn: str) -> datetime:
        """Redrive through the Step Functions API, as a client would; its end is announced again."""
        redriven: datetime = self.client("stepfunctions").redrive_execution(executionArn=execution_arn)["redriveDate"]
        return redriven

    def announce_finished(self) -> None:
        """Announce every finished execution not announced yet (for executions nobody waits on)."""
        sfn = self.client("stepfunctions")
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=self.stack.state_machine_arn)
        for page in pages:
            for item in page["executions"]:
                ending = (item["executionArn"], item.get("stopDate"))
                if item["status"] not in TERMINAL or ending in self._seen_endings:
                    continue
                described = sfn.describe_execution(executionArn=item["executionArn"])
                if described["status"] in TERMINAL:
                    self._announce(item["executionArn"], described)
                    self._seen_endings.add(ending)

    def _start_from_rule(self, state_machine_arn: str, name: str, payload: str) -> None:
        sfn = self.client("stepfunctions")
        try:
            arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=payload)["executionArn"]
        except sfn.exceptions.ExecutionAlreadyExists:
            return
        if state_machine_arn != self.stack.state_machine_arn:
            return  # ``started`` lists pipeline runs; other rules start the ledger's failure recorder
        with self._started_lock:
            self.started.append(arn)

    # -- what the command and the tests use -------------------------------------------------

    def upload(self, key: str, body: bytes, *, metadata: dict[str, str] | None = None) -> str:
        """Put an object into the pipeline bucket; returns its version id."""
        response = self.client("s3").put_object(
            Bucket=self.stack.bucket_name, Key=key, Body=body, Metadata=metadata or {}
        )
        version: str = response["VersionId"]
        return version

    def upload_file(self, key: str, path: Path, *, metadata: dict[str, str] | None = None) -> str:
        """Stream a file into the pipeline bucket; returns its version id."""
        s3 = self.client("s3")
        s3.upload_file(str(path), self.stack.bucket_name, key, ExtraArgs={"Metadata": metadata or {}})
        version: str = s3.head_object(Bucket=self.stack.bucket_name, Key=key)["VersionId"]
        return version

    def wait(self, execution_arn: str, *, timeout: float = 60.0) -> Execution:
        """Poll until the execution ends; ``RunTimeout`` past the deadline."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] in TERMINAL:
                self._announce(execution_arn, described)
                return Execution(
                    arn=execution_arn,
                    name=described["name"],
                    status=described["status"],
                    input=json.loads(described.get("input") or "{}"),
                    output=json.loads(described["output"]) if described.get("output") else None,
                    error=described.get("error"),
                    cause=described.get("cause"),
                )
            if time.monotonic() > deadline:
                raise RunTimeout(f"{execution_arn} still {described['status']} after {timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return read_history(self.client("stepfunctions"), execution_arn)

    def visits(self, execution_arn: str) -> tuple[StateVisit, ...]:
        """The execution's state visits, as the console lists them."""
        return visits(self.history(execution_arn))

    def notifications(self) -> list[Notification]:
        """Every message published to the topic since the last call."""
        sqs = self.client("sqs")
        received: list[Notification] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return received
            for message in batch:
                envelope = json.loads(message["Body"])
                received.append(
                    Notification(
                        subject=envelope.get("Subject"),
                        message=envelope["Message"],
                        attributes={
                            name: attribute["Value"]
                            for name, attribute in envelope.get("MessageAttributes", {}).items()
                        },
                    )
                )
                sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])

    def object_keys(self, prefix: str) -> list[str]:
        s3 = self.client("s3")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.stack.bucket_name, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def read_object(self, key: str) -> bytes:
        body: bytes = self.client("s3").get_object(Bucket=self.stack.bucket_name, Key=key)["Body"].read()
        return body
