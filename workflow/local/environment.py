"""The embedded environment: the synthesized stack, created on moto, with the real handlers.

``LocalPipeline`` builds, from the template, the bucket (versioned, EventBridge notifications
on), the topic, the EventBridge rules with their targets and the state machine (its definition
with the substitutions resolved to the local functions). Uploading an object under
``incoming/`` then starts a run exactly as on AWS: S3 emits "Object Created", the rule matches,
its target starts the execution with the rule's input transformer, the interpreter invokes the
handlers. Notifications published to the topic are collected through an SQS subscription. The
template's alarms are evaluated against what the runs do and publish as on AWS (``alarms.py``).

Processes and threads: moto and its Step Functions interpreter run in this process (one thread
per execution); the handlers run in sandbox processes (``sandboxes.py``) that reach moto
through the gateway, a loopback endpoint served by a thread of this process (``gateway.py``).
Leaving the block stops what is still running, in order: the executions, the sandboxes, the
interpreter's threads, the gateway, then moto; nothing is left behind.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from workflow.local.interpreter import (
    TMP_THREADS,
    clients_shared,
    endings_reported,
    json_paths_compiled_once,
    parses_cached,
    state_machines_tracked,
)

import boto3
from botocore.config import Config
from moto import mock_aws

from workflow.definition import substitute
from workflow.deployment import LOCAL_ACCOUNT, REGION, STACK_NAME
from workflow.executions import RUNNING, STATUS_CHANGE, TERMINAL, StateVisit, read_history, visits
from workflow.local import (
    alarms,
    collection,
    conditional_writes,
    distributed_map,
    eventbridge,
    execution_context,
    ledger_resources,
    limits,
    moto_overhead,
    nested_executions,
    redrive,
    s3_store,
    sns_signing,
)
from workflow.local import clock as clock_module
from workflow.local.access import Access, Denial
from workflow.local.gateway import Gateway
from workflow.local.iam.template_policies import load_policies
from workflow.local.java_sdk_errors import errors_named
from workflow.local.lambdas import DEFAULT_ACCOUNT_CONCURRENCY, INVOKE_EVENT, LambdaEmulator, service_errors_named
from workflow.local.sandboxes import Sandboxes
from workflow.local.sdk_faults import SdkFaults
from workflow.local.service_models import default_session, moto_models_shared
from workflow.local.synth import parse_cache, template_path
from workflow.local.template import StackModel, load_stack

MOTO_CONFIG: Any = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    # Lambda never reaches moto's own Lambda backend: the emulator's hook answers every Invoke.
    "core": {"passthrough": {"services": ["awslambda"]}, "reset_boto3_session": True},
}
DEFAULT_TIME_SCALE = 0.001
logger = logging.getLogger(__name__)
# Sandboxes running handlers at once: the machine's cores bound the work, not AWS's concurrency.
DEFAULT_SLOTS = max(4, 4 * (os.cpu_count() or 1))
# Warm sandboxes kept idle; past that the least recently used one is stopped.
DEFAULT_IDLE_SANDBOXES = 16
# How long leaving the block waits for the interpreter's threads once their executions stopped.
_SHUTDOWN_SECONDS = 10.0
# The engine's own clients (the command's upload, the tests): no checksums unless an operation
# requires one. With them, botocore sends uploads in aws-chunked encoding, which moto decodes by
# concatenating chunks (quadratic in the body). The handlers' clients keep the SDK's defaults.
_ENGINE_CLIENT_CONFIG = Config(
    request_checksum_calculation="when_required", response_checksum_validation="when_required"
)
# A wait reads the status again at least this often, whatever wakes it.
_WAIT_SLICE_SECONDS = 1.0
# moto keeps every interpreter thread it starts (about nine a run) in TMP_THREADS, for the block's
# end to wait on: a long 'pipeline serve' forgets the finished ones when this many more are kept.
THREADS_KEPT_AT_MOST = 4096
_FORGETTING = threading.Lock()


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
class FailedDelivery:
    """An event EventBridge could not deliver to a rule's target (its ``FailedInvocations``)."""

    rule_arn: str
    target_arn: str
    error_code: str  # the dead-letter message's ERROR_CODE
    message: str
    dead_lettered: bool


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


@contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` (``None``: unset) for the duration of the block, then restore."""
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def forget_finished_threads() -> int:
    """Drop moto's finished interpreter threads from TMP_THREADS (it never drops them); return
    how many it kept.

    moto adds a thread before it starts it: one not started yet is kept. Threads the interpreter
    adds meanwhile go at the end of the list, past the part replaced."""
    with _FORGETTING:
        seen = len(TMP_THREADS)
        kept = [thread for thread in TMP_THREADS[:seen] if thread.ident is None or thread.is_alive()]
        TMP_THREADS[:seen] = kept
        return len(kept)


def interpreter_busy() -> bool:
    """Whether any of moto's interpreter threads is alive or about to start.

    moto runs each execution in such threads, added (within StartExecution) before it starts them,
    and they end only after the execution has: with none, no execution of any environment of the
    process runs, and leaving need not ask Step Functions which to wait for or stop (a dozen
    listing calls, a twentieth of a second of a `pipeline run`).
    """
    return forget_finished_threads() > 0


class LocalPipeline:
    """Use as a context manager; every AWS call inside it goes to the embedded environment.

    ``concurrency`` is the account's Lambda concurrency (AWS's default quota unless given);
    functions with reserved concurrency in the template get that much, the others share the rest.
    ``prewarm`` names Task states whose functions initialize as the environment starts, as
    SnapStart initializes a published version (``Sandboxes.prewarm``): the steps a caller knows
    its first run takes.
    """

    def __init__(
        self,
        stack: StackModel,
        *,
        log_stream: TextIO,
        time_scale: float = DEFAULT_TIME_SCALE,
        concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY,
        slots: int = DEFAULT_SLOTS,
        prewarm: Sequence[str] = (),
    ) -> None:
        self.stack = stack
        self._prewarm = tuple(prewarm)
        self.clock = clock_module.ScaledClock(scale=time_scale)
        self._log_lock = threading.Lock()
        self.sandboxes = Sandboxes(
            log_sink=self._write_log, time_scale=time_scale, slots=slots, idle_limit=DEFAULT_IDLE_SANDBOXES
        )
        self.lambdas = LambdaEmulator(stack.functions, sandboxes=self.sandboxes, concurrency=concurrency)
        self.access = Access(
            load_policies(stack.template),
            state_machine_arn=stack.state_machine_arn,
            other_state_machines=tuple(machine.arn for machine in stack.state_machines),
        )
        self.failed_deliveries: list[FailedDelivery] = []
        # Faults in the AWS calls the handlers make (throttling, no answer), one function at a time.
        self.sdk_faults = SdkFaults()
        self._log_stream = log_stream
        self.started: list[str] = []
        self._started_lock = threading.Lock()
        # (execution ARN, redrive count): each end of each (re)drive is announced once.
        self._announced: set[tuple[str, int]] = set()
        self._clients: dict[str, Any] = {}
        self._client_lock = threading.Lock()
        self.redriver = redrive.Redriver()
        self._exit = ExitStack()
        self._endings = threading.Condition()
        self._child_endings = nested_executions.ChildEndings()
        self._ended_count = 0
        self._unannounced: list[str] = []  # ended executions whose end nobody has announced yet
        self._threads_kept = 0  # interpreter threads kept by the last forget_finished_threads
        self._gateway: Gateway | None = None
        self._queue_url = ""
        # The template's alarms: evaluated on the scaled clock, their actions published as on AWS.
        self.alarms = alarms.AlarmEngine(stack, scale=time_scale, invocations=lambda: self.lambdas.invocations)

    @classmethod
    def from_project(
        cls,
        *,
        log_stream: TextIO,
        time_scale: float = DEFAULT_TIME_SCALE,
        concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY,
        prewarm: Sequence[str] = (),
    ) -> LocalPipeline:
        """Synthesize (or reuse the cached synth of) this checkout's stack."""
        return cls(
            load_stack(template_path(), STACK_NAME),
            log_stream=log_stream,
            time_scale=time_scale,
            concurrency=concurrency,
            prewarm=prewarm,
        )

    def __enter__(self) -> LocalPipeline:
        with collection.paused():
            self._enter()
        self._exit.callback(collection.thawed)
        return self

    def _enter(self) -> None:
        try:
            # First, so that the sandboxes' zygote imports its libraries while moto starts here.
            self.sandboxes.start()
            self._exit.callback(self.sandboxes.close)
            # Nothing of the caller's AWS configuration leaks in: every call stays in the embedded
            # environment, even with AWS_ENDPOINT_URL pointing at a running 'pipeline serve'.
            outside = {name: None for name in os.environ if name.startswith("AWS_ENDPOINT_URL")}
            local = {
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_PROFILE": None,
                **s3_store.SPOOL_ENVIRONMENT,
            }
            self._exit.enter_context(_environment({**local, **outside}))
            self._exit.enter_context(_quiet_emulator_logs(self._log_stream))
            self._exit.enter_context(mock_aws(config=MOTO_CONFIG))
            self._exit.enter_context(s3_store.installed())
            self._exit.enter_context(parses_cached(parse_cache()))
            self._exit.enter_context(clients_shared())
            self._exit.enter_context(json_paths_compiled_once())
            self._exit.enter_context(moto_models_shared())
            self._exit.enter_context(endings_reported(self._execution_ended, guard=self.alarms.observing))
            session = default_session(REGION)
            session.events.register(INVOKE_EVENT, self.lambdas.before_send, unique_id="local-lambda")
            self._exit.enter_context(state_machines_tracked())
            self._exit.enter_context(self.access.state_machine_gate(session))
            self._exit.enter_context(service_errors_named())
            self._exit.enter_context(errors_named())
            self._gateway = gateway = Gateway(
                callers=self.sandboxes.caller,
                authorize=self.access.function_call,
                conceal=self.access.absence_concealed,
                faults=self.sdk_faults,
            )
            gateway.start()
            self._exit.callback(gateway.stop)
            self.sandboxes.endpoint_url = gateway.endpoint_url
            self.sandboxes.prewarm([self.lambdas.spec(self.function_for_state(state)) for state in self._prewarm])
            self._exit.enter_context(clock_module.installed(self.clock))
            self._exit.enter_context(eventbridge.installed(self._start_from_rule, self._publish_from_rule))
            self._exit.enter_context(redrive.installed(self.redriver))
            self._exit.enter_context(limits.installed(session.events))
            self._exit.enter_context(execution_context.installed())
            self._exit.enter_context(distributed_map.installed())
            self._exit.enter_context(nested_executions.installed(self._child_endings))
            self._exit.enter_context(conditional_writes.installed())
            self._exit.enter_context(sns_signing.installed())
            # Runs first on the way out: nothing may still use moto or the gateway when they stop.
            self._exit.callback(self._stop_running)
            self._create_resources()
            self._exit.enter_context(alarms.installed(self.alarms))
            # After the resources: creating them imported the modules of moto's services.
            self._exit.enter_context(moto_overhead.reduced())
        except BaseException:
            self._exit.close()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None and interpreter_busy():
                # The ledger's recorder of a run that just failed still writes: let it end. Leaving
                # on an error or an interrupt stops everything at once instead.
                ledger_resources.drain(self.client("stepfunctions"), self.stack)
        finally:
            self._exit.close()

    def sandbox_calls(self) -> Counter[tuple[str, str]]:
        """The AWS requests the handlers made so far, by (service, operation)."""
        if self._gateway is None:
            return Counter()
        return Counter(self._gateway.calls)

    def _execution_ended(self, execution: Any) -> None:
        try:
            self.alarms.execution_ended(execution)
        except Exception:
            # The execution has ended whatever its metrics: never fail its worker for them.
            logger.exception("recording the end of %s for the alarms failed", execution.exec_arn)
        self._child_endings.ended(execution.exec_arn)
        with self._endings:
            self._ended_count += 1
            self._unannounced.append(execution.exec_arn)
            self._endings.notify_all()

    def _write_log(self, text: str) -> None:
        """The sandboxes' output, where CloudWatch would keep it."""
        with self._log_lock:
            self._log_stream.write(text)
            self._log_stream.flush()

    def _stop_running(self) -> None:
        """Stop the executions still running, then their sandboxes, then wait for the interpreter."""
        deadline = time.monotonic() + _SHUTDOWN_SECONDS
        if interpreter_busy():
            for arn in self._running_executions():
                self._stop_execution(arn, deadline)
        # A stopped parent's .sync tasks see it at once, not at their next recheck.
        self._child_endings.wake_all()
        self.sandboxes.close()
        for thread in list(TMP_THREADS):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        forget_finished_threads()

    def _running_executions(self) -> list[str]:
        """Every running execution, of the stack's state machine and of any other (a test's)."""
        sfn = self.client("stepfunctions")
        machines = [
            machine["stateMachineArn"]
            for page in sfn.get_paginator("list_state_machines").paginate()
            for machine in page["stateMachines"]
        ]
        return [
            item["executionArn"]
            for machine in machines
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, statusFilter=RUNNING)
            for item in page["executions"]
        ]

    def _stop_execution(self, arn: str, deadline: float) -> None:
        """StopExecution; moto cannot stop an execution whose thread has not built its state yet,
        so a refusal is tried again for a moment."""
        sfn = self.client("stepfunctions")
        while True:
            try:
                sfn.stop_execution(executionArn=arn, cause="the local engine stopped")
                return
            except sfn.exceptions.ExecutionDoesNotExist:
                return
            except Exception:
                if time.monotonic() > deadline:
                    logger.exception("could not stop %s before leaving", arn)
                    return
                time.sleep(0.01)

    def client(self, service: str) -> Any:
        """A client of the embedded environment, shared by every thread: botocore clients may be
        called from any thread, but creating one is not thread-safe, so it is created under a lock."""
        with self._client_lock:
            client = self._clients.get(service)
            if client is None:
                client = self._clients[service] = boto3.client(
                    service, region_name=REGION, config=_ENGINE_CLIENT_CONFIG
                )
            return client

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
        dead_letters = {target.dead_letter_arn for rule in stack.rules for target in rule.targets}
        for dead_letter in sorted(arn for arn in dead_letters if arn):
            sqs.create_queue(QueueName=dead_letter.rsplit(":", 1)[1])
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
        functions = self._lambda_states
        if state_name not in functions:
            raise KeyError(f"{state_name!r} is not a Lambda task; those are: {', '.join(sorted(functions))}")
        return functions[state_name]

    @functools.cached_property
    def _lambda_states(self) -> dict[str, str]:
        """Each Lambda Task state of the definition and the function it invokes (read once: the
        definition is the stack's, which the environment keeps)."""
        states = substitute(self.stack.definition, self.stack.substitutions)["States"]
        # A Distributed Map's child states too (each range's Task).
        children = [body["ItemProcessor"]["States"] for body in states.values() if body.get("Type") == "Map"]
        return {
            name: body["Resource"].split(":")[6]
            for name, body in itertools.chain(states.items(), *(child.items() for child in children))
            if body.get("Type") == "Task" and body.get("Resource", "").startswith("arn:aws:lambda:")
        }

    def _publish_from_rule(self, rule_arn: str, topic_arn: str, message: str, event: dict[str, Any]) -> None:
        params = {"TopicArn": topic_arn, "Message": message}
        denial = self.access.delivery(rule_arn, topic_arn, "sns", "Publish", params)
        if denial is not None:
            self._undeliverable(rule_arn, topic_arn, event, denial)
            return
        self.client("sns").publish(**params)

    def _undeliverable(self, rule_arn: str, target_arn: str, event: dict[str, Any], denial: Denial) -> None:
        """EventBridge's handling of a delivery refused for permissions: no retries, the event goes
        to the target's dead-letter queue if it has one (itself checked), and counts as a failed
        invocation of the rule (https://docs.aws.amazon.com/eventbridge/latest/userguide/rule-dlq.html)."""
        error_code = "FAILED_TO_ASSUME_ROLE" if denial.action == "sts:AssumeRole" else "NO_PERMISSIONS"
        queue_url = self._dead_letter_url(rule_arn, target_arn)
        dead_lettered = queue_url is not None and self.access.dead_letter(rule_arn, queue_url) is None
        if dead_lettered and queue_url is not None:
            attributes = {"RULE_ARN": rule_arn, "TARGET_ARN": target_arn, "ERROR_CODE": error_code}
            attributes |= {"ERROR_MESSAGE": denial.message, "RETRY_ATTEMPTS": "0"}
            self.client("sqs").send_message(
                QueueUrl=queue_url,
                MessageBody=json.dumps(event, default=str),
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
                },
            )
        with self._started_lock:
            self.failed_deliveries.append(
                FailedDelivery(rule_arn, target_arn, error_code, denial.message, dead_lettered)
            )

    def _dead_letter_url(self, rule_arn: str, target_arn: str) -> str | None:
        rule_name = rule_arn.rsplit("/", 1)[1]
        for rule in self.stack.rules:
            for target in rule.targets:
                if rule.logical_id == rule_name and target.arn == target_arn and target.dead_letter_arn:
                    queue_name = target.dead_letter_arn.rsplit(":", 1)[1]
                    return f"https://sqs.{REGION}.amazonaws.com/{LOCAL_ACCOUNT}/{queue_name}"
        return None

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

    def announce_finished(self, *, wait: float = 0.0) -> None:
        """Announce every execution that ended since the last call (for executions nobody waits on);
        with ``wait``, first wait that long for one to end."""
        with self._endings:
            if wait and not self._unannounced:
                self._endings.wait(wait)
            ended, self._unannounced = self._unannounced, []
        # (counted from what the last look kept: thousands of runs at once keep thousands alive)
        if len(TMP_THREADS) >= self._threads_kept + THREADS_KEPT_AT_MOST:
            self._threads_kept = forget_finished_threads()
        sfn = self.client("stepfunctions")
        for index, arn in enumerate(ended):
            try:
                described = sfn.describe_execution(executionArn=arn)
                if described["status"] in TERMINAL:
                    self._announce(arn, described)
            except BaseException:
                # The rest are still owed their announcement: the next call makes it.
                with self._endings:
                    self._unannounced[:0] = ended[index + 1 :]
                raise

    def _start_from_rule(
        self, rule_arn: str, state_machine_arn: str, name: str, payload: str, event: dict[str, Any]
    ) -> None:
        params = {"stateMachineArn": state_machine_arn, "name": name, "input": payload}
        denial = self.access.delivery(rule_arn, state_machine_arn, "stepfunctions", "StartExecution", params)
        if denial is not None:
            self._undeliverable(rule_arn, state_machine_arn, event, denial)
            return
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
        """Wait until the execution ends (woken by its end); ``RunTimeout`` past the deadline."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            with self._endings:
                seen = self._ended_count
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
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunTimeout(f"{execution_arn} still {described['status']} after {timeout:.0f} s")
            self._wait_for_an_end(seen, min(remaining, _WAIT_SLICE_SECONDS))

    def _wait_for_an_end(self, seen: int, timeout: float) -> None:
        """Until an execution ends after ``seen`` endings (any execution: the caller reads its own again)."""
        with self._endings:
            self._endings.wait_for(lambda: self._ended_count != seen, timeout=timeout)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return read_history(self.client("stepfunctions"), execution_arn)

    def visits(self, execution_arn: str) -> tuple[StateVisit, ...]:
        """The execution's state visits, as the console lists them."""
        return visits(self.history(execution_arn))

    def notifications(self) -> list[Notification]:
        """Every message published to the topic since the last call. Read them while runs go on, as
        ``pipeline serve`` does: unread, they pile up in the collecting queue, and moto's SQS walks
        every queued message each time another one arrives."""
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
            sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(batch)
                ],
            )

    def alarm_notifications(self) -> list[alarms.AlarmNotification]:
        """Every alarm message published to the alarms' topics since the last call."""
        return self.alarms.notifications()

    def object_keys(self, prefix: str) -> list[str]:
        s3 = self.client("s3")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.stack.bucket_name, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def read_object(self, key: str) -> bytes:
        body: bytes = self.client("s3").get_object(Bucket=self.stack.bucket_name, Key=key)["Body"].read()
        return body
