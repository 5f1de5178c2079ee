"""``$$.Execution.StartTime`` as AWS gives it: an ISO 8601 string, not moto's datetime.

moto 5.2.5 puts the execution's start ``datetime`` into the context object, so a state that passes
``$$.Execution.StartTime`` on (the ledger writes it to DynamoDB) fails with "Object of type datetime
is not JSON serializable". AWS gives a string such as ``2019-03-26T20:14:13.192Z``
(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html): UTC,
milliseconds, ``Z``, so that start times of one engine compare as strings in time order.
``installed`` wraps ``ExecutionWorker._get_evaluation_environment`` (guarded by a test in
``tests/workflow/test_moto_reliances.py``); a redriven execution keeps its start time.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker


def context_time(moment: datetime.datetime) -> str:
    """A datetime in the context object's format: ``2019-03-26T20:14:13.192Z``."""
    utc = (moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)).astimezone(datetime.UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


@contextmanager
def installed() -> Iterator[None]:
    """Give every execution started in the block AWS's ``$$.Execution.StartTime``."""
    original = ExecutionWorker._get_evaluation_environment

    def evaluation_environment(self: ExecutionWorker) -> Any:
        environment = original(self)
        execution = environment.states.context_object.context_object_data["Execution"]
        if isinstance(execution["StartTime"], datetime.datetime):
            execution["StartTime"] = context_time(execution["StartTime"])
        return environment

    ExecutionWorker._get_evaluation_environment = evaluation_environment  # type: ignore[method-assign]
    try:
        yield
    finally:
        ExecutionWorker._get_evaluation_environment = original  # type: ignore[method-assign]
