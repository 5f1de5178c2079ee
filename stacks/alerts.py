"""Telling people when something went wrong, outside the workflow itself.

- Failure notifications: EventBridge rules on Step Functions "Execution Status Change" for
  FAILED (on a system error), TIMED_OUT and ABORTED publish a readable message to the runs topic.
  The workflow's own NotifyRejected covers business errors; system errors fail the Task on purpose
  (so the run can be redriven) and are announced here.
- Alarms (the backstop, since status-change events are best effort): executions failed or timed
  out, Lambda errors and throttles, undeliverable trigger events -> the alarms topic.
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
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.triggers import DELIVERY_MAX_AGE, DELIVERY_RETRIES
from tasks.common.errors import BUSINESS_ERROR_NAMES
from workflow.deployment import METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME, REGION
from workflow.executions import ABORTED, FAILED, STATUS_CHANGE, TIMED_OUT, console_url

PERIOD = Duration.minutes(5)


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


class PipelineAlerts(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        functions: dict[str, lambda_.Function],
        runs_topic: sns.ITopic,
        alarms_topic: sns.ITopic,
        dead_letter_queue: sqs.Queue,
        lambda_error_threshold: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # A business rejection also ends FAILED, but NotifyRejected has already told subscribers why:
        # announce only the failures nobody has explained yet.
        patterns: dict[str, dict[str, Any]] = {
            "SystemFailure": {"status": [FAILED], "error": [{"anything-but": list(BUSINESS_ERROR_NAMES)}]},
            "TimedOutOrAborted": {"status": [TIMED_OUT, ABORTED]},
        }
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
                    runs_topic,
                    message=failure_message(),
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=DELIVERY_RETRIES,
                    max_event_age=DELIVERY_MAX_AGE,
                )
            )
            self.failure_rules.append(rule)

        alarm_action = actions.SnsAction(alarms_topic)
        alarms = [
            self._alarm("ExecutionsFailed", state_machine.metric_failed(period=PERIOD), 1, "A pipeline run failed"),
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
                self._alarm(
                    f"{name}Errors",
                    function.metric_errors(period=PERIOD),
                    lambda_error_threshold,
                    f"{name} raised errors (business rejections count too)",
                )
            )
            alarms.append(
                self._alarm(f"{name}Throttles", function.metric_throttles(period=PERIOD), 1, f"{name} was throttled")
            )
        for alarm in alarms:
            alarm.add_alarm_action(alarm_action)
        self.alarms = alarms

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(24))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Runs",
                left=[
                    state_machine.metric_started(period=PERIOD),
                    state_machine.metric_succeeded(period=PERIOD),
                    state_machine.metric_failed(period=PERIOD),
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
                title="Function errors and throttles",
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

    def _alarm(self, name: str, metric: cloudwatch.Metric, threshold: int, description: str) -> cloudwatch.Alarm:
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
