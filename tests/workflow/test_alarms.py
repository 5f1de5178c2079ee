"""The stack's alarms on the local engine: what pages a person, what does not, and what a topic
policy without the alarms' allow does to their messages.

Alarms are evaluated on the scaled clock (a 5-minute period passes in 0.3 s); every wait has a
deadline. Messages are read from the alarm topic's subscription, the alarm history through
CloudWatch's DescribeAlarmHistory, metrics through GetMetricStatistics, as a client of AWS reads them.
"""

from __future__ import annotations

import copy
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from moto.dynamodb.exceptions import ResourceNotFoundException
from moto.dynamodb.models import DynamoDBBackend

from tests.scenarios import run_upload
from workflow.deployment import METRICS_NAMESPACE, STACK_NAME
from workflow.local.alarm_model import AlarmSpec, MetricKey
from workflow.local.alarms import AlarmEngine, AlarmNotification
from workflow.local.environment import LocalPipeline
from workflow.local.lambdas import Invocation
from workflow.local.template import load_stack

DEADLINE_SECONDS = 10.0
T = TypeVar("T")


def eventually(look: Callable[[], T | None], what: str) -> T:
    """The first truthy answer of ``look``, polled until the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        found = look()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {DEADLINE_SECONDS:.0f} s")
        time.sleep(0.02)


def alarm_on(
    pipeline: LocalPipeline, namespace: str, metric: str, function: str | None = None, machine: str | None = None
) -> AlarmSpec:
    """The template's alarm that reads ``metric`` (of ``function``, for a Lambda metric; of the state
    machine ``machine``, for a Step Functions one)."""
    (alarm,) = [
        alarm
        for alarm in pipeline.alarms.model.alarms
        for query in alarm.queries
        if query.stat is not None
        and (query.stat.metric.namespace, query.stat.metric.name) == (namespace, metric)
        and function in (None, dict(query.stat.metric.dimensions).get("FunctionName"))
        and machine in (None, dict(query.stat.metric.dimensions).get("StateMachineArn"))
    ]
    return alarm


def failed_runs_alarm(pipeline: LocalPipeline) -> AlarmSpec:
    return alarm_on(pipeline, "AWS/States", "ExecutionsFailed", machine=pipeline.stack.state_machine_arn)


def evaluated_ok(pipeline: LocalPipeline, alarm: AlarmSpec) -> AlarmSpec:
    """``alarm`` once evaluated, OK, as a deployed stack's alarm is when its first file lands: a new
    alarm is INSUFFICIENT_DATA until its first evaluation, which a quick first run can precede."""
    pipeline.alarms.evaluate()
    assert pipeline.alarms.state(alarm.name) == "OK"
    return alarm


def messages_of(pipeline: LocalPipeline, alarm: AlarmSpec) -> Callable[[], list[AlarmNotification]]:
    """A look at the alarm topic that keeps what it has seen: the alarm's messages so far."""
    seen: list[AlarmNotification] = []

    def look() -> list[AlarmNotification]:
        seen.extend(pipeline.alarm_notifications())
        return [notification for notification in seen if notification.alarm_name == alarm.name]

    return look


def history(pipeline: LocalPipeline, alarm: AlarmSpec, kind: str) -> list[str]:
    items = pipeline.client("cloudwatch").describe_alarm_history(AlarmName=alarm.name, HistoryItemType=kind)
    return [item["HistorySummary"] for item in items["AlarmHistoryItems"]]


def total(pipeline: LocalPipeline, metric: MetricKey) -> float:
    """The metric's sum over the last hour, as GetMetricStatistics gives it."""
    now = datetime.now(UTC)
    answer = pipeline.client("cloudwatch").get_metric_statistics(
        Namespace=metric.namespace,
        MetricName=metric.name,
        Dimensions=metric.as_api()["Dimensions"],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=1),
        Period=3600,
        Statistics=["Sum"],
    )
    return float(sum(point["Sum"] for point in answer["Datapoints"]))


def test_a_run_failed_on_a_system_error_pages_through_the_alarm_topic(pipeline: LocalPipeline) -> None:
    # Given Fetch fails on a system error, which no retrier catches
    pipeline.lambdas.inject_fault(pipeline.function_for_state("Fetch"), error="DiskFull")
    # And the failed-runs alarm evaluated, OK
    alarm = evaluated_ok(pipeline, failed_runs_alarm(pipeline))

    # When a run fails on it
    execution = run_upload(pipeline, "orders.jsonl", b'{"a": 1}\n')
    assert (execution.status, execution.error) == ("FAILED", "DiskFull")

    # Then the failed-runs alarm goes to ALARM on the scaled clock, and its message reaches the alarm topic
    (notification,) = eventually(messages_of(pipeline, alarm), "ALARM message")
    message = json.loads(notification.message)
    assert notification.topic_arn == pipeline.stack.alarm_topic_arn
    assert notification.subject == f'ALARM: "{alarm.name}" in US East (N. Virginia)'
    assert (message["AlarmName"], message["AlarmArn"]) == (alarm.name, alarm.arn)
    assert (message["OldStateValue"], message["NewStateValue"]) == ("OK", "ALARM")
    assert message["NewStateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [1.0 (")
    assert message["Trigger"]["Metrics"][0]["Expression"] == alarm.result.expression
    assert (message["Trigger"]["Period"], message["Trigger"]["Threshold"]) == (300, 1.0)
    # And the alarm's history records the action carried out
    assert history(pipeline, alarm, "Action") == [f"Successfully executed action {pipeline.stack.alarm_topic_arn}"]
    # And a period later, with no failure in it, the alarm is OK again, silently (it has no OK action)
    eventually(lambda: pipeline.alarms.state(alarm.name) == "OK", "return to OK")
    assert pipeline.alarm_notifications() == []


def test_a_failure_recorder_that_fails_pages_through_its_own_alarm(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the ledger refusing the failure recorder's lookup of a failed run's item
    def query(backend: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        raise ResourceNotFoundException("refused by the test")

    monkeypatch.setattr(DynamoDBBackend, "query", query)
    (recorder,) = [machine for machine in pipeline.stack.state_machines if machine.type == "EXPRESS"]
    alarm = alarm_on(pipeline, "AWS/States", "ExecutionsFailed", machine=recorder.arn)

    # When a run fails on a system error, and the recorder its end starts fails too
    pipeline.lambdas.inject_fault(pipeline.function_for_state("Fetch"), error="DiskFull")
    execution = run_upload(pipeline, "orders.jsonl", b'{"a": 1}\n')
    assert (execution.status, execution.error) == ("FAILED", "DiskFull")

    # Then the recorder's own alarm pages (no rule announces the recorder's end): the run stays
    # unrecorded in the ledger until a reconcile
    (notification,) = eventually(messages_of(pipeline, alarm), f"ALARM message of {alarm.name}")
    message = json.loads(notification.message)
    assert (message["AlarmName"], message["NewStateValue"]) == (alarm.name, "ALARM")
    assert message["NewStateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [1.0 (")
    assert notification.topic_arn == pipeline.stack.alarm_topic_arn


def test_a_business_rejection_pages_nobody_and_counts_on_the_rejection_metric(pipeline: LocalPipeline) -> None:
    # Given an empty file: Validate raises EmptyObject, a business error
    alarm = failed_runs_alarm(pipeline)

    # When it is uploaded and rejected, and the alarms evaluate what the run left
    execution = run_upload(pipeline, "empty.csv", b"")
    assert (execution.status, execution.error) == ("FAILED", "EmptyObject")
    pipeline.alarms.evaluate()

    # Then Step Functions counted a failed execution and Lambda an error...
    failed, rejected = (query.stat.metric for query in alarm.queries if query.stat is not None)
    validate = pipeline.function_for_state("Validate")
    assert total(pipeline, failed) == 1
    assert total(pipeline, MetricKey.of("AWS/Lambda", "Errors", {"FunctionName": validate})) == 1
    # ...and the rejection metric a rejection, which the failed-runs alarm subtracts
    assert (rejected.namespace, rejected.name) == (METRICS_NAMESPACE, "RunsRejected")
    assert total(pipeline, rejected) == 1
    # So the alarm never went to ALARM, and nothing reached the alarm topic
    assert "Alarm updated from OK to ALARM" not in history(pipeline, alarm, "StateUpdate")
    assert pipeline.alarms.state(alarm.name) == "OK"
    assert pipeline.alarm_notifications() == []


@pytest.fixture
def without_the_alarms_allow(template: dict[str, Any], tmp_path: Path) -> Iterator[LocalPipeline]:
    """An environment of the template whose alarm topic policy lacks the statement admitting the alarms."""
    edited = copy.deepcopy(template)
    removed = 0
    for body in edited["Resources"].values():
        if body["Type"] == "AWS::SNS::TopicPolicy":
            document = body["Properties"]["PolicyDocument"]
            kept = [statement for statement in document["Statement"] if statement.get("Sid") != "PublishFromTheAlarms"]
            removed += len(document["Statement"]) - len(kept)
            document["Statement"] = kept
    assert removed == 1
    path = tmp_path / "template.json"
    path.write_text(json.dumps(edited))
    with LocalPipeline(load_stack(path, STACK_NAME), log_stream=io.StringIO()) as local:
        yield local


def test_without_the_topics_allow_the_alarm_fires_but_its_action_fails_and_nothing_is_delivered(
    without_the_alarms_allow: LocalPipeline,
) -> None:
    # Given the alarm topic's policy without its CloudWatch allow (the deploy review's finding 1)
    pipeline = without_the_alarms_allow
    # And the failed-runs alarm evaluated, OK
    alarm = evaluated_ok(pipeline, failed_runs_alarm(pipeline))
    topic = pipeline.stack.alarm_topic_arn

    # When a run fails on a system error
    pipeline.lambdas.inject_fault(pipeline.function_for_state("Fetch"), error="DiskFull")
    run_upload(pipeline, "orders.jsonl", b'{"a": 1}\n')

    # Then the alarm goes to ALARM, its action fails as CloudWatch records it, and no message is delivered
    (failure,) = eventually(lambda: history(pipeline, alarm, "Action"), "action in the alarm's history")
    assert failure == (
        f'Failed to execute action {topic}. Received error: "Resource: {alarm.arn} is not authorized to perform: '
        f'SNS:Publish on resource: {topic} because no resource-based policy allows the SNS:Publish action"'
    )
    assert "Alarm updated from OK to ALARM" in history(pipeline, alarm, "StateUpdate")
    assert pipeline.alarm_notifications() == []


def test_a_rejection_is_never_judged_without_its_subtraction(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rejected run adds a failed execution and, from its log, a rejection, which the failed-runs
    # alarm subtracts. Both must be judged together, and fall in one period, whatever the timing:
    # this test holds an evaluation just before it judges, and the recording of the run's end
    # between its two datapoints (both happen on a busy machine, where the test once paged).
    alarm = failed_runs_alarm(pipeline)
    judging, judge = threading.Event(), threading.Event()
    evaluate_alarm = AlarmEngine._evaluate

    def held_evaluate(engine: AlarmEngine, alarm: AlarmSpec, now: float, earliest: float) -> None:
        judging.set()
        judge.wait(DEADLINE_SECONDS)
        # (judged as of the moment it goes on, so that the run's period is among those judged)
        evaluate_alarm(engine, alarm, time.time(), earliest)

    recording, released = threading.Event(), threading.Event()
    log_events = AlarmEngine._log_events

    def held_log_events(engine: AlarmEngine, execution_arn: str, events: Any) -> None:
        recording.set()
        released.wait(DEADLINE_SECONDS)
        log_events(engine, execution_arn, events)

    monkeypatch.setattr(AlarmEngine, "_evaluate", held_evaluate)
    monkeypatch.setattr(AlarmEngine, "_log_events", held_log_events)
    evaluation = threading.Thread(target=pipeline.alarms.evaluate, daemon=True)
    evaluation.start()
    assert judging.wait(DEADLINE_SECONDS), "the evaluation did not start"
    # When an empty file is rejected while the evaluation is held (its end waits for the judging,
    # so the run's end is reported two seconds after its terminal event)
    pipeline.upload("incoming/empty.csv", b"")
    recording.wait(2)
    judge.set()
    evaluation.join(DEADLINE_SECONDS)
    released.set()
    monkeypatch.undo()

    # Then no judging saw the failure without the rejection: the alarm never went to ALARM
    assert pipeline.wait(pipeline.started[0], timeout=DEADLINE_SECONDS).error == "EmptyObject"
    pipeline.alarms.evaluate()
    assert not [change for change in history(pipeline, alarm, "StateUpdate") if change.endswith("to ALARM")]
    assert pipeline.alarm_notifications() == []


def test_set_alarm_state_runs_the_alarms_actions(pipeline: LocalPipeline) -> None:
    # Given the failed-runs alarm, evaluated OK
    alarm = evaluated_ok(pipeline, failed_runs_alarm(pipeline))

    # When a client sets it to ALARM (what `pipeline smoke` does to a deployed alarm)
    pipeline.client("cloudwatch").set_alarm_state(
        AlarmName=alarm.name, StateValue="ALARM", StateReason="Testing the alarm topic"
    )

    # Then its message is on the alarm topic at once, with the client's reason
    (notification,) = pipeline.alarm_notifications()
    assert (notification.alarm_name, notification.new_state) == (alarm.name, "ALARM")
    assert notification.reason == "Testing the alarm topic"


def test_an_undelivered_event_in_the_dead_letter_queue_pages(pipeline: LocalPipeline) -> None:
    # Given the alarm on the dead-letter queue's depth
    alarm = alarm_on(pipeline, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    (query,) = alarm.queries
    assert query.stat is not None
    sqs = pipeline.client("sqs")
    queue = sqs.get_queue_url(QueueName=dict(query.stat.metric.dimensions)["QueueName"])["QueueUrl"]

    # When EventBridge parks an event there
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"detail-type": "Object Created"}))

    # Then the alarm pages, its message naming the queue's metric
    (notification,) = eventually(messages_of(pipeline, alarm), "ALARM message")
    trigger = json.loads(notification.message)["Trigger"]
    assert (trigger["Namespace"], trigger["MetricName"], trigger["Statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "MAXIMUM",
    )


def test_a_throttled_invocation_recorded_late_pages_through_its_functions_throttles_alarm(
    pipeline: LocalPipeline,
) -> None:
    # Given the Throttles alarm of Fetch
    fetch = pipeline.function_for_state("Fetch")
    alarm = alarm_on(pipeline, "AWS/Lambda", "Throttles", fetch)

    # When the Lambda emulator records an invocation of Fetch refused for concurrency, a second late
    # (more than three 0.3-s periods: the evaluations of its period have passed)
    refused = time.time() - 1.0
    pipeline.lambdas.invocations.append(Invocation(fetch, "live", refused, refused, 0.0, None, throttled=True))

    # Then the alarm pages, and the other functions' do not
    (notification,) = eventually(messages_of(pipeline, alarm), "ALARM message")
    assert notification.new_state == "ALARM"
    assert [other.alarm_name for other in pipeline.alarm_notifications()] == []
