"""The local runtime's one reliance on Powertools internals, tested on its own.

``workflow/local/lambdas.py`` sends each function's logs to the run's log file (as CloudWatch would
keep them) by pointing the ``logging.StreamHandler`` that Powertools' ``Logger`` adds to the logger
named after the function's service at that file. If a Powertools upgrade stops adding that handler
or names the logger otherwise, this test fails before the logs silently reach the terminal.
"""

from __future__ import annotations

import io
import json
import logging
import sys

from workflow.deployment import POWERTOOLS_SERVICE_NAME
from workflow.local.environment import LocalPipeline
from workflow.local.template import StackModel


def test_function_logs_go_to_the_run_log_through_the_service_logger_s_stream_handler(
    stack_model: StackModel,
) -> None:
    # Given an environment whose function logs go to a stream of its own
    log_stream = io.StringIO()
    with LocalPipeline(stack_model, log_stream=log_stream) as pipeline:
        # When a run makes the handlers log
        pipeline.upload("incoming/x.jsonl", b'{"a": 1}\n')
        pipeline.wait(pipeline.started[0], timeout=30)
        # Then Powertools logs through a StreamHandler of the logger named after the service, now
        # pointed at that stream
        handlers = [
            handler
            for handler in logging.getLogger(POWERTOOLS_SERVICE_NAME).handlers
            if isinstance(handler, logging.StreamHandler)
        ]
        assert handlers, "Powertools' Logger no longer adds a StreamHandler to the service's logger"
        assert any(handler.stream is log_stream for handler in handlers)
    # And the stream holds the functions' JSON lines, correlated with the execution
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines() if line.startswith("{")]
    functions = {line.get("service") for line in lines if "level" in line}
    assert functions == {POWERTOOLS_SERVICE_NAME}
    assert any(str(line.get("correlation_id", "")).startswith("arn:aws:states:") for line in lines)
    # And once the environment is closed, the handlers write where they wrote before
    assert all(handler.stream is not log_stream for handler in handlers)
    assert any(handler.stream is sys.stdout for handler in handlers)
