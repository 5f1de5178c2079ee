"""Three costs of moto's interpreter that a backfill multiplies, cached for the environment's life.

Measured with ``yappi`` in CPU mode on backfills of the local stack: a dry run of 100 objects (five
states and three AWS calls per child) took about 50 ms of CPU per child, a real one about 2 s per
pipeline run, nearly all of it in three places.

- Every execution parses its definition again (ANTLR, then moto's preprocessor): 1.9 s of CPU for
  the pipeline's definition, whose ledger states carry many intrinsic functions. The parsed program
  holds only the definition's declarations (each evaluation's state lives in its environment), so
  each definition text is parsed once and its program shared by the executions that run it.

- Every Task (and the Map's item reader) asks ``boto_client_for`` for a new boto3 client: botocore
  builds its methods, copies the session's event hooks and resolves its endpoint rules each time,
  15-20 ms a client. The clients it returns differ only by region and service (the credentials are
  moto's constants), and botocore clients are thread-safe, so one per (region, service) is shared
  by every execution of the environment.
- Every JSONPath is parsed again at each use (``jsonpath_ng``'s PLY parser rebuilds its tables,
  about 1 ms a path); a parsed path is immutable and ``find`` pure, so each is parsed once.

``installed`` wraps ``ExecutionWorker._get_evaluation_entrypoint`` and replaces the module globals
that moto's interpreter calls (guarded by a test in
``tests/workflow/test_moto_reliances.py``); clients are created after the environment has set up
its default session and hooks, and forgotten when the block ends.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from jsonpath_ng.ext.parser import parse as extended_parse
from jsonpath_ng.parser import parse as plain_parse
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import (
    resource_eval_s3 as item_reader_s3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
    resource_eval_s3 as result_writer_s3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_batch,
    state_task_service_dynamodb,
    state_task_service_ecs,
    state_task_service_events,
    state_task_service_glue,
    state_task_service_sfn,
    state_task_service_sns,
    state_task_service_sqs,
    state_task_service_unsupported,
)
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

# Every module of moto 5.2.5's interpreter that imports ``boto_client_for`` by name.
CLIENT_USERS: tuple[ModuleType, ...] = (
    boto_client,
    item_reader_s3,
    result_writer_s3,
    lambda_eval_utils,
    state_task_service_aws_sdk,
    state_task_service_batch,
    state_task_service_dynamodb,
    state_task_service_ecs,
    state_task_service_events,
    state_task_service_glue,
    state_task_service_sfn,
    state_task_service_sns,
    state_task_service_sqs,
    state_task_service_unsupported,
)
# (module, the name it imports its JSONPath parser under, the parser)
PATH_PARSERS: tuple[tuple[ModuleType, str, Callable[[str], Any]], ...] = (
    (json_path, "parse", extended_parse),
    (result_path, "parse", plain_parse),
)


@contextmanager
def installed() -> Iterator[None]:
    """Parse each definition and JSONPath once and share the interpreter's clients, until the block ends."""
    original_entrypoint = ExecutionWorker._get_evaluation_entrypoint
    programs: dict[str, Any] = {}
    programs_lock = threading.Lock()

    def evaluation_entrypoint(self: ExecutionWorker) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        with programs_lock:
            if definition not in programs:
                programs[definition] = original_entrypoint(self)
            return programs[definition]

    original_client_for = boto_client.boto_client_for
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service)
        with lock:
            if key not in clients:
                clients[key] = original_client_for(region, service, state_credentials)
            return clients[key]

    saved_clients = {module: module.boto_client_for for module in CLIENT_USERS}
    saved_parsers = [(module, name, getattr(module, name)) for module, name, _ in PATH_PARSERS]
    ExecutionWorker._get_evaluation_entrypoint = evaluation_entrypoint  # type: ignore[method-assign]
    for module in CLIENT_USERS:
        module.boto_client_for = boto_client_for  # type: ignore[attr-defined]
    for module, name, parser in PATH_PARSERS:
        setattr(module, name, functools.lru_cache(maxsize=4096)(parser))
    try:
        yield
    finally:
        ExecutionWorker._get_evaluation_entrypoint = original_entrypoint  # type: ignore[method-assign]
        for module, client_for in saved_clients.items():
            module.boto_client_for = client_for  # type: ignore[attr-defined]
        for module, name, parser in saved_parsers:
            setattr(module, name, parser)
