"""CloudWatch's alarm rule, as the local engine applies it: statistics, periods, thresholds,
M out of N, missing data, metric math, and the words of its reasons."""

from __future__ import annotations

import dataclasses

import pytest

from workflow.local.alarm_model import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmSpec,
    MetricKey,
    MetricQuery,
    MetricStat,
    compile_expression,
    read_alarms,
)
from workflow.local.alarm_rules import MetricStore, Timeline, decide, periods, statistic
from workflow.local.template import TemplateError

FAILED = MetricKey.of("AWS/States", "ExecutionsFailed", {"StateMachineArn": "arn:machine"})
REJECTED = MetricKey.of("Pipeline", "RunsRejected")
TIMELINE = Timeline(origin=1_000.0, scale=0.001)  # a 300 s period lasts 0.3 s
NOW = 1_000.0 + 0.3 * 10 + 0.1  # in the 11th period


def alarm(**changes: object) -> AlarmSpec:
    base = AlarmSpec(
        name="Failed",
        arn="arn:aws:cloudwatch:us-east-1:123456789012:alarm:Failed",
        description=None,
        queries=(MetricQuery("m1", MetricStat(FAILED, 300, "Sum"), None, None, True),),
        single_metric=True,
        period=300,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        threshold=1.0,
        comparison="GreaterThanOrEqualToThreshold",
        treat_missing_data="notBreaching",
        actions_enabled=True,
        alarm_actions=("arn:aws:sns:us-east-1:123456789012:Alarms",),
        ok_actions=(),
        insufficient_data_actions=(),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def judged(spec: AlarmSpec, store: MetricStore, current: str = OK) -> str:
    """The alarm's state after an evaluation now, from ``current``."""
    recent = periods(spec, store, TIMELINE, TIMELINE.period_index(NOW, spec.period))
    decision = decide(spec, recent, current, NOW)
    assert decision is None or decision.state != current, "a decision is a change"
    return current if decision is None else decision.state


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Sum", 6.0), ("Average", 2.0), ("Minimum", 1.0), ("Maximum", 3.0), ("SampleCount", 3.0)],
)
def test_statistics_of_one_periods_values(name: str, expected: float) -> None:
    assert statistic(name, [1.0, 2.0, 3.0]) == expected
    assert statistic(name, []) is None


def test_a_datapoint_counts_in_the_period_it_falls_in_and_not_after() -> None:
    # Given one failure in the current period
    store = MetricStore()
    store.add(FAILED, NOW - 0.05, 1.0)
    # Then the alarm is in ALARM now...
    assert judged(alarm(), store) == ALARM
    # ...and a period later, with no datapoint, OK again (missing data not breaching)
    later = TIMELINE.period_index(NOW, 300) + 1
    recent = periods(alarm(), store, TIMELINE, later)
    decision = decide(alarm(), recent, ALARM, NOW + 0.3)
    assert decision is not None
    assert decision.state == OK
    assert decision.reason == (
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as "
        "[NonBreaching]."
    )


def test_the_reason_names_the_datapoints_the_threshold_and_the_transition() -> None:
    store = MetricStore()
    store.add(FAILED, NOW - 0.05, 1.0)
    store.add(FAILED, NOW - 0.04, 1.0)
    recent = periods(alarm(), store, TIMELINE, TIMELINE.period_index(NOW, 300))

    decision = decide(alarm(), recent, OK, NOW)

    assert decision is not None
    assert decision.reason.startswith("Threshold Crossed: 1 out of the last 1 datapoints [2.0 (01/01/70 00:")
    assert decision.reason.endswith(
        "was greater than or equal to the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    assert decision.reason_data["recentDatapoints"] == [2.0]
    assert decision.reason_data["statistic"] == "Sum"
    assert decision.reason_data["period"] == 300


def test_m_out_of_n_needs_m_breaching_periods() -> None:
    # Given 2 of the last 3 periods over the threshold
    store = MetricStore()
    for periods_ago in (0, 2):
        store.add(FAILED, NOW - 0.3 * periods_ago, 1.0)
    three = alarm(evaluation_periods=3, datapoints_to_alarm=2)
    # Then 2 out of 3 alarms, 3 out of 3 does not
    assert judged(three, store) == ALARM
    assert judged(dataclasses.replace(three, datapoints_to_alarm=3), store) == OK


@pytest.mark.parametrize(
    ("treatment", "current", "expected"),
    [
        ("notBreaching", ALARM, OK),
        ("breaching", OK, ALARM),
        ("ignore", ALARM, ALARM),
        ("missing", OK, INSUFFICIENT_DATA),
    ],
)
def test_missing_data_is_treated_as_the_alarm_says(treatment: str, current: str, expected: str) -> None:
    assert judged(alarm(treat_missing_data=treatment), MetricStore(), current) == expected


@pytest.mark.parametrize(
    ("comparison", "value", "expected"),
    [
        ("GreaterThanThreshold", 1.0, OK),
        ("GreaterThanThreshold", 2.0, ALARM),
        ("LessThanThreshold", 0.0, ALARM),
        ("LessThanOrEqualToThreshold", 1.0, ALARM),
        ("LessThanOrEqualToThreshold", 1.5, OK),
    ],
)
def test_comparisons(comparison: str, value: float, expected: str) -> None:
    store = MetricStore()
    store.add(FAILED, NOW - 0.05, value)
    assert judged(alarm(comparison=comparison), store) == expected


def math_alarm() -> AlarmSpec:
    return alarm(
        single_metric=False,
        queries=(
            MetricQuery("expr", None, "failed - FILL(rejected, 0)", "system failures", True),
            MetricQuery("failed", MetricStat(FAILED, 300, "Sum"), None, None, False),
            MetricQuery("rejected", MetricStat(REJECTED, 300, "Sum"), None, None, False),
        ),
    )


@pytest.mark.parametrize(
    ("failed", "rejected", "expected"),
    [
        (1, 0, ALARM),  # a system failure, no rejection in the period: FILL counts none
        (1, 1, OK),  # a rejection: failed minus rejected is 0
        (2, 1, ALARM),  # one of each
        (0, 1, OK),  # a rejection alone: no failed series in the period, no value
    ],
)
def test_failed_runs_minus_rejections(failed: int, rejected: int, expected: str) -> None:
    store = MetricStore()
    for _ in range(failed):
        store.add(FAILED, NOW - 0.05, 1.0)
    for _ in range(rejected):
        store.add(REJECTED, NOW - 0.05, 1.0)
    assert judged(math_alarm(), store) == expected


def test_metric_math_beyond_arithmetic_and_fill_is_refused() -> None:
    with pytest.raises(TemplateError, match="is not emulated"):
        compile_expression("ANOMALY_DETECTION_BAND(m1)", {"m1"})
    with pytest.raises(TemplateError, match="is not emulated"):
        compile_expression("m1 + unknown", {"m1"})
    assert compile_expression("(a + 2) * b / 4 - -1", {"a", "b"})({"a": 2.0, "b": 3.0}) == 4.0
    assert compile_expression("a / b", {"a", "b"})({"a": 1.0, "b": 0.0}) is None


def test_an_alarm_the_emulator_cannot_evaluate_is_refused_when_the_template_is_read() -> None:
    template = {
        "Outputs": {"StateMachineArn": {"Value": {"Ref": "Machine"}}},
        "Resources": {
            "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {}},
            "Slow": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "MetricName": "Duration",
                    "Namespace": "AWS/Lambda",
                    "ExtendedStatistic": "p99",
                    "Period": 300,
                    "EvaluationPeriods": 1,
                    "Threshold": 1000,
                    "ComparisonOperator": "GreaterThanThreshold",
                },
            },
        },
    }
    with pytest.raises(TemplateError, match="Slow: extended statistics"):
        read_alarms(template, "Stack")
