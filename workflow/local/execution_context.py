"""The context object's times as AWS gives them: ISO 8601 strings in UTC milliseconds.

moto 5.2.5 puts the execution's start ``datetime`` into ``$$.Execution.StartTime``, so a state that
passes it on (the ledger writes it to DynamoDB) fails with "Object of type datetime is not JSON
serializable", and writes ``$$.State.EnteredTime`` as ``isoformat()`` (``+00:00``, microseconds).
AWS gives both as strings such as ``2019-03-26T20:14:13.192Z``
(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html): one format,
so that the ledger's times compare as strings in time order. ``installed`` wraps
``ExecutionWorker._get_evaluation_environment`` and ``CommonStateField._eval_state_input`` (called
right after moto sets ``EnteredTime``), each guarded by a test in
``tests/workflow/test_moto_reliances.py``; a redriven execution keeps its start time.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from workflow.local.interpreter import CommonStateField, ExecutionWorker


def context_time(moment: datetime.datetime) -> str:
    """A datetime in the context object's format: ``2019-03-26T20:14:13.192Z``."""
    utc = (moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)).astimezone(datetime.UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


@contextmanager
def installed() -> Iterator[None]:
    """Give every execution started in the block AWS's ``StartTime`` and ``EnteredTime``."""
    original = ExecutionWorker._get_evaluation_environment
    original_state_input = CommonStateField._eval_state_input

    def evaluation_environment(self: ExecutionWorker) -> Any:
        environment = original(self)
        execution = environment.states.context_object.context_object_data["Execution"]
        if isinstance(execution["StartTime"], datetime.datetime):
            execution["StartTime"] = context_time(execution["StartTime"])
        return environment

    def eval_state_input(self: CommonStateField, env: Any) -> None:
        state = env.states.context_object.context_object_data["State"]
        state["EnteredTime"] = context_time(datetime.datetime.fromisoformat(state["EnteredTime"]))
        original_state_input(self, env)

    ExecutionWorker._get_evaluation_environment = evaluation_environment  # type: ignore[method-assign]
    CommonStateField._eval_state_input = eval_state_input  # type: ignore[method-assign]
    try:
        yield
    finally:
        ExecutionWorker._get_evaluation_environment = original  # type: ignore[method-assign]
        CommonStateField._eval_state_input = original_state_input  # type: ignore[method-assign]
