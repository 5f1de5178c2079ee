"""Powertools Logger, Tracer and Metrics, created once and shared by every task.

Every handler is decorated in the same order (see ``observed``): the logger injects the Lambda
context and the correlation id (the execution ARN, so one run's logs line up across
functions), the tracer opens the X-Ray segment, metrics flush at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def observed(handler: Handler) -> Handler:
    """Apply the standard decorators to a Lambda handler."""
    traced = tracer.capture_lambda_handler(handler)
    with_metrics = metrics.log_metrics(traced)
    decorated: Handler = logger.inject_lambda_context(correlation_id_path="executionArn")(with_metrics)
    return decorated
