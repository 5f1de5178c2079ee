"""How CloudWatch decides an alarm's state from its metric's datapoints: pure, no AWS.

Time is the local engine's: datapoints carry real (wall-clock) timestamps, and an alarm's period
lasts ``period * scale`` real seconds, so a 5-minute period passes in 0.3 s at the default scale
of 0.001 (``workflow/local/clock.py``). Periods are aligned on the engine's start (``origin``).
What is shown to people (reasons, the period in the message) is in the template's own seconds.

The rule, per CloudWatch's documentation
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html):
the alarm looks at its last ``EvaluationPeriods`` periods, up to the one the evaluation falls in;
each period's value is the statistic of that period's datapoints (or the metric-math expression
of its queries' values); ALARM when at least ``DatapointsToAlarm`` of them cross the threshold,
OK otherwise. A period without a value is treated as ``TreatMissingData`` says: ``breaching``,
``notBreaching``, or left out (``ignore`` keeps the current state when no period has a value,
``missing`` goes to INSUFFICIENT_DATA).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from workflow.local.alarm_model import (
    ALARM,
    COMPARISON_WORDS,
    COMPARISONS,
    INSUFFICIENT_DATA,
    OK,
    AlarmSpec,
    MetricKey,
    MetricStat,
)


class MetricStore:
    """Datapoints by metric, as ``(timestamp, value)``; thread-safe."""

    def __init__(self) -> None:
        self._points: dict[MetricKey, list[tuple[float, float]]] = {}
        self._lock = threading.Lock()

    def add(self, metric: MetricKey, timestamp: float, value: float) -> None:
        with self._lock:
            self._points.setdefault(metric, []).append((timestamp, value))

    def values(self, metric: MetricKey, start: float, end: float) -> list[float]:
        """The values of the datapoints in ``[start, end)``."""
        with self._lock:
            points = list(self._points.get(metric, ()))
        return [value for timestamp, value in points if start <= timestamp < end]

    def forget_before(self, timestamp: float) -> None:
        """Drop datapoints no alarm can look at any more."""
        with self._lock:
            for metric, points in self._points.items():
                self._points[metric] = [point for point in points if point[0] >= timestamp]


def statistic(name: str, values: Sequence[float]) -> float | None:
    """A CloudWatch statistic of one period's values; ``None`` for a period without any."""
    if not values:
        return None
    if name == "Sum":
        return math.fsum(values)
    if name == "Average":
        return math.fsum(values) / len(values)
    if name == "Minimum":
        return min(values)
    if name == "Maximum":
        return max(values)
    return float(len(values))  # SampleCount


@dataclass(frozen=True, slots=True)
class Timeline:
    """The engine's clock: where periods start, and how long a template second lasts here."""

    origin: float  # wall-clock seconds at which every period boundary is aligned
    scale: float  # real seconds per template second

    def period_index(self, timestamp: float, period: int) -> int:
        return math.floor((timestamp - self.origin) / (period * self.scale))

    def period_start(self, index: int, period: int) -> float:
        return self.origin + index * period * self.scale


@dataclass(frozen=True, slots=True)
class Period:
    start: float  # wall-clock seconds
    value: float | None
    sample_count: float


@dataclass(frozen=True, slots=True)
class Decision:
    state: str
    reason: str
    reason_data: dict[str, Any]


def periods(alarm: AlarmSpec, store: MetricStore, timeline: Timeline, last_index: int) -> list[Period]:
    """The alarm's last ``EvaluationPeriods`` periods up to ``last_index``, oldest first."""
    expression = alarm.expression()
    stats = [(query.id, query.stat) for query in alarm.queries if query.stat is not None]
    found = []
    for index in range(last_index - alarm.evaluation_periods + 1, last_index + 1):
        start = timeline.period_start(index, alarm.period)
        end = timeline.period_start(index + 1, alarm.period)
        values: dict[str, float | None] = {}
        samples = 0
        for query_id, stat in stats:
            points = store.values(stat.metric, start, end)
            values[query_id] = statistic(stat.stat, points)
            samples += len(points)
        found.append(Period(start, expression(values), float(samples)))
    return found


def decide(alarm: AlarmSpec, recent: Sequence[Period], current_state: str, now: float) -> Decision | None:
    """The state the alarm's periods call for, with CloudWatch's reason, when it is not the current
    one; ``None``: the alarm stays as it is."""
    crosses = COMPARISONS[alarm.comparison]
    present = [period for period in recent if period.value is not None]
    missing = len(recent) - len(present)
    treatment = alarm.treat_missing_data
    if not present and treatment in ("ignore", "missing"):
        if treatment == "ignore" or current_state == INSUFFICIENT_DATA:
            return None
        return Decision(
            INSUFFICIENT_DATA,
            f"Insufficient Data: {len(recent)} datapoint{_plural(len(recent))} were unknown.",
            _reason_data(alarm, recent, now),
        )
    breaching = [period for period in present if period.value is not None and crosses(period.value, alarm.threshold)]
    breaching_count = len(breaching) + (missing if treatment == "breaching" else 0)
    state = ALARM if breaching_count >= alarm.datapoints_to_alarm else OK
    if state == current_state:
        return None
    needed = alarm.datapoints_to_alarm
    minimum = f"(minimum {needed} datapoint{_plural(needed)} for {current_state} -> {state} transition)"
    if not present:
        treated = "Breaching" if treatment == "breaching" else "NonBreaching"
        reason = (
            f"Threshold Crossed: no datapoints were received for {len(recent)} period{_plural(len(recent))} and "
            f"{missing} missing datapoint{_plural(missing)} {'was' if missing == 1 else 'were'} treated as [{treated}]."
        )
        return Decision(state, reason, _reason_data(alarm, recent, now))
    shown = breaching if state == ALARM else [period for period in present if period not in breaching]
    words = COMPARISON_WORDS[alarm.comparison]
    listed = ", ".join(f"{period.value} ({_stamp(period.start)})" for period in reversed(shown))
    verb = "was" if len(shown) == 1 else "were"
    negation = "" if state == ALARM else "not "
    reason = (
        f"Threshold Crossed: {len(shown)} out of the last {len(recent)} datapoints [{listed}] "
        f"{verb} {negation}{words} the threshold ({alarm.threshold}) {minimum}."
    )
    return Decision(state, reason, _reason_data(alarm, recent, now))


def iso(timestamp: float) -> str:
    """CloudWatch's timestamp format in messages and reason data: ``2024-06-05T12:01:00.123+0000``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _stamp(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%d/%m/%y %H:%M:%S")


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


def _reason_data(alarm: AlarmSpec, recent: Sequence[Period], now: float) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": iso(now),
        "startDate": iso(recent[0].start),
        "period": alarm.period,
        "recentDatapoints": [period.value for period in recent if period.value is not None],
        "threshold": alarm.threshold,
        "evaluatedDatapoints": [
            {"timestamp": iso(period.start), "sampleCount": period.sample_count, "value": period.value}
            for period in reversed(recent)
            if period.value is not None
        ],
    }
    result = alarm.result.stat
    if isinstance(result, MetricStat):
        data["statistic"] = result.stat
    return data
