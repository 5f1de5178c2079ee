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

``.sync`` waits by polling ``DescribeExecution`` every 0.5 s of real time, and that is left as it
is, not put on the scaled clock: a DescribeExecution costs moto 3-12 ms of CPU, so polls at the
tests' scale (every half millisecond per waiting task) take the interpreter's time from the runs
they wait for. Measured on a backfill of 100 objects at concurrency 10: polls every 0.1 s took
28.8 s, every 0.5 s 18.6 s.

Each reliance is guarded by a test in ``tests/workflow/test_moto_reliances.py``. AWS's own names
for the errors are kept: a name taken by another input is
``StepFunctions.ExecutionAlreadyExistsException``; a child that did not succeed fails a ``.sync``
task with ``States.TaskFailed`` and the child's DescribeExecution (``Status``, ``Error``,
``Cause``) as the cause (https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)


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
def installed() -> Iterator[None]:
    """Run ``states:startExecution`` tasks until the block ends."""
    original_parameters = StateTaskServiceSfn._normalise_parameters
    original_response = StateTaskServiceSfn._normalise_response

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

    StateTaskServiceSfn._normalise_parameters = normalise_parameters  # type: ignore[method-assign]
    StateTaskServiceSfn._normalise_response = normalise_response  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        StateTaskServiceSfn._normalise_parameters = original_parameters  # type: ignore[method-assign]
        StateTaskServiceSfn._normalise_response = original_response  # type: ignore[method-assign]
