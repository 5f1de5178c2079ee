"""``arn:aws:states:::states:startExecution`` (and ``.sync``, ``.sync:2``) on moto's interpreter.

moto 5.2.5 declares the integration but stubs the two methods that map between the state's
parameters and the SDK call (``StateTaskService._normalise_parameters``/``_normalise_response``),
so ``StateMachineArn`` reaches botocore as it is and every call fails with ``States.Runtime``.
``installed`` teaches ``StateTaskServiceSfn`` both directions: the state's PascalCase parameters
become the API's camelCase ones (``stateMachineArn``, ``name``, ``input``), and the API's answer
becomes the integration's PascalCase output (``ExecutionArn``, ``StartDate``; with ``.sync``:
``Status``, ``Output``, ``Error``, ``Cause``...), which moto's own ``.sync`` resolvers read. Dates
become epoch milliseconds: moto's history cannot hold a datetime (``DescribeExecution`` fails on it);
no state here reads them.

``.sync`` waits by polling ``DescribeExecution`` every 0.5 s of real time; the poll goes through
the environment's scaled clock, as Retry and Wait delays do, without being recorded as either.

Each reliance is guarded by a test in ``tests/workflow/test_moto_reliances.py``. AWS's own names
for the errors are kept: a name taken by another input is
``StepFunctions.ExecutionAlreadyExistsException``; a child that did not succeed fails a ``.sync``
task with ``States.TaskFailed`` and the child's DescribeExecution (``Status``, ``Error``,
``Cause``) as the cause (https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)

from workflow.local.clock import ScaledClock


def api_name(key: str) -> str:
    """A state parameter's name as the Step Functions API spells it: ``StateMachineArn`` -> ``stateMachineArn``."""
    return key[:1].lower() + key[1:]


def integration_name(key: str) -> str:
    """An API field's name as the integration's output spells it: ``executionArn`` -> ``ExecutionArn``."""
    return key[:1].upper() + key[1:]


def integration_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return value


def integration_output(response: dict[str, Any]) -> None:
    """Rename a response's fields in place as the integration outputs them.

    Only the response's own fields and its ``...Details`` objects: ``Input`` and ``Output`` (parsed
    by ``.sync:2``) are the child's data and keep their keys.
    """
    for key in list(response):
        value = integration_value(response.pop(key))
        if key.endswith("Details") and isinstance(value, dict):
            value = {integration_name(inner): integration_value(item) for inner, item in value.items()}
        response[integration_name(key)] = value


@contextmanager
def installed(clock: ScaledClock) -> Iterator[None]:
    """Run ``states:startExecution`` tasks until the block ends, polling ``.sync`` on ``clock``."""
    original_parameters = StateTaskServiceSfn._normalise_parameters
    original_response = StateTaskServiceSfn._normalise_response
    callback_globals = vars(state_task_service_callback)
    original_time = callback_globals["time"]

    def normalise_parameters(
        self: StateTaskServiceSfn,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        original_parameters(self, parameters, boto_service_name, service_action_name)  # Input -> JSON text
        for key in list(parameters):
            parameters[api_name(key)] = parameters.pop(key)

    def normalise_response(
        self: StateTaskServiceSfn,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        original_response(self, response, boto_service_name, service_action_name)
        if isinstance(response, dict):
            integration_output(response)

    def poll_sleep(seconds: float) -> None:
        time.sleep(seconds * clock.scale)

    StateTaskServiceSfn._normalise_parameters = normalise_parameters  # type: ignore[method-assign]
    StateTaskServiceSfn._normalise_response = normalise_response  # type: ignore[method-assign,assignment]
    # The .sync wait loop calls ``time.sleep`` through its module global ``time``, and nothing else of it.
    callback_globals["time"] = SimpleNamespace(sleep=poll_sleep)
    try:
        yield
    finally:
        StateTaskServiceSfn._normalise_parameters = original_parameters  # type: ignore[method-assign]
        StateTaskServiceSfn._normalise_response = original_response  # type: ignore[method-assign]
        callback_globals["time"] = original_time
