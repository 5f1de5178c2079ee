"""moto's Step Functions interpreter, loaded and run without the work the pipeline does not need,
and told what the engine must know of it.

Five changes, each guarded by a test in ``tests/workflow/test_moto_reliances.py``:

1. **Import without AWS Batch.** The interpreter imports every service integration; its Batch
   one imports ``moto.batch.utils`` for one enum, and importing ``moto.batch`` imports moto's
   whole EC2 emulation, which reads botocore's endpoint data for every region and every
   instance type (1.5-8 s on this machine, most of a warm ``pipeline run``). While the
   interpreter is imported, ``moto.batch`` is a bare package, so only ``moto.batch.utils`` runs;
   the placeholder is removed after, so a later ``import moto.batch`` is the real one.
2. **Definitions parsed once.** moto parses the definition on ``CreateStateMachine`` and again
   for every execution (ANTLR: 0.1-1 s each, the first of a process the slowest). The parsed
   program is kept, pickled, on disk (``.pipeline/cache/asl``, next to the synth cache) by the
   definition's digest, and once in memory for every execution of that definition. A program is
   a tree of declarations: what an execution evaluates lives in its ``Environment`` (its heap is
   keyed by each component's ``heap_key``), which is why moto's own inline Map runs one program's
   components in parallel threads. The one thing a component writes on itself is that key, on
   first use; it is set on every component before the program is shared, so two executions never
   race to write it. (Unpickling a copy per execution cost 6-30 ms of the engine's single
   interpreter lock per run: a quarter of what ``pipeline serve`` spent on 200 files.)
   Likewise each JSONPath expression (``$.source.key``) is compiled once: moto compiles it again
   (a new PLY parser, its tables read again) every time a state reads or writes a path.
3. **Endings reported.** moto sets an execution's final status in
   ``BaseExecutionWorkerCommunication.terminated``; the engine is told there, so a wait for an
   execution wakes when it ends instead of polling.
4. **One client per service.** moto's interpreter builds a new boto3 client for every Task
   (10-100 ms each); within one environment the same client serves every Task (botocore clients
   are thread-safe to call).
5. **Whose execution a thread evaluates.** Every interpreter call signs as ``ak``; the state machine
   whose execution is being evaluated is read from each component's context object
   (``$$.StateMachine.Id``; a Map's children evaluate with their parent's), so that ``access.py``
   judges a call as the role of the machine that makes it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import pickle
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from importlib.metadata import version
from pathlib import Path
from typing import Any

from workflow.local.model_cache import write_whole


def _import_without_batch() -> None:
    if "moto.stepfunctions.parser.models" in sys.modules or "moto.batch" in sys.modules:
        importlib.import_module("moto.stepfunctions.parser.models")
        return
    spec = importlib.util.find_spec("moto.batch")
    if spec is None or spec.submodule_search_locations is None:
        importlib.import_module("moto.stepfunctions.parser.models")
        return
    placeholder = types.ModuleType("moto.batch")
    placeholder.__path__ = list(spec.submodule_search_locations)
    sys.modules["moto.batch"] = placeholder
    try:
        importlib.import_module("moto.stepfunctions.parser.models")
    finally:
        if sys.modules.get("moto.batch") is placeholder:
            del sys.modules["moto.batch"]


_import_without_batch()

# The interpreter's parts the engine adjusts, imported once the placeholder above has done its work
# (other modules of the engine import them from here, so that none imports the parser first).
from moto.stepfunctions.parser.asl.component.common.path import result_path  # noqa: E402
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent  # noqa: E402
from moto.stepfunctions.parser.asl.component.state import state as state_module  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (  # noqa: E402
    StateTaskLambda,
)
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField  # noqa: E402
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser  # noqa: E402
from moto.stepfunctions.parser.asl.utils import boto_client, json_path  # noqa: E402
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication  # noqa: E402
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker  # noqa: E402
from moto.stepfunctions.parser.models import StepFunctionsParserBackend  # noqa: E402
from moto.stepfunctions.parser.utils import TMP_THREADS  # noqa: E402

__all__ = [
    "TMP_THREADS",
    "CommonStateField",
    "ExecutionWorker",
    "StateTask",
    "StateTaskLambda",
    "StepFunctionsParserBackend",
    "cache_key",
    "clients_shared",
    "current_state_machine",
    "endings_reported",
    "json_paths_compiled_once",
    "parses_cached",
    "state_module",
    "state_task_lambda",
    "state_task_service",
]

_PARSER_PACKAGE = "moto.stepfunctions.parser"
# Read once: importlib.metadata scans the installed distributions on every call. "keyed": the
# cached programs are pickled with their heap keys set (``keyed``); an older cache's were not.
_VERSIONS = f"moto=={version('moto')} python {sys.version_info[:2]} keyed"


def cache_key(definition: str) -> str:
    """The digest a parsed definition is kept under: the text, moto's version and Python's."""
    digest = hashlib.sha256(definition.encode())
    digest.update(_VERSIONS.encode())
    return digest.hexdigest()


@contextmanager
def parses_cached(directory: Path) -> Iterator[None]:
    """Serve ``AmazonStateLanguageParser.parse`` from a cache (memory, then pickled programs in
    ``directory``) until the block ends: one program per definition, shared by its executions.
    A definition that does not parse is never cached."""
    original = AmazonStateLanguageParser.parse
    programs: dict[str, Any] = {}
    lock = threading.Lock()

    def parse(definition: str) -> tuple[Any, Any]:
        key = cache_key(definition)
        with lock:
            program = programs.get(key)
        if program is not None:
            # moto's callers use the program, never the parse tree.
            return program, None
        blob = _read(directory / f"{key}.pickle")
        tree = None
        if blob is None:
            program, tree = original(definition)
            keyed(program)
            write_whole(directory / f"{key}.pickle", pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL))
        else:
            # Keyed before it was written: its components carry their heap keys (40 ms of a warm start).
            program = pickle.loads(blob)  # noqa: S301 - the engine's own cache, written by this code
        with lock:
            # Two first executions may both have read it: every caller gets the one kept.
            program = programs.setdefault(key, program)
        return program, tree

    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]
    try:
        yield
    finally:
        AmazonStateLanguageParser.parse = staticmethod(original)  # type: ignore[method-assign]


def keyed(program: Any) -> Any:
    """Give every component of ``program`` its ``heap_key`` now, the one attribute moto sets on a
    component while evaluating it, so that executions sharing the program never write it."""
    for component in components(program):
        _ = component.heap_key
    return program


def components(program: Any) -> Iterator[EvalComponent]:
    """Every component of a parsed program, each once."""
    seen: set[int] = set()
    pending: list[Any] = [program]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, EvalComponent):
            yield node
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list | tuple | set | frozenset):
            pending.extend(node)
        elif type(node).__module__.startswith(_PARSER_PACKAGE) and hasattr(node, "__dict__"):
            pending.extend(vars(node).values())


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


@contextmanager
def json_paths_compiled_once() -> Iterator[None]:
    """moto's ``json_path`` and ``result_path`` modules compile expressions with their global
    ``parse``: a cached one until the block ends (a compiled expression is only read, by
    ``find`` and ``update_or_create``)."""
    originals = {module: vars(module)["parse"] for module in (json_path, result_path)}
    for module, original in originals.items():
        module.parse = functools.lru_cache(maxsize=4096)(original)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, original in originals.items():
            module.parse = original  # type: ignore[attr-defined]


@contextmanager
def clients_shared() -> Iterator[None]:
    """One interpreter client per (region, service) until the block ends.

    moto's modules bind ``boto_client_for`` by name when they import it, so each module of the
    interpreter that holds it gets the shared version; each gets its original back at the end.
    """
    original: Callable[..., Any] = boto_client.boto_client_for
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def shared(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto signs every interpreter call as "ak", whatever credentials a state names: the
        # client is the same for all of them.
        with lock:
            client = clients.get((region, service))
            if client is None:
                client = clients[(region, service)] = original(region=region, service=service)
        return client

    holders = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith(_PARSER_PACKAGE) and getattr(module, "boto_client_for", None) is original
    ]
    for module in holders:
        module.boto_client_for = shared  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in holders:
            module.boto_client_for = original  # type: ignore[attr-defined]


@contextmanager
def endings_reported(
    ended: Callable[[Any], None], guard: Callable[[], AbstractContextManager[Any]] = nullcontext
) -> Iterator[None]:
    """Call ``ended(execution)`` with moto's execution object each time an execution (or a redrive
    of one) reaches its final status. ``guard()`` is held from before the status is set until
    ``ended`` returns: whoever takes it and then sees the execution ended sees what ``ended`` did."""
    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        with guard():
            try:
                original(self)
            finally:
                ended(self.execution)

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseExecutionWorkerCommunication.terminated = original  # type: ignore[method-assign]


_evaluating = threading.local()


def current_state_machine() -> str | None:
    """The ARN of the state machine whose execution this thread is evaluating, if any: every
    interpreter call signs as ``ak``, so this is how its caller is told apart (a Map's children
    evaluate in threads of their own, with their parent's context, so they count as their parent)."""
    arn: str | None = getattr(_evaluating, "state_machine", None)
    return arn


@contextmanager
def state_machines_tracked() -> Iterator[None]:
    """Record, per thread, the state machine each component evaluation belongs to (read from the
    context object ``$$.StateMachine.Id``) until the block ends."""
    original = EvalComponent.eval

    def evaluate(self: EvalComponent, env: Any) -> None:
        _evaluating.state_machine = env.states.context_object.context_object_data["StateMachine"]["Id"]
        original(self, env)

    EvalComponent.eval = evaluate  # type: ignore[method-assign]
    try:
        yield
    finally:
        EvalComponent.eval = original  # type: ignore[method-assign]
