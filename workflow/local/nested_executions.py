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

``.sync`` waits the way AWS does, for the child's end, not by moto's polling: moto asks its
resolver for the child's ``DescribeExecution`` every 0.5 s of real time, and each ask costs moto
3-12 ms of CPU, taken from the runs being waited for. ``installed(endings)`` wraps the resolvers so
that one that finds its child still running waits on ``ChildEndings`` (told of every execution's
end by the environment) and asks again when the child has ended. While it waits it looks every
``_STOPPED_CHECK_SECONDS`` whether its own execution still runs (a parent stopped through the API
stops waiting as quickly as under moto's polling), and asks anyway every ``_RECHECK_SECONDS``, a
safety net for an end it was not told of. (moto also lets a ``.sync`` task end on a task token's
callback, looked at between asks: with a token, that now takes up to ``_RECHECK_SECONDS``; the
pipeline's ``.sync`` tasks take no token.)

Each reliance is guarded by a test in ``tests/workflow/test_moto_reliances.py``. AWS's own names
for the errors are kept: a name taken by another input is
``StepFunctions.ExecutionAlreadyExistsException``; a child that did not succeed fails a ``.sync``
task with ``States.TaskFailed`` and the child's DescribeExecution (``Status``, ``Error``,
``Cause``) as the cause (https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html).
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)

# How long a waiting .sync task goes without asking after its child when no end was signalled.
_RECHECK_SECONDS = 5.0
# How often it looks whether its own execution still runs (moto's own polling interval).
_STOPPED_CHECK_SECONDS = 0.5


class ChildEndings:
    """Wakes the ``.sync`` tasks waiting for an execution when it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, set[threading.Event]] = {}

    def ended(self, execution_arn: str) -> None:
        with self._lock:
            waiters = list(self._waiting.get(execution_arn, ()))
        for waiter in waiters:
            waiter.set()

    def wake_all(self) -> None:
        """Every waiting task asks again now (executions were stopped: their tasks see it)."""
        with self._lock:
            waiters = [waiter for waiting in self._waiting.values() for waiter in waiting]
        for waiter in waiters:
            waiter.set()

    def resolved(self, execution_arn: str, resolve: Callable[[], Any], env: Any) -> Any:
        """``resolve()``'s first answer that is not ``None`` (the child ended), or ``None`` once
        the waiting execution stopped running."""
        waiter = threading.Event()
        with self._lock:
            self._waiting.setdefault(execution_arn, set()).add(waiter)
        try:
            # Registered before the first ask: an end between the two still wakes the wait.
            while True:
                waiter.clear()
                answer = resolve()
                if answer is not None:
                    return answer
                asked = time.monotonic()
                while not waiter.wait(_STOPPED_CHECK_SECONDS):
                    if not env.is_running():
                        return None
                    if time.monotonic() - asked >= _RECHECK_SECONDS:
                        break
        finally:
            with self._lock:
                waiting = self._waiting[execution_arn]
                waiting.discard(waiter)
                if not waiting:
                    del self._waiting[execution_arn]


# moto's builders of the .sync and .sync:2 resolvers (each returns a function: the child's end, or None).
_RESOLVER_BUILDERS = ("_build_sync_resolver", "_build_sync2_resolver")


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
def installed(endings: ChildEndings) -> Iterator[None]:
    """Run ``states:startExecution`` tasks until the block ends; ``.sync`` ones wait on ``endings``."""
    original_parameters = StateTaskServiceSfn._normalise_parameters
    original_response = StateTaskServiceSfn._normalise_response
    original_resolvers = {name: vars(StateTaskServiceSfn)[name] for name in _RESOLVER_BUILDERS}

    def waiting(build: Callable[..., Any]) -> Callable[..., Any]:
        def build_waiting(self: StateTaskServiceSfn, env: Any, *args: Any, **kwargs: Any) -> Any:
            # moto's builder pops the StartExecution answer off the stack: read the child's ARN first.
            child = env.stack[-1]["ExecutionArn"]
            resolve = build(self, env, *args, **kwargs)
            return lambda: endings.resolved(child, resolve, env)

        return build_waiting

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
    for name, build in original_resolvers.items():
        setattr(StateTaskServiceSfn, name, waiting(build))
    try:
        yield
    finally:
        StateTaskServiceSfn._normalise_parameters = original_parameters  # type: ignore[method-assign]
        StateTaskServiceSfn._normalise_response = original_response  # type: ignore[method-assign]
        for name, build in original_resolvers.items():
            setattr(StateTaskServiceSfn, name, build)
