"""The Distributed Map, as AWS runs it, on moto's interpreter.

moto 5.2.5 runs a ``Mode: DISTRIBUTED`` Map for real (children in threads, ``MaxConcurrency``
honoured, ``ItemReader`` over S3, ``ListMapRuns``/``DescribeMapRun``) but departs from AWS where a
workflow relies on it. Each correction here is a context manager wrapping one moto internal,
restored on exit, and guarded by a test in ``tests/workflow/test_moto_reliances.py``:

- ``tolerance_installed``: moto parses ``ToleratedFailureCount``/``ToleratedFailurePercentage``
  (and their ``...Path`` forms) and then ignores them: a failed child is swallowed, its slot in
  the output is ``null``, and the Map Run and the execution succeed. AWS fails the Map Run with
  ``States.ExceedToleratedFailureThreshold`` once failed (and timed-out) children exceed the count
  or the percentage; with neither declared, one failed child is enough
  (https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html). The error is
  raised where moto's own Map Run code catches failures, so the history gets ``MapRunFailed``,
  ``DescribeMapRun`` says FAILED, and the Map state's ``Retry``/``Catch`` (or the execution's
  failure) follow as on AWS. moto also leaves a failed child counted ``running`` in
  ``executionCounts``; it is counted ``failed`` here, as ``DescribeMapRun`` is how progress is read.
- ``listing_installed``: the ``s3:listObjectsV2`` item reader makes one call (so it stops at 1,000
  keys), fails on a prefix with no object (``KeyError 'Contents'``), and hands children botocore's
  item shape (``ETag``, ``LastModified`` as a datetime, which later breaks ``DescribeExecution``).
  AWS pages through the whole prefix and gives each item
  ``{"Etag", "Key", "LastModified": <epoch seconds>, "Size", "StorageClass"}``
  (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html).

- ``map_run_lookup_installed``: ``ListMapRuns`` and ``DescribeMapRun`` read every execution's
  environment, which does not exist yet for an execution just started (nor while a redrive restarts
  one): moto answers 500. AWS lists no Map Run for an execution that has not reached its Map state.
- ``results_limit_installed``: a Distributed Map that does not export its children's results
  (``ResultWriter``) returns them as one array, and AWS holds that array to the 256 KiB payload
  limit (``States.DataLimitExceeded``) before ``ResultSelector``, ``ResultPath`` and ``OutputPath``:
  ``"ResultPath": null`` does not save a Map of many children
  (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html, "helpful if
  your output payload size exceeds 256 KiB"; aws/aws-cdk#24799, which fails so with ``ResultPath``
  and ``OutputPath`` null). moto checks a state's output after ``ResultPath`` only.

- ``reader_and_writer_errors_installed``: a service refusing the item reader's or the result
  writer's call (S3's ``AccessDenied``) fails the Map with ``States.Runtime`` in moto, which no
  ``States.ALL`` catches. AWS fails it with ``States.ItemReaderFailed`` or
  ``States.ResultWriterFailed`` (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html,
  "Error names").

``installed()`` enters all five. Not corrected (a workflow here must not rely on them): child
executions are frames of the parent (no child ARN, ``$$.Execution`` is the parent's,
``ListExecutions(mapRunArn=...)`` is refused), a Map Run cannot be redriven, and children past the
threshold run to the end before the Map Run fails (AWS may stop them sooner).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from workflow.local.interpreter import StepFunctionsParserBackend

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails, ResourceNotFound
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3 import (
    ResourceEvalS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.item_reader_decl import ItemReader
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.result_writer_decl import ResultWriter
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
    ToleratedFailureCountDecl,
    ToleratedFailurePercentageDecl,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
)

from workflow.local.held import Held

THRESHOLD_ERROR = StatesErrorNameType.StatesExceedToleratedFailureThreshold
# Set on a Map state's iteration component when its definition is parsed: moto replaces an
# undeclared tolerance field by a default of 0, indistinguishable from a declared 0.
_DECLARED = "_local_declared_tolerance"
# Set on a Distributed Map's iteration component: the Map state, when it exports no results.
_UNEXPORTED_BY = "_local_unexported_by"


@dataclass(frozen=True, slots=True)
class Tolerance:
    """What a Distributed Map declared: a count, a percentage, either or neither (then 0 failures)."""

    count: int | None
    percentage: float | None

    @classmethod
    def declared(cls, count: int, percentage: float, *, count_declared: bool, percentage_declared: bool) -> Tolerance:
        """The tolerance that applies, from moto's evaluated values and which fields the state declared."""
        if not count_declared and not percentage_declared:
            return cls(count=0, percentage=None)
        return cls(
            count=count if count_declared else None,
            percentage=percentage if percentage_declared else None,
        )

    def exceeded(self, failed: int, total: int) -> bool:
        """AWS fails the Map Run when failures exceed the count, or their share exceeds the percentage."""
        if self.count is not None and failed > self.count:
            return True
        return self.percentage is not None and total > 0 and failed * 100.0 / total > self.percentage


def _map_run_failure(env: Any, error_type: Any, cause: str) -> FailureEventException:
    """The Map Run failing with the States error ``error_type``."""
    error = StatesErrorName(typ=error_type)
    return FailureEventException(
        FailureEvent(
            env=env,
            error_name=error,
            event_type=HistoryEventType.MapRunFailed,
            # moto's EventDetails is a TypedDict whose keys are all declared required; one is set.
            event_details=EventDetails(  # type: ignore[typeddict-item]
                mapRunFailedEventDetails=MapRunFailedEventDetails(error=error.error_name, cause=cause)
            ),
        )
    )


def _threshold_failure(env: Any, failed: int, total: int) -> FailureEventException:
    cause = f"The specified tolerated failure threshold was exceeded: {failed} of {total} child executions failed"
    return _map_run_failure(env, THRESHOLD_ERROR, cause)


@contextmanager
def tolerance_installed() -> Iterator[None]:
    """Fail a Map Run whose failed children exceed its tolerance, as AWS does."""
    original_props = StateMap.from_state_props
    original_map_run = DistributedIterationComponent._map_run
    original_eval_job = distributed_item_processor_worker.DistributedItemProcessorWorker._eval_job

    def from_state_props(self: StateMap, state_props: Any) -> None:
        original_props(self, state_props)
        declared = (
            state_props.get(ToleratedFailureCountDecl) is not None,
            state_props.get(ToleratedFailurePercentageDecl) is not None,
        )
        setattr(self.iteration_component, _DECLARED, declared)

    def map_run(self: DistributedIterationComponent, env: Any, eval_input: Any) -> None:
        original_map_run(self, env, eval_input)
        record = eval_input.map_run_record
        count_declared, percentage_declared = getattr(self, _DECLARED, (False, False))
        tolerance = Tolerance.declared(
            record.tolerated_failure_count,
            record.tolerated_failure_percentage,
            count_declared=count_declared,
            percentage_declared=percentage_declared,
        )
        failed = record.item_counter.failed.get() + record.item_counter.timed_out.get()
        total = record.item_counter.total.get()
        if tolerance.exceeded(failed, total):
            env.stack.pop()  # the children's outputs: the Map state produces none
            raise _threshold_failure(env, failed, total)

    def eval_job(self: distributed_item_processor_worker.DistributedItemProcessorWorker, env: Any, job: Any) -> None:
        original_eval_job(self, env, job)
        state = env.program_state()
        if isinstance(state, ProgramEnded):
            return
        executions = self._map_run_record.execution_counter
        # moto decrements ``running`` on success only, and counts ``failed`` only for a child
        # whose program ended in error (not one that failed in its ItemSelector or input).
        executions.running.offset(-1)
        if isinstance(state, ProgramTimedOut):
            executions.timed_out.count()
        elif not isinstance(state, ProgramError | ProgramStopped):
            executions.failed.count()

    StateMap.from_state_props = from_state_props  # type: ignore[method-assign]
    DistributedIterationComponent._map_run = map_run  # type: ignore[method-assign]
    distributed_item_processor_worker.DistributedItemProcessorWorker._eval_job = eval_job  # type: ignore[method-assign]
    try:
        yield
    finally:
        StateMap.from_state_props = original_props  # type: ignore[method-assign]
        DistributedIterationComponent._map_run = original_map_run  # type: ignore[method-assign]
        distributed_item_processor_worker.DistributedItemProcessorWorker._eval_job = original_eval_job  # type: ignore[method-assign]


def listed_item(obj: dict[str, Any]) -> dict[str, Any]:
    """One ``ListObjectsV2`` entry in the shape AWS's item reader gives a child."""
    modified = obj["LastModified"]
    if isinstance(modified, datetime.datetime):
        modified = int(modified.timestamp())
    return {
        "Etag": obj["ETag"],
        "Key": obj["Key"],
        "LastModified": modified,
        "Size": obj["Size"],
        "StorageClass": obj.get("StorageClass", "STANDARD"),
    }


@contextmanager
def listing_installed() -> Iterator[None]:
    """List the whole prefix (every page), empty when nothing matches, in AWS's item shape."""
    original = ResourceEvalS3._handle_list_objects_v2

    def list_objects_v2(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        s3 = ResourceEvalS3._get_s3_client(resource_runtime_part, state_credentials)
        parameters = dict(env.stack.pop())
        items: list[dict[str, Any]] = []
        while True:
            page = s3.list_objects_v2(**parameters)
            items.extend(listed_item(obj) for obj in page.get("Contents", []))
            if not page.get("IsTruncated"):
                break
            parameters["ContinuationToken"] = page["NextContinuationToken"]
        env.stack.append(items)

    ResourceEvalS3._handle_list_objects_v2 = staticmethod(list_objects_v2)  # type: ignore[method-assign]
    try:
        yield
    finally:
        ResourceEvalS3._handle_list_objects_v2 = staticmethod(original)  # type: ignore[method-assign]


def _map_runs(execution: Any) -> Any:
    """The Map Run records of a moto execution, ``None`` while it has no environment."""
    environment = getattr(execution.exec_worker, "env", None)
    return None if environment is None else environment.map_run_record_pool_manager


@contextmanager
def map_run_lookup_installed() -> Iterator[None]:
    """Answer ListMapRuns and DescribeMapRun while some execution has no environment yet."""
    original_list = StepFunctionsParserBackend.list_map_runs
    original_describe = StepFunctionsParserBackend.describe_map_run

    def list_map_runs(self: StepFunctionsParserBackend, execution_arn: str) -> dict[str, Any]:
        records = _map_runs(self.describe_execution(execution_arn=execution_arn))
        return {"mapRuns": [record.list_item() for record in (records.get_all() if records else [])]}

    def describe_map_run(self: StepFunctionsParserBackend, map_run_arn: str) -> dict[str, Any]:
        for execution in self._get_executions():
            records = _map_runs(execution)
            record = records.get(map_run_arn) if records else None
            if record is not None:
                described: dict[str, Any] = record.describe()
                return described
        raise ResourceNotFound(f"Map Run {map_run_arn} does not exist")

    StepFunctionsParserBackend.list_map_runs = list_map_runs  # type: ignore[method-assign]
    StepFunctionsParserBackend.describe_map_run = describe_map_run  # type: ignore[method-assign]
    try:
        yield
    finally:
        StepFunctionsParserBackend.list_map_runs = original_list  # type: ignore[method-assign]
        StepFunctionsParserBackend.describe_map_run = original_describe  # type: ignore[method-assign]


@contextmanager
def results_limit_installed() -> Iterator[None]:
    """Fail a Distributed Map whose children's results, unexported, exceed a state's payload: once
    its Map Run has succeeded, before the Map state does."""
    original_execution = StateMap._eval_execution
    original_body = DistributedIterationComponent._eval_body

    def eval_execution(self: StateMap, env: Any) -> None:
        # The Map state its iteration answers to, when it exports nothing (the same every time:
        # a program's states are shared by its executions, so this is set, not handed over).
        if isinstance(self.iteration_component, DistributedIterationComponent):
            setattr(self.iteration_component, _UNEXPORTED_BY, None if self.result_writer is not None else self)
        original_execution(self, env)

    def eval_body(self: DistributedIterationComponent, env: Any) -> None:
        original_body(self, env)
        state = getattr(self, _UNEXPORTED_BY, None)
        if state is not None:
            # (moto's own check, with AWS's message: "The state/task '<name>' returned a result
            # with a size exceeding the maximum number of bytes service limit.")
            state._verify_size_quota(env, env.stack[-1])

    StateMap._eval_execution = eval_execution  # type: ignore[method-assign]
    DistributedIterationComponent._eval_body = eval_body  # type: ignore[method-assign]
    try:
        yield
    finally:
        StateMap._eval_execution = original_execution  # type: ignore[method-assign]
        DistributedIterationComponent._eval_body = original_body  # type: ignore[method-assign]


def _name_reader_and_writer_errors() -> Callable[[], None]:
    """Install ``States.ItemReaderFailed`` and ``States.ResultWriterFailed``; return what restores moto's."""
    original_reader = vars(ItemReader)["_eval_body"]
    original_writer = vars(ResultWriter)["_eval_body"]

    def guarded(original: Any, error_type: Any) -> Any:
        def eval_body(self: Any, env: Any) -> None:
            try:
                original(self, env)
            except ClientError as exc:
                raise _map_run_failure(env, error_type, str(exc)) from exc

        return eval_body

    ItemReader._eval_body = guarded(original_reader, StatesErrorNameType.StatesItemReaderFailed)  # type: ignore[method-assign]
    ResultWriter._eval_body = guarded(original_writer, StatesErrorNameType.StatesResultWriterFailed)  # type: ignore[method-assign]

    def restore() -> None:
        ItemReader._eval_body = original_reader  # type: ignore[method-assign]
        ResultWriter._eval_body = original_writer  # type: ignore[method-assign]

    return restore


_READER_AND_WRITER_ERRORS = Held(_name_reader_and_writer_errors)


def reader_and_writer_errors_installed() -> AbstractContextManager[None]:
    """A service's refusal of the item reader's or the result writer's call (an S3 ``AccessDenied``,
    a missing item file) fails the Map with ``States.ItemReaderFailed`` or
    ``States.ResultWriterFailed``, until the block ends (and every other such block). The result
    writer runs after moto has recorded the Map Run SUCCEEDED: ``DescribeMapRun`` still says so
    after its failure (AWS would say FAILED)."""
    return _READER_AND_WRITER_ERRORS.held()


@contextmanager
def installed() -> Iterator[None]:
    """Every Distributed Map correction of this module, until the block ends."""
    with ExitStack() as stack:
        stack.enter_context(tolerance_installed())
        stack.enter_context(listing_installed())
        stack.enter_context(map_run_lookup_installed())
        stack.enter_context(results_limit_installed())
        stack.enter_context(reader_and_writer_errors_installed())
        yield
