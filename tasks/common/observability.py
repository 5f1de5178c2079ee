"""Powertools Logger and Metrics, created once and shared by every task.

Every handler is decorated in the same order (see ``observed``): the logger injects the Lambda
context and the correlation id (the execution ARN, so one run's logs line up across
functions), metrics flush at the end.

Tracing is Lambda's active tracing (the function's segment, with its init and invocation
times) and the state machine's, not the X-Ray SDK: importing the SDK builds botocore clients at
once, which cost 200 to 500 ms of every cold start here (``make bench`` reports import times).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
# Most steps publish no application metric (Fetch, WriteOutput, Notify; Validate when it rejects),
# and Powertools warns of every such flush: a line in each execution environment's logs that says
# nothing. Silenced as Powertools documents it
# (https://docs.powertools.aws.dev/lambda/python/latest/core/metrics/#raising-schemavalidationerror-on-empty-metrics).
warnings.filterwarnings("ignore", "No application metrics to publish")  # (a regex matched at the start)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def observed(handler: Handler) -> Handler:
    """Apply the standard decorators to a Lambda handler."""
    with_metrics = metrics.log_metrics(handler)
    decorated: Handler = logger.inject_lambda_context(correlation_id_path="executionArn")(with_metrics)
    return decorated
