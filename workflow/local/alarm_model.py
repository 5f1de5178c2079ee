"""The template's CloudWatch alarms and log metric filters, read as the local environment runs them.

``read_alarms(template, stack_name)`` gives each ``AWS::CloudWatch::Alarm`` (named, locally, by
its logical id, as every resource of the emulator) with its metric or its metric-math queries,
its rule (period, threshold, comparison, evaluation periods, datapoints to alarm, missing data)
and its actions; and each ``AWS::Logs::MetricFilter`` on the state machine's log group, whose
events the engine derives from the execution history. References are resolved to the local
names and ARNs, as CloudFormation resolves them on deploy.

What the emulator does not evaluate raises ``TemplateError`` here, when the environment starts:
anomaly-detection and composite alarms, extended statistics (``p90``), metric math beyond
arithmetic and ``FILL``, metric filters with dimensions.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from workflow.deployment import LOCAL_ACCOUNT, OUTPUT_STATE_MACHINE, REGION
from workflow.local.filter_patterns import FilterPattern, PatternError, parse
from workflow.local.template import TemplateError, _Resolver

ALARM = "ALARM"
OK = "OK"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
STATES = (ALARM, OK, INSUFFICIENT_DATA)

STATISTICS = ("Sum", "Average", "Minimum", "Maximum", "SampleCount")
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
# How CloudWatch words each comparison in a state reason ("was greater than or equal to the threshold").
COMPARISON_WORDS = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}
TREATMENTS = ("breaching", "notBreaching", "ignore", "missing")

Values = Mapping[str, float | None]
Expression = Callable[[Values], float | None]


@dataclass(frozen=True, slots=True)
class MetricKey:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...] = ()  # (name, value), sorted

    @classmethod
    def of(cls, namespace: str, name: str, dimensions: Mapping[str, str] | None = None) -> MetricKey:
        return cls(namespace, name, tuple(sorted((dimensions or {}).items())))

    def as_api(self) -> dict[str, Any]:
        """The metric as CloudWatch's API and alarm messages write it."""
        return {
            "Namespace": self.namespace,
            "MetricName": self.name,
            "Dimensions": [{"Name": name, "Value": value} for name, value in self.dimensions],
        }


@dataclass(frozen=True, slots=True)
class MetricStat:
    metric: MetricKey
    period: int  # seconds
    stat: str  # one of STATISTICS


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """One entry of an alarm's ``Metrics``: a metric with its statistic, or an expression over others."""

    id: str
    stat: MetricStat | None
    expression: str | None
    label: str | None
    return_data: bool


@dataclass(frozen=True, slots=True)
class AlarmSpec:
    name: str
    arn: str
    description: str | None
    queries: tuple[MetricQuery, ...]
    single_metric: bool  # MetricName/Namespace/Statistic on the alarm itself, not Metrics
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing_data: str
    actions_enabled: bool
    alarm_actions: tuple[str, ...]
    ok_actions: tuple[str, ...]
    insufficient_data_actions: tuple[str, ...]

    def actions_for(self, state: str) -> tuple[str, ...]:
        return {ALARM: self.alarm_actions, OK: self.ok_actions, INSUFFICIENT_DATA: self.insufficient_data_actions}[
            state
        ]

    @property
    def result(self) -> MetricQuery:
        """The query whose values the alarm compares with its threshold."""
        (result,) = [query for query in self.queries if query.return_data]
        return result

    def expression(self) -> Expression:
        """The alarm's value in one period, from each query's value in that period."""
        result = self.result
        if result.expression is None:
            return lambda values: values[result.id]
        return compile_expression(result.expression, {query.id for query in self.queries if query.stat})


@dataclass(frozen=True, slots=True)
class MetricFilterSpec:
    name: str
    pattern: FilterPattern
    metric: MetricKey
    value: str  # a number, or a "$.selector" of the event
    default_value: float | None


@dataclass(frozen=True, slots=True)
class CloudWatchModel:
    alarms: tuple[AlarmSpec, ...]
    state_machine_filters: tuple[MetricFilterSpec, ...]  # the filters on the state machine's log group

    def alarm(self, name: str) -> AlarmSpec:
        for alarm in self.alarms:
            if alarm.name == name:
                return alarm
        raise KeyError(f"no alarm {name!r} in the template")

    def metrics(self) -> set[MetricKey]:
        """Every metric an alarm reads."""
        return {query.stat.metric for alarm in self.alarms for query in alarm.queries if query.stat}


def alarm_arn(name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{LOCAL_ACCOUNT}:alarm:{name}"


def read_alarms(template: Mapping[str, Any], stack_name: str) -> CloudWatchModel:
    resources: dict[str, Any] = template["Resources"]
    resolver = _Resolver(resources, stack_name)
    alarms = tuple(
        _alarm(logical_id, resolver.resolve(body["Properties"]))
        for logical_id, body in resources.items()
        if body["Type"] == "AWS::CloudWatch::Alarm"
    )
    unsupported = sorted(
        logical_id for logical_id, body in resources.items() if body["Type"] == "AWS::CloudWatch::CompositeAlarm"
    )
    if unsupported:
        raise TemplateError(f"composite alarms are not emulated: {', '.join(unsupported)}")
    log_group = _state_machine_log_group(template)
    filters = tuple(
        _metric_filter(logical_id, body["Properties"])
        for logical_id, body in resources.items()
        if body["Type"] == "AWS::Logs::MetricFilter" and body["Properties"].get("LogGroupName") == {"Ref": log_group}
    )
    return CloudWatchModel(alarms, filters)


def _alarm(name: str, props: dict[str, Any]) -> AlarmSpec:
    comparison = props["ComparisonOperator"]
    if comparison not in COMPARISONS:
        raise TemplateError(f"alarm {name}: comparison {comparison} is not emulated")
    if "ExtendedStatistic" in props or "ThresholdMetricId" in props:
        raise TemplateError(f"alarm {name}: extended statistics and anomaly detection are not emulated")
    if "Metrics" in props:
        queries = tuple(_query(name, query) for query in props["Metrics"])
        periods = {query.stat.period for query in queries if query.stat}
        if len(periods) != 1 or sum(query.return_data for query in queries) != 1:
            raise TemplateError(f"alarm {name}: its metrics must share one period and return one series")
        (period,) = periods
        single = False
    else:
        period = int(props["Period"])
        metric = MetricKey.of(
            props["Namespace"], props["MetricName"], {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
        )
        queries = (
            MetricQuery("m1", MetricStat(metric, period, _statistic(name, props["Statistic"])), None, None, True),
        )
        single = True
    treatment = props.get("TreatMissingData", "missing")
    if treatment not in TREATMENTS:
        raise TemplateError(f"alarm {name}: TreatMissingData {treatment} is unknown")
    evaluation_periods = int(props["EvaluationPeriods"])
    spec = AlarmSpec(
        name=name,
        arn=alarm_arn(name),
        description=props.get("AlarmDescription"),
        queries=queries,
        single_metric=single,
        period=period,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=int(props.get("DatapointsToAlarm", evaluation_periods)),
        threshold=float(props["Threshold"]),
        comparison=comparison,
        treat_missing_data=treatment,
        actions_enabled=bool(props.get("ActionsEnabled", True)),
        alarm_actions=tuple(props.get("AlarmActions", [])),
        ok_actions=tuple(props.get("OKActions", [])),
        insufficient_data_actions=tuple(props.get("InsufficientDataActions", [])),
    )
    spec.expression()  # an expression the emulator cannot evaluate is refused now, not at the first period
    return spec


def _query(alarm: str, query: dict[str, Any]) -> MetricQuery:
    stat = None
    if "MetricStat" in query:
        body = query["MetricStat"]
        metric = body["Metric"]
        stat = MetricStat(
            MetricKey.of(
                metric["Namespace"], metric["MetricName"], {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            ),
            int(body["Period"]),
            _statistic(alarm, body["Stat"]),
        )
    elif "Expression" not in query:
        raise TemplateError(f"alarm {alarm}: query {query['Id']} has neither MetricStat nor Expression")
    return MetricQuery(query["Id"], stat, query.get("Expression"), query.get("Label"), query.get("ReturnData", True))


def _statistic(alarm: str, statistic: str) -> str:
    if statistic not in STATISTICS:
        raise TemplateError(f"alarm {alarm}: statistic {statistic} is not emulated (only {', '.join(STATISTICS)})")
    return statistic


def _state_machine_log_group(template: Mapping[str, Any]) -> str | None:
    """The logical id of the log group the stack's state machine logs to, if it logs."""
    machine_id = template["Outputs"][OUTPUT_STATE_MACHINE]["Value"]["Ref"]
    logging = template["Resources"][machine_id]["Properties"].get("LoggingConfiguration", {})
    for destination in logging.get("Destinations", []):
        arn = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]
        if isinstance(arn, dict) and "Fn::GetAtt" in arn:
            logical_id: str = arn["Fn::GetAtt"][0]
            return logical_id
    return None


def _metric_filter(name: str, props: dict[str, Any]) -> MetricFilterSpec:
    try:
        pattern = parse(props["FilterPattern"])
    except PatternError as exc:
        raise TemplateError(f"metric filter {name}: {exc}") from None
    (transformation,) = props["MetricTransformations"]
    if transformation.get("Dimensions"):
        raise TemplateError(f"metric filter {name}: dimensions are not emulated")
    value = str(transformation["MetricValue"])
    if not (value.startswith("$.") or re.fullmatch(r"-?\d+(\.\d+)?", value)):
        raise TemplateError(f"metric filter {name}: MetricValue {value!r} is not emulated")
    default = transformation.get("DefaultValue")
    return MetricFilterSpec(
        name=name,
        pattern=pattern,
        metric=MetricKey.of(transformation["MetricNamespace"], transformation["MetricName"]),
        value=value,
        default_value=None if default is None else float(default),
    )


# -- metric math -----------------------------------------------------------------------------------

_MATH_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/(),]))")
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}


def compile_expression(text: str, metric_ids: set[str]) -> Expression:
    """A metric-math expression of arithmetic, numbers, metric ids and ``FILL(id, number)``.

    Per period, as CloudWatch computes it: arithmetic on a period where a series has no value
    has no value; ``FILL`` gives such a period the number
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
    """
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _MATH_TOKEN.match(text, position)
        if match is None:
            raise TemplateError(f"metric math {text!r}: cannot read {text[position:]!r}")
        kind = match.lastgroup
        assert kind is not None  # one alternative always matches
        tokens.append((kind, match.group(kind)))
        position = match.end()
    parser = _MathParser(tokens, text, metric_ids)
    expression = parser.sum()
    if parser.position != len(tokens):
        raise TemplateError(f"metric math {text!r}: unexpected {tokens[parser.position][1]!r}")
    return expression


class _MathParser:
    def __init__(self, tokens: list[tuple[str, str]], text: str, metric_ids: set[str]) -> None:
        self.tokens = tokens
        self.text = text
        self.metric_ids = metric_ids
        self.position = 0

    def _peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise TemplateError(f"metric math {self.text!r} ends too early")
        self.position += 1
        return self.tokens[self.position - 1]

    def _expect(self, symbol: str) -> None:
        if self._take()[1] != symbol:
            raise TemplateError(f"metric math {self.text!r}: expected {symbol!r}")

    def _binary(self, operand: Callable[[], Expression], operators: str) -> Expression:
        left = operand()
        while (symbol := self._peek()) is not None and symbol in operators:
            self._take()
            right = operand()
            left = _apply(_ARITHMETIC[symbol], left, right)
        return left

    def sum(self) -> Expression:
        return self._binary(self.product, "+-")

    def product(self) -> Expression:
        return self._binary(self.atom, "*/")

    def atom(self) -> Expression:
        kind, value = self._take()
        if kind == "number":
            number = float(value)
            return lambda _values: number
        if value == "(":
            inner = self.sum()
            self._expect(")")
            return inner
        if value == "-":
            negated = self.atom()
            return lambda values: None if (found := negated(values)) is None else -found
        if kind == "name" and value == "FILL":
            self._expect("(")
            series = self.sum()
            self._expect(",")
            filler_kind, filler = self._take()
            if filler_kind != "number":
                raise TemplateError(f"metric math {self.text!r}: FILL takes a number here")
            self._expect(")")
            fill = float(filler)
            return lambda values: fill if (found := series(values)) is None else found
        if kind == "name" and value in self.metric_ids:
            return lambda values: values[value]
        raise TemplateError(f"metric math {self.text!r}: {value!r} is not emulated (arithmetic, ids and FILL)")


def _apply(operator: Callable[[float, float], float], left: Expression, right: Expression) -> Expression:
    def apply(values: Values) -> float | None:
        a, b = left(values), right(values)
        if a is None or b is None:
            return None
        try:
            return operator(a, b)
        except ZeroDivisionError:
            return None

    return apply
