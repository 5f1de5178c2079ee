"""Telling people when something went wrong, outside the workflow itself.

- Failure notifications: EventBridge rules on Step Functions "Execution Status Change" for
  FAILED (on a system error), TIMED_OUT and ABORTED publish a readable message to the runs topic.
  The workflow's own NotifyRejected covers business errors; system errors fail the Task on purpose
  (so the run can be redriven) and are announced here.
- Alarms page a person for system failures only (the backstop, since status-change events are
  best effort): runs that failed on a system error, runs that timed out, undeliverable trigger
  events, throttled functions -> the alarms topic; and executions of the stack's other state
  machines (the ledger's failure recorder, the backfill) that failed or timed out, which no rule
  announces: a failure recorder that fails leaves a failed run unrecorded until a reconcile. A
  business rejection ends FAILED too, but it is the uploader's to fix and NotifyRejected has told
  them: it is counted on a metric of its own (``RunsRejected``, from the state machine's log) and
  subtracted from the failed runs. A Lambda ``Errors`` alarm would page for every raised business
  error, so there is none: a function error that matters fails its run, and a run that fails is
  what pages.
- Only these rules and alarms may publish to the topics (each is admitted by its ARN).
- A dashboard of the same signals.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.notifications import admit_service
from stacks.triggers import DELIVERY_MAX_AGE, DELIVERY_RETRIES
from tasks.common.errors import BUSINESS_ERROR_NAMES
from workflow.deployment import METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME, REGION
from workflow.executions import ABORTED, FAILED, STATUS_CHANGE, TIMED_OUT, console_url

PERIOD = Duration.minutes(5)
REJECTIONS_METRIC = "RunsRejected"


def failure_message() -> events.RuleTargetInput:
    """What a person reads: which run, what went wrong, where to look, what to do next.

    Only the error's name and a link: the event's ``cause`` holds a Lambda error's stack trace (module
    paths, fragments of the failing record) and ``input`` the whole request, and an e-mail subscription
    would carry them in clear text outside the stack's KMS and TLS boundary. The console link shows both
    to those allowed to see the execution.
    """
    detail = events.EventField.from_path
    execution_arn = detail("$.detail.executionArn")
    return events.RuleTargetInput.from_object(
        {
            "summary": f"Pipeline run {detail('$.detail.name')} ended {detail('$.detail.status')}",
            "status": detail("$.detail.status"),
            "executionArn": execution_arn,
            "name": detail("$.detail.name"),
            "error": detail("$.detail.error"),
            # The console shows the execution graph with the failed state highlighted.
            "console": console_url(execution_arn, region=REGION),
            "redrive": f"after fixing the cause: aws stepfunctions redrive-execution --execution-arn {execution_arn}",
        }
    )


def rejection_pattern() -> logs.IFilterPattern:
    """A run that ended FAILED on a business error, as the state machine's log records it.

    Step Functions logs each history event as ``{"type", "details", "execution_arn", ...}``;
    ``details`` of ``ExecutionFailed`` holds the error, also when execution data is left out.
    """
    return logs.FilterPattern.all(
        logs.FilterPattern.string_value("$.type", "=", "ExecutionFailed"),
        logs.FilterPattern.any(
            *(logs.FilterPattern.string_value("$.details.error", "=", name) for name in BUSINESS_ERROR_NAMES)
        ),
    )


class PipelineAlerts(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        state_machine_logs: logs.ILogGroup,
        other_state_machines: dict[str, sfn.StateMachine],
        functions: dict[str, lambda_.Function],
        runs_topic: sns.ITopic,
        alarms_topic: sns.ITopic,
        dead_letter_queue: sqs.Queue,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # A business rejection also ends FAILED, but NotifyRejected has already told subscribers why:
        # announce only the failures nobody has explained yet.
        patterns: dict[str, dict[str, Any]] = {
            "SystemFailure": {"status": [FAILED], "error": [{"anything-but": list(BUSINESS_ERROR_NAMES)}]},
            "TimedOutOrAborted": {"status": [TIMED_OUT, ABORTED]},
        }
        # The rules publish to a reference to the topic: given the topic itself, CDK's target would
        # add an allow for events.amazonaws.com with no condition (any rule of any account) to the
        # topic's policy. admit_service below names these rules instead.
        runs_topic_reference = sns.Topic.from_topic_arn(self, "RunsTopic", runs_topic.topic_arn)
        self.failure_rules = []
        for name, detail in patterns.items():
            rule = events.Rule(
                self,
                name,
                description=f"Announce pipeline runs that ended so: {detail['status']}",
                event_pattern=events.EventPattern(
                    source=["aws.states"],
                    detail_type=[STATUS_CHANGE],
                    detail={**detail, "stateMachineArn": [state_machine.state_machine_arn]},
                ),
            )
            rule.add_target(
                targets.SnsTopic(
                    runs_topic_reference,
                    message=failure_message(),
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=DELIVERY_RETRIES,
                    max_event_age=DELIVERY_MAX_AGE,
                )
            )
            self.failure_rules.append(rule)
        admit_service(
            runs_topic,
            sid="PublishFromTheFailureRules",
            service="events.amazonaws.com",
            sources=[rule.rule_arn for rule in self.failure_rules],
        )

        rejections = logs.MetricFilter(
            self,
            "Rejections",
            log_group=state_machine_logs,
            filter_pattern=rejection_pattern(),
            metric_namespace=METRICS_NAMESPACE,
            metric_name=REJECTIONS_METRIC,
            metric_value="1",
            unit=cloudwatch.Unit.COUNT,
        )
        rejected = rejections.metric(statistic="Sum", period=PERIOD, label="Runs rejected (business errors)")
        # Failed runs minus rejections. Step Functions delivers its logs best effort
        # (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html), its metrics not: a
        # rejection whose log event is lost pages once, a system failure is never missed.
        system_failures = cloudwatch.MathExpression(
            expression="failed - FILL(rejected, 0)",
            using_metrics={"failed": state_machine.metric_failed(period=PERIOD), "rejected": rejected},
            period=PERIOD,
            label="Runs failed on a system error",
        )

        alarms = [
            self._alarm(
                "ExecutionsFailed",
                system_failures,
                1,
                "A pipeline run failed on a system error (business rejections do not count)",
            ),
            self._alarm(
                "ExecutionsTimedOut", state_machine.metric_timed_out(period=PERIOD), 1, "A pipeline run timed out"
            ),
            self._alarm(
                "UndeliveredEvents",
                dead_letter_queue.metric_approximate_number_of_messages_visible(period=PERIOD),
                1,
                "EventBridge could not deliver a trigger or failure event",
            ),
        ]
        for name, function in functions.items():
            alarms.append(
                self._alarm(f"{name}Throttles", function.metric_throttles(period=PERIOD), 1, f"{name} was throttled")
            )
        for name, machine in other_state_machines.items():
            alarms.append(
                self._alarm(
                    f"{name}ExecutionsFailed", machine.metric_failed(period=PERIOD), 1, f"A {name} execution failed"
                )
            )
            alarms.append(
                self._alarm(
                    f"{name}ExecutionsTimedOut",
                    machine.metric_timed_out(period=PERIOD),
                    1,
                    f"A {name} execution timed out",
                )
            )
        alarm_action = actions.SnsAction(alarms_topic)
        for alarm in alarms:
            alarm.add_alarm_action(alarm_action)
        self.alarms = alarms
        admit_service(
            alarms_topic,
            sid="PublishFromTheAlarms",
            service="cloudwatch.amazonaws.com",
            sources=[alarm.alarm_arn for alarm in alarms],
        )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(24))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Runs",
                left=[
                    state_machine.metric_started(period=PERIOD),
                    state_machine.metric_succeeded(period=PERIOD),
                    rejected,
                    system_failures,
                    state_machine.metric_timed_out(period=PERIOD),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(title="Run duration", left=[state_machine.metric_time(period=PERIOD)], width=12),
            cloudwatch.GraphWidget(
                title="Records",
                left=[
                    cloudwatch.Metric(
                        namespace=METRICS_NAMESPACE,
                        metric_name=name,
                        statistic="Sum",
                        period=PERIOD,
                        dimensions_map={"service": POWERTOOLS_SERVICE_NAME},
                    )
                    for name in ("RecordsProcessed", "RecordsRejected")
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Function errors (business rejections included) and throttles",
                left=[function.metric_errors(period=PERIOD) for function in functions.values()],
                right=[function.metric_throttles(period=PERIOD) for function in functions.values()],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Function duration (p90)",
                left=[function.metric_duration(period=PERIOD, statistic="p90") for function in functions.values()],
                width=24,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms, width=24),
        )

    def _alarm(self, name: str, metric: cloudwatch.IMetric, threshold: int, description: str) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            name,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
