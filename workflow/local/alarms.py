"""The stack's CloudWatch alarms, evaluated locally: they fire, and publish through their actions.

moto stores alarms but evaluates none. Here the template's alarms (``alarm_model.py``) are created
in moto's CloudWatch, so clients list them and ``SetAlarmState`` works, and ``AlarmEngine`` does
what CloudWatch does:

- **Metrics** from what the local engine observes: each execution's end (``AWS/States``
  ``ExecutionsSucceeded``/``Failed``/``TimedOut``/``Aborted`` and ``ExecutionTime``, by
  ``StateMachineArn``), the state machine's log events (its execution history in Step Functions'
  log format) through the template's metric filters (the ``RunsRejected`` metric), each Lambda
  invocation (``AWS/Lambda`` ``Invocations``, ``Errors``, ``Throttles``, ``Duration``, by
  ``FunctionName``), and the depth of each queue an alarm watches (``AWS/SQS``
  ``ApproximateNumberOfMessagesVisible``, sampled at every evaluation). All but the queue samples
  are also put into moto's CloudWatch, where ``GetMetricStatistics`` reads them.
- **Evaluation** once a minute of the scaled clock (``alarm_rules.py``: statistic, period,
  threshold, comparison, evaluation periods, datapoints to alarm, missing data, metric math), and
  on demand (``evaluate``), so a command can report what the alarms made of a run it waited for.
- **Actions**: a state change, made by the evaluation or by a client's ``SetAlarmState``, runs the
  actions of the new state. Each is an SNS publish of CloudWatch's alarm message, made only if the
  template's policies let ``cloudwatch.amazonaws.com`` publish for this alarm (the topic policy and
  the key policy, ``workflow/local/iam``); a denied one is recorded as a failed action in the
  alarm's history, as CloudWatch records it, and nothing is delivered.
- **History**: ``DescribeAlarmHistory`` (moto has none) answers the state updates and actions.

Gaps, named: no ``ExecutionsStarted``; Lambda metrics by ``FunctionName`` only (not by alias or
version); the other log groups' metric filters see no events; alarms on other metrics find no data.

moto internals relied on, each guarded in ``tests/workflow/test_moto_reliances.py``: the parser's
execution object, handed over at its end (``interpreter.endings_reported``);
``CloudWatchBackend.set_alarm_state``, ``CloudWatchBackend.alarms`` and the alarm's
``state_value``/``state_reason``; ``CloudWatchResponse`` dispatching an action to the method named
after it; a queue's ``approximate_number_of_messages`` in moto's SQS backend.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import boto3
from moto.cloudwatch.models import CloudWatchBackend, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.sqs.models import sqs_backends

from workflow.deployment import LOCAL_ACCOUNT, REGION, STACK_NAME
from workflow.local.alarm_model import INSUFFICIENT_DATA, STATES, AlarmSpec, CloudWatchModel, MetricKey, read_alarms
from workflow.local.alarm_rules import MetricStore, Timeline, decide, iso, periods
from workflow.local.iam.evaluation import Decision
from workflow.local.iam.requests import checks_for_call
from workflow.local.iam.template_policies import TemplatePolicies, load_policies
from workflow.local.service_models import botocore_loader
from workflow.local.template import StackModel

logger = logging.getLogger(__name__)

# What CloudWatch calls the region in its messages.
REGION_NAMES = {"us-east-1": "US East (N. Virginia)"}
NOTIFICATION_QUEUE = "local-alarm-notifications"
_ENDINGS = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}
_TERMINAL_EVENTS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"})
_QUEUE_DEPTH = ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
SUBJECT_LIMIT = 100  # SNS's longest subject
_CATCH_UP_PERIODS = 60  # at most this many missed periods are judged late, the oldest first


class InvocationRecord(Protocol):
    """What the engine reads of one Lambda invocation (``workflow/local/lambdas.py`` records them)."""

    @property
    def function(self) -> str: ...

    @property
    def ended(self) -> float: ...  # time.time() when it ended (or was refused)

    @property
    def duration_ms(self) -> float: ...

    @property
    def error_type(self) -> str | None: ...  # the function error (errorType); None when it answered

    @property
    def throttled(self) -> bool: ...  # refused for concurrency: no Invocation, no Error, a Throttle


@dataclass(frozen=True, slots=True)
class AlarmNotification:
    """An alarm message as a subscriber of the alarm topic receives it."""

    topic_arn: str
    subject: str | None
    alarm_name: str
    old_state: str
    new_state: str
    reason: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "topicArn": self.topic_arn,
            "subject": self.subject,
            "alarmName": self.alarm_name,
            "oldState": self.old_state,
            "newState": self.new_state,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class HistoryItem:
    alarm_name: str
    timestamp: datetime
    kind: str  # "StateUpdate" or "Action", as DescribeAlarmHistory's HistoryItemType
    summary: str
    data: dict[str, Any]

    def as_api(self) -> dict[str, Any]:
        return {
            "AlarmName": self.alarm_name,
            "AlarmType": "MetricAlarm",
            "Timestamp": self.timestamp,
            "HistoryItemType": self.kind,
            "HistorySummary": self.summary,
            "HistoryData": json.dumps(self.data),
        }


@dataclass
class _Observed:
    """What has been turned into datapoints already."""

    invocations: int = 0
    log_events: dict[str, int] = field(default_factory=dict)  # execution ARN -> last history event id
    unsent: list[tuple[MetricKey, float, float]] = field(default_factory=list)  # for moto's CloudWatch


class AlarmEngine:
    """The template's alarms, their metrics and their actions, for one local environment."""

    def __init__(
        self,
        stack: StackModel,
        *,
        scale: float,
        invocations: Callable[[], Sequence[InvocationRecord]],
    ) -> None:
        self.model: CloudWatchModel = read_alarms(stack.template, STACK_NAME)
        self._policies: TemplatePolicies = load_policies(stack.template)
        self._state_machine_arn = stack.state_machine_arn
        self._invocations = invocations
        self._clients = threading.local()
        self.timeline = Timeline(origin=time.time(), scale=scale)
        # An evaluation once a minute of the template's clock (CloudWatch's cadence for periods of a
        # minute or more), at most ten a second: each evaluation also judges the periods that ended
        # since the one before, so a slower cadence misses no datapoint.
        self.interval = min(max(60 * scale, 0.1), 60.0)
        self._store = MetricStore()
        self._observed = _Observed()
        self._history: dict[str, list[HistoryItem]] = {alarm.name: [] for alarm in self.model.alarms}
        self._last_period: dict[str, int] = {}
        self._queue_names: list[str] = []
        self._notification_queue = ""
        self._created = time.time()
        # Held while an execution's end is recorded, taken by an evaluation first: whoever saw an
        # execution ended and then evaluates sees its datapoints.
        self._observing = threading.Lock()
        self._evaluating = threading.Lock()
        self._transitions = threading.RLock()

    # -- set-up -------------------------------------------------------------------------------

    def create_resources(self) -> None:
        """The alarms in moto's CloudWatch (INSUFFICIENT_DATA until evaluated, as on AWS), the
        queues they watch, and a queue subscribed to their topics to collect their messages."""
        cloudwatch, sqs, sns = self._client("cloudwatch"), self._client("sqs"), self._client("sns")
        backend = self._backend()
        for alarm in self.model.alarms:
            cloudwatch.put_metric_alarm(**_put_metric_alarm(alarm))
            created = backend.alarms[alarm.name]
            created.state_value = INSUFFICIENT_DATA
            created.state_reason = "Unchecked: Initial alarm creation"
        for metric in self.model.metrics():
            if (metric.namespace, metric.name) == _QUEUE_DEPTH:
                name = dict(metric.dimensions)["QueueName"]
                sqs.create_queue(QueueName=name)
                self._queue_names.append(name)
        self._notification_queue = sqs.create_queue(QueueName=NOTIFICATION_QUEUE)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._notification_queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        topics = {topic for alarm in self.model.alarms for state in STATES for topic in alarm.actions_for(state)}
        for topic in sorted(topics):
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    # -- what the engine observes ---------------------------------------------------------------

    @contextmanager
    def changing_state(self) -> Iterator[None]:
        """Held while an alarm's state changes and its actions run: one change at a time."""
        with self._transitions:
            yield

    @contextmanager
    def observing(self) -> Iterator[None]:
        """Held from an execution's final status until its datapoints are recorded (the environment
        passes it to ``interpreter.endings_reported``): an evaluation waits for it, so whoever saw an
        execution ended and then evaluates sees its datapoints."""
        with self._observing:
            yield

    def execution_ended(self, execution: Any) -> None:
        """Datapoints of one ended (or re-ended, after a redrive) moto execution, recorded while
        ``observing`` is held."""
        status = execution.exec_status.value
        events = execution.to_history_output()["events"]
        # Step Functions ends an execution at its terminal event: the metrics of its end and the
        # log line of that event carry one time (a failed run's and its rejection's fall in one
        # period). moto sets stop_date a moment later, when its worker reports the end.
        terminal = [event for event in events if event["type"] in _TERMINAL_EVENTS]
        stopped = epoch(terminal[-1]["timestamp"]) if terminal else execution.stop_date.timestamp()
        machine = execution.state_machine.arn
        dimensions = {"StateMachineArn": machine}
        self._add(MetricKey.of("AWS/States", _ENDINGS[status], dimensions), stopped, 1.0)
        self._add(
            MetricKey.of("AWS/States", "ExecutionTime", dimensions),
            stopped,
            (stopped - execution.start_date.timestamp()) * 1000,
        )
        if machine == self._state_machine_arn and self.model.state_machine_filters:
            self._log_events(execution.execution_arn, events)

    def _log_events(self, execution_arn: str, events: Sequence[dict[str, Any]]) -> None:
        """The history events not logged yet, as Step Functions logs them, through the metric filters."""
        done = self._observed.log_events.get(execution_arn, 0)
        for event in events:
            if event["id"] <= done:
                continue
            logged = log_event(event, execution_arn)
            for metric_filter in self.model.state_machine_filters:
                if metric_filter.pattern.matches_event(logged):
                    value = metric_filter.value
                    number = _number(logged, value)
                    if number is not None:
                        self._add(metric_filter.metric, epoch(event["timestamp"]), number)
            done = event["id"]
        self._observed.log_events[execution_arn] = done

    def _collect_invocations(self) -> None:
        records = self._invocations()
        new = records[self._observed.invocations :]
        self._observed.invocations += len(new)
        for record in new:
            ended = record.ended
            dimensions = {"FunctionName": record.function}
            if record.throttled:
                self._add(MetricKey.of("AWS/Lambda", "Throttles", dimensions), ended, 1.0)
                continue
            self._add(MetricKey.of("AWS/Lambda", "Invocations", dimensions), ended, 1.0)
            self._add(MetricKey.of("AWS/Lambda", "Duration", dimensions), ended, record.duration_ms)
            if record.error_type is not None:
                self._add(MetricKey.of("AWS/Lambda", "Errors", dimensions), ended, 1.0)

    def _sample_queues(self, now: float) -> None:
        """The depth of each watched queue now, read from moto's SQS: an API call at every
        evaluation would cost more than the evaluation itself. Kept for the alarms only."""
        backend = sqs_backends[LOCAL_ACCOUNT][REGION]
        for name in self._queue_names:
            visible = float(backend.get_queue(name).approximate_number_of_messages)
            self._store.add(MetricKey.of(*_QUEUE_DEPTH, {"QueueName": name}), now, visible)

    def _add(self, metric: MetricKey, timestamp: float, value: float) -> None:
        self._store.add(metric, timestamp, value)
        self._observed.unsent.append((metric, timestamp, value))

    # -- evaluation -----------------------------------------------------------------------------

    def evaluate(self) -> None:
        """Collect what happened and evaluate every alarm now, running the actions of each change."""
        with self._observing:
            pass  # an execution's end being recorded is complete before it is looked at
        with self._evaluating:
            now = time.time()
            self._collect_invocations()
            self._sample_queues(now)
            # Judged while no execution's end is being recorded: an end's datapoints (a failed
            # execution, then the rejection its log records) are seen together or not at all.
            with self._observing:
                new, self._observed.unsent = self._observed.unsent, []
                # A datapoint may reach the engine after its period was judged (an invocation is
                # recorded when it ends): the evaluation starts from the earliest new one's period.
                earliest = min((timestamp for _, timestamp, _ in new), default=now)
                for alarm in self.model.alarms:
                    self._evaluate(alarm, now, earliest)
            self._put_metric_data(new)
            oldest = max((alarm.period * (alarm.evaluation_periods + 1) for alarm in self.model.alarms), default=0)
            self._store.forget_before(now - oldest * self.timeline.scale)

    def _evaluate(self, alarm: AlarmSpec, now: float, earliest: float) -> None:
        current = self.timeline.period_index(now, alarm.period)
        first = min(self._last_period.get(alarm.name, 0), self.timeline.period_index(earliest, alarm.period))
        # Every period since the last evaluation (or holding a new datapoint) is judged whole, in
        # order, before the current one: a late evaluation (a busy machine) misses no datapoint, as
        # CloudWatch misses none.
        for index in range(max(first, current - _CATCH_UP_PERIODS), current + 1):
            recent = periods(alarm, self._store, self.timeline, index)
            state = self.state(alarm.name)
            decision = decide(alarm, recent, state, now)
            if decision is not None:
                self._backend().set_alarm_state(
                    alarm.name, decision.reason, json.dumps(decision.reason_data), decision.state
                )
        self._last_period[alarm.name] = current

    def state(self, alarm_name: str) -> str:
        value: str = self._backend().alarms[alarm_name].state_value
        return value

    def run(self, stop: threading.Event) -> None:
        """Evaluate every ``interval`` until ``stop`` is set."""
        while not stop.wait(self.interval):
            try:
                self.evaluate()
            except Exception:
                # One failed evaluation must not end the alarms: log it, the next one runs anyway.
                logger.exception("alarm evaluation failed once; the next one runs anyway")

    # -- state changes and actions --------------------------------------------------------------

    def owns(self, backend: CloudWatchBackend, alarm_name: str) -> bool:
        return (backend.account_id, backend.region_name) == (LOCAL_ACCOUNT, REGION) and alarm_name in self._history

    def transitioned(self, alarm_name: str, old: str, new: str, reason: str, reason_data: str | None) -> None:
        """Record a state change and run the new state's actions (with the transition lock held)."""
        alarm = self.model.alarm(alarm_name)
        now = time.time()
        self._record(
            alarm_name,
            "StateUpdate",
            f"Alarm updated from {old} to {new}",
            {
                "version": "1.0",
                "oldState": {"stateValue": old},
                "newState": {"stateValue": new, "stateReason": reason, "stateReasonData": reason_data},
            },
            now,
        )
        if not alarm.actions_enabled:
            return
        message = json.dumps(alarm_message(alarm, old, new, reason, now=now, created=self._created))
        subject = f'{new}: "{alarm.name}" in {REGION_NAMES.get(REGION, REGION)}'[:SUBJECT_LIMIT]
        for topic in alarm.actions_for(new):
            self._publish(alarm, topic, subject, message, now)

    def _publish(self, alarm: AlarmSpec, topic: str, subject: str, message: str, now: float) -> None:
        checks = checks_for_call(
            self._policies.alarm_caller(alarm.arn),
            "sns",
            "Publish",
            {"TopicArn": topic, "Subject": subject, "Message": message},
            self._policies.resources,
        )
        denied = self._policies.first_denial(checks)
        if denied is not None:
            check, verdict = denied
            if check.via is not None:
                error = "CloudWatch Alarms does not have authorization to access the SNS topic encryption key."
            else:
                why = (
                    f"with an explicit deny in a {verdict.kind.value} policy"
                    if verdict.decision is Decision.EXPLICIT_DENY
                    else f"because no {verdict.kind.value} policy allows the SNS:Publish action"
                )
                error = f"Resource: {alarm.arn} is not authorized to perform: SNS:Publish on resource: {topic} {why}"
            self._record(
                alarm.name,
                "Action",
                f'Failed to execute action {topic}. Received error: "{error}"',
                {"actionState": "Failed", "notificationResource": topic, "publishedMessage": None, "error": error},
                now,
            )
            return
        self._client("sns").publish(TopicArn=topic, Subject=subject, Message=message)
        self._record(
            alarm.name,
            "Action",
            f"Successfully executed action {topic}",
            {"actionState": "Succeeded", "notificationResource": topic, "publishedMessage": message},
            now,
        )

    def _record(self, alarm_name: str, kind: str, summary: str, data: dict[str, Any], now: float) -> None:
        data = {**data, "stateUpdateTimestamp": iso(now)} if kind == "Action" else data
        self._history[alarm_name].append(HistoryItem(alarm_name, datetime.fromtimestamp(now, UTC), kind, summary, data))

    # -- what commands and tests read -----------------------------------------------------------

    def history(self, alarm_name: str | None = None, kind: str | None = None) -> list[HistoryItem]:
        """The alarm's history (every alarm's without a name), newest first, as DescribeAlarmHistory."""
        with self._transitions:
            items = [
                item
                for name, items in self._history.items()
                if alarm_name in (None, name)
                for item in items
                if kind in (None, item.kind)
            ]
        return sorted(items, key=lambda item: item.timestamp, reverse=True)

    def notifications(self) -> list[AlarmNotification]:
        """Every alarm message published to the alarms' topics since the last call."""
        sqs = self._client("sqs")
        received: list[AlarmNotification] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self._notification_queue, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return received
            for item in batch:
                envelope = json.loads(item["Body"])
                message = json.loads(envelope["Message"])
                received.append(
                    AlarmNotification(
                        topic_arn=envelope["TopicArn"],
                        subject=envelope.get("Subject"),
                        alarm_name=message["AlarmName"],
                        old_state=message["OldStateValue"],
                        new_state=message["NewStateValue"],
                        reason=message["NewStateReason"],
                        message=envelope["Message"],
                    )
                )
                sqs.delete_message(QueueUrl=self._notification_queue, ReceiptHandle=item["ReceiptHandle"])

    def _client(self, service: str) -> Any:
        """A client of CloudWatch's own session, one per thread."""
        clients: dict[str, Any] = self._clients.__dict__.setdefault("by_service", {})
        if service not in clients:
            clients[service] = _service_client(service)
        return clients[service]

    # -- moto's CloudWatch ----------------------------------------------------------------------

    def _backend(self) -> CloudWatchBackend:
        backend: CloudWatchBackend = cloudwatch_backends[LOCAL_ACCOUNT][REGION]
        return backend

    def _put_metric_data(self, new: Sequence[tuple[MetricKey, float, float]]) -> None:
        """The new datapoints into moto's CloudWatch, for GetMetricStatistics and friends.

        Straight into the backend, as moto's PutMetricData handler passes them: the engine's own
        datapoints need no API round trip (serialized, routed and parsed again, it was 4 % of the
        engine's time under ``pipeline serve``'s load).
        """
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for metric, timestamp, value in new:
            by_namespace.setdefault(metric.namespace, []).append(metric_datum(metric, timestamp, value))
        backend = self._backend()
        for namespace, data in by_namespace.items():
            backend.put_metric_data(namespace, data)


def metric_datum(metric: MetricKey, timestamp: float, value: float) -> dict[str, Any]:
    """One datum as moto's PutMetricData handler gives it to the backend: its time in naive UTC."""
    return {
        "MetricName": metric.name,
        "Dimensions": metric.as_api()["Dimensions"],
        "Timestamp": datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None),
        "Value": value,
    }


# CloudWatch's own calls (creating the alarms, publishing their messages) are the service's, not
# the pipeline's: they go through a session of their own, without the default session's hooks (the
# handlers' SDK faults and permissions). One for the process, reading its models through the
# process's loader: a session of its own would parse them again (60 ms of a warm `pipeline run`).
_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def _service_client(service: str) -> Any:
    global _session  # noqa: PLW0603 - the process's one session, made on first use
    with _session_lock:  # neither making a session nor making its clients is thread-safe
        if _session is None:
            _session = boto3.session.Session(region_name=REGION)
            _session._session.register_component("data_loader", botocore_loader())
        return _session.client(service)


def log_event(event: dict[str, Any], execution_arn: str) -> dict[str, Any]:
    """A history event as Step Functions writes it to the state machine's log group (level ALL,
    with execution data): its ``*EventDetails`` becomes ``details``."""
    details = next((value for name, value in event.items() if name.endswith("EventDetails")), None)
    logged: dict[str, Any] = {
        "id": str(event["id"]),
        "type": event["type"],
        "previous_event_id": str(event.get("previousEventId", 0)),
        "event_timestamp": str(int(epoch(event["timestamp"]) * 1000)),
        "execution_arn": execution_arn,
    }
    if details is not None:
        logged["details"] = details
    return logged


def epoch(moment: datetime | str) -> float:
    """Seconds since the epoch of a history event's time: moto keeps ISO 8601 text (UTC), a
    redrive's own events a datetime."""
    parsed = moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _number(event: dict[str, Any], value: str) -> float | None:
    """A metric filter's MetricValue for one event: a number, or the number a selector names."""
    if not value.startswith("$."):
        return float(value)
    found: Any = event
    for part in value[2:].split("."):
        found = found.get(part) if isinstance(found, dict) else None
    return float(found) if isinstance(found, int | float) and not isinstance(found, bool) else None


def alarm_message(alarm: AlarmSpec, old: str, new: str, reason: str, *, now: float, created: float) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an alarm's SNS actions."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": LOCAL_ACCOUNT,
        "AlarmConfigurationUpdatedTimestamp": iso(created),
        "NewStateValue": new,
        "NewStateReason": reason,
        "StateChangeTime": iso(now),
        "Region": REGION_NAMES.get(REGION, REGION),
        "AlarmArn": alarm.arn,
        "OldStateValue": old,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": _trigger(alarm),
    }


def _message_dimensions(metric: MetricKey) -> list[dict[str, str]]:
    return [{"value": value, "name": name} for name, value in metric.dimensions]


def _trigger(alarm: AlarmSpec) -> dict[str, Any]:
    rule = {
        "Period": alarm.period,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm,
        "ComparisonOperator": alarm.comparison,
        "Threshold": alarm.threshold,
        "TreatMissingData": alarm.treat_missing_data,
        "EvaluateLowSampleCountPercentile": "",
    }
    stat = alarm.result.stat
    if alarm.single_metric and stat is not None:
        return {
            "MetricName": stat.metric.name,
            "Namespace": stat.metric.namespace,
            "StatisticType": "Statistic",
            "Statistic": stat.stat.upper(),
            "Unit": None,
            "Dimensions": _message_dimensions(stat.metric),
            **rule,
        }
    metrics = []
    for query in alarm.queries:
        entry: dict[str, Any] = {"Id": query.id, "ReturnData": query.return_data}
        if query.label is not None:
            entry["Label"] = query.label
        if query.stat is None:
            entry["Expression"] = query.expression
        else:
            entry["MetricStat"] = {
                "Metric": {
                    "Dimensions": _message_dimensions(query.stat.metric),
                    "MetricName": query.stat.metric.name,
                    "Namespace": query.stat.metric.namespace,
                },
                "Period": query.stat.period,
                "Stat": query.stat.stat,
            }
        metrics.append(entry)
    return {**rule, "Metrics": metrics}


def _put_metric_alarm(alarm: AlarmSpec) -> dict[str, Any]:
    """PutMetricAlarm's parameters for an alarm of the template."""
    params: dict[str, Any] = {
        "AlarmName": alarm.name,
        "ActionsEnabled": alarm.actions_enabled,
        "AlarmActions": list(alarm.alarm_actions),
        "OKActions": list(alarm.ok_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm,
        "Threshold": alarm.threshold,
        "ComparisonOperator": alarm.comparison,
        "TreatMissingData": alarm.treat_missing_data,
    }
    if alarm.description is not None:
        params["AlarmDescription"] = alarm.description
    stat = alarm.result.stat
    if alarm.single_metric and stat is not None:
        return {**params, **stat.metric.as_api(), "Statistic": stat.stat, "Period": stat.period}
    params["Metrics"] = [
        {
            "Id": query.id,
            "ReturnData": query.return_data,
            **({"Label": query.label} if query.label is not None else {}),
            **(
                {"Expression": query.expression}
                if query.stat is None
                else {
                    "MetricStat": {
                        "Metric": query.stat.metric.as_api(),
                        "Period": query.stat.period,
                        "Stat": query.stat.stat,
                    }
                }
            ),
        }
        for query in alarm.queries
    ]
    return params


@contextmanager
def installed(engine: AlarmEngine) -> Iterator[AlarmEngine]:
    """Hook the engine into moto (alarm state changes, alarm history) and evaluate on the scaled
    clock until the block ends. Execution ends reach it through ``AlarmEngine.execution_ended``."""
    original_set_state = CloudWatchBackend.set_alarm_state

    def set_alarm_state(
        backend: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str, state_value: str
    ) -> None:
        if not engine.owns(backend, alarm_name):
            original_set_state(backend, alarm_name, reason, reason_data, state_value)
            return
        with engine.changing_state():
            old = engine.state(alarm_name)
            original_set_state(backend, alarm_name, reason, reason_data, state_value)
            if old != state_value:
                engine.transitioned(alarm_name, old, state_value, reason, reason_data)

    def describe_alarm_history(response: CloudWatchResponse) -> ActionResult:
        names = response._get_param("AlarmName")
        items = engine.history(names, response._get_param("HistoryItemType"))
        limit = response._get_param("MaxRecords")
        return ActionResult({"AlarmHistoryItems": [item.as_api() for item in items[: limit or None]]})

    CloudWatchBackend.set_alarm_state = set_alarm_state  # type: ignore[method-assign,assignment]
    CloudWatchResponse.describe_alarm_history = describe_alarm_history  # type: ignore[attr-defined]
    stop = threading.Event()
    ticker = threading.Thread(target=engine.run, args=(stop,), name="local-alarms", daemon=True)
    try:
        engine.create_resources()
        ticker.start()
        yield engine
    finally:
        stop.set()
        if ticker.is_alive():
            ticker.join(timeout=5)
        CloudWatchBackend.set_alarm_state = original_set_state  # type: ignore[method-assign]
        del CloudWatchResponse.describe_alarm_history  # type: ignore[attr-defined]
