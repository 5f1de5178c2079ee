"""Lambda sandboxes: each function runs in processes of its own, created cold and reused warm, with
its template's timeout, memory, /tmp, environment and concurrency enforced, and Lambda's quota of file
descriptors."""

from __future__ import annotations

import gc
import io
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.utils import TMP_THREADS

from tasks.common.layout import INCOMING_PREFIX
from tests.scenarios import SOURCES, run_upload
from tests.workflow.sandbox_handlers import SEGFAULT_LINE, SLOW_INIT_SECONDS
from workflow.deployment import STACK_NAME
from workflow.local import environment
from workflow.local.environment import LocalPipeline
from workflow.local.template import StackModel, load_stack

HANDLERS = "tests.workflow.sandbox_handlers"


def invoke(pipeline: LocalPipeline, function: str, event: dict[str, Any] | None = None) -> tuple[str | None, Any]:
    """(function error, payload) of one synchronous invoke through the Lambda API."""
    response = pipeline.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event or {}))
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def deploy(pipeline: LocalPipeline, state: str, handler: str, **settings: Any) -> str:
    function = pipeline.function_for_state(state)
    pipeline.lambdas.configure(function, handler=f"{HANDLERS}.{handler}", **settings)
    return function


def test_a_function_runs_in_a_process_of_its_own_started_cold_and_reused_warm(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function that describes its sandbox, and a variable only the engine has
    monkeypatch.setenv("PIPELINE_ENGINE_ONLY", "secret")
    function = deploy(pipeline, "Fetch", "describe")
    template_environment = pipeline.lambdas.spec(function).environment

    # When it is invoked twice
    _, first = invoke(pipeline, function)
    _, second = invoke(pipeline, function)

    # Then both ran in one process that is not the engine's: cold once, then warm
    assert first["pid"] == second["pid"] != os.getpid()
    assert (first["invocations"], second["invocations"]) == (1, 2)
    assert [invocation.cold for invocation in pipeline.lambdas.invocations] == [True, False]
    # And with the template's environment and Lambda's, none of the engine's
    environment = first["environment"]
    assert template_environment.items() <= environment.items()
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == first["functionName"] == function
    assert environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == str(pipeline.lambdas.spec(function).memory_mb)
    assert "PIPELINE_ENGINE_ONLY" not in environment
    # And a /tmp of its own, and credentials of its own that the engine maps back to it
    assert first["tmp"] == environment["TMPDIR"] != os.environ.get("TMPDIR")
    assert pipeline.sandboxes.caller(environment["AWS_ACCESS_KEY_ID"]) == function
    # And its context says how long it has left, from the template's timeout
    assert 0 < first["remainingMs"] <= pipeline.lambdas.spec(function).timeout_seconds * 1000


def test_state_left_behind_by_one_function_reaches_no_other(pipeline: LocalPipeline) -> None:
    # Given Fetch's handler leaves state in its module, its environment and the builtins
    leaky = deploy(pipeline, "Fetch", "leak")
    other = deploy(pipeline, "Notify", "describe")

    # When Fetch runs, then Notify, then Fetch again
    _, leaked = invoke(pipeline, leaky, {"value": "left-behind"})
    _, elsewhere = invoke(pipeline, other)
    _, again = invoke(pipeline, leaky, {"value": "left-behind"})

    # Then Notify sees none of it, while Fetch's own warm sandbox keeps it (as Lambda's does)
    assert leaked["environment"]["PIPELINE_LEAK"] == "left-behind"
    assert "PIPELINE_LEAK" not in elsewhere["environment"]
    assert (elsewhere["leaked"], elsewhere["builtinLeak"]) == ({}, None)
    assert elsewhere["pid"] != leaked["pid"] == again["pid"]
    assert again["leaked"] == {"value": "left-behind"}
    assert elsewhere["environment"]["AWS_ACCESS_KEY_ID"] != leaked["environment"]["AWS_ACCESS_KEY_ID"]


def prewarmed(stack_model: StackModel, state: str, handler: str) -> LocalPipeline:
    """An environment (not entered yet) whose ``state``'s function runs ``handler`` and is prewarmed."""
    local = LocalPipeline(stack_model, log_stream=io.StringIO(), prewarm=(state,))
    local.lambdas.configure(local.function_for_state(state), handler=handler)
    return local


def test_a_prewarmed_function_is_initialized_at_start_and_its_first_invocation_restores_it(
    stack_model: StackModel,
) -> None:
    # Given an environment that prewarms Fetch (SnapStart initializes a published version)
    local = prewarmed(stack_model, "Fetch", f"{HANDLERS}.describe")
    function = local.function_for_state("Fetch")
    with local:
        # When it starts, then Fetch's sandbox is initialized with no invocation
        assert _wait_for(lambda: local.sandboxes.live().get(function, 0) == 1), "Fetch was not prewarmed"
        ready = {pid for pid, name in local.sandboxes.processes().items() if name == function}
        _, first = invoke(local, function)
        _, second = invoke(local, function)

    # Then the invocations ran in it; the first is reported cold (a restore), the next warm
    assert {first["pid"]} == {second["pid"]} == ready
    assert (first["invocations"], second["invocations"]) == (1, 2)
    assert [invocation.cold for invocation in local.lambdas.invocations] == [True, False]


def test_an_invocation_during_its_function_s_prewarm_waits_for_that_sandbox(stack_model: StackModel) -> None:
    # Given an environment that prewarms Fetch, whose init takes seconds
    local = prewarmed(stack_model, "Fetch", "tests.workflow.slow_init_handlers.describe")
    function = local.function_for_state("Fetch")
    with local:
        # When Fetch is invoked as soon as the environment is entered, while it initializes
        _, first = invoke(local, function)
        # Then the invocation waited for the prewarmed sandbox rather than starting a second one
        assert local.sandboxes.live() == {function: 1}
    assert first["invocations"] == 1
    assert [invocation.cold for invocation in local.lambdas.invocations] == [True]


def test_a_function_without_snap_start_is_not_prewarmed(stack_model: StackModel) -> None:
    # Given an environment asked to prewarm WriteParquet, deployed without SnapStart
    local = prewarmed(stack_model, "WriteParquet", f"{HANDLERS}.describe")
    function = local.function_for_state("WriteParquet")
    with local:
        # Then nothing initializes it: its first invocation starts it cold, as on Lambda
        assert local.sandboxes.prewarming() == set()
        assert local.sandboxes.live() == {}
        invoke(local, function)
    assert [invocation.cold for invocation in local.lambdas.invocations] == [True]


def test_a_function_redeployed_during_its_prewarm_starts_from_the_new_deployment(stack_model: StackModel) -> None:
    # Given Fetch prewarmed with a slow init
    local = prewarmed(stack_model, "Fetch", "tests.workflow.slow_init_handlers.describe")
    function = local.function_for_state("Fetch")
    with local:
        # When it is redeployed with a quick handler while it initializes, then invoked
        assert local.sandboxes.prewarming() == {function}
        local.lambdas.configure(function, handler=f"{HANDLERS}.describe")
        started = time.monotonic()
        _, first = invoke(local, function)
        waited = time.monotonic() - started
        # Then the invocation started the new deployment without waiting for the old one's init
        assert waited < SLOW_INIT_SECONDS / 2, f"the invocation waited {waited:.1f} s for the old deployment"
        # And the old deployment's sandbox is not kept once its init ends
        assert _wait_for(lambda: not local.sandboxes.prewarming()), "the prewarm never ended"
        assert local.sandboxes.live() == {function: 1}
        _, second = invoke(local, function)
    assert second["pid"] == first["pid"]


def test_a_prewarm_whose_init_fails_leaves_the_first_invocation_to_report_it(stack_model: StackModel) -> None:
    # Given a prewarmed function whose handler module cannot be imported
    local = prewarmed(stack_model, "Fetch", "tests.workflow.no_such_module.handler")
    function = local.function_for_state("Fetch")
    with local:
        # When its prewarm has ended, then the sandbox whose init failed was stopped, not kept
        assert _wait_for(lambda: not local.sandboxes.prewarming()), "the prewarm never ended"
        assert local.sandboxes.live() == {}
        # And when it is invoked
        error, payload = invoke(local, function)

    # Then it fails as an init failure does on Lambda, the same as without a prewarm
    assert (error, payload["errorType"]) == ("Unhandled", "Runtime.ImportModuleError")
    assert "No module named 'tests.workflow.no_such_module'" in payload["errorMessage"]


def test_a_handler_past_its_timeout_is_stopped_with_sandbox_timedout(pipeline: LocalPipeline) -> None:
    # Given a function deployed with a 1-second timeout whose handler takes 30 s
    function = deploy(pipeline, "Fetch", "sleep", timeout_seconds=1)

    # When it is invoked
    error, payload = invoke(pipeline, function, {"seconds": 30})

    # Then Lambda's timeout answers, and the sandbox is gone: the next invocation starts cold
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
    assert pipeline.sandboxes.live().get(function, 0) == 0
    invoke(pipeline, function, {"seconds": 0})
    assert [invocation.cold for invocation in pipeline.lambdas.invocations] == [True, True]


def test_a_handler_over_its_memory_is_stopped_with_runtime_out_of_memory(pipeline: LocalPipeline) -> None:
    # Given a 128 MB function whose handler holds 1 GiB
    function = deploy(pipeline, "Fetch", "exhaust_memory", memory_mb=128)

    # When it is invoked
    error, payload = invoke(pipeline, function, {"mb": 1024})

    # Then it was stopped as Lambda stops it
    assert (error, payload["errorType"]) == ("Unhandled", "Runtime.OutOfMemory")
    assert "Runtime exited with error: signal: killed" in payload["errorMessage"]
    assert pipeline.lambdas.invocations[-1].error_type == "Runtime.OutOfMemory"


def test_a_handler_filling_tmp_past_its_ephemeral_storage_fails_for_lack_of_space(pipeline: LocalPipeline) -> None:
    # Given a function with 8 MB of /tmp whose handler writes 64 MB there
    function = deploy(pipeline, "Fetch", "fill_tmp", ephemeral_storage_mb=8)

    # When it is invoked
    error, payload = invoke(pipeline, function, {"mb": 64})

    # Then it fails as the write fails on Lambda
    assert (error, payload["errorType"]) == ("Unhandled", "OSError")
    assert payload["errorMessage"].startswith("[Errno 28] No space left on device")


def test_a_handler_keeping_more_than_1024_files_open_fails_as_on_lambda(pipeline: LocalPipeline) -> None:
    # Given a function whose handler keeps files open at once: 1,000 first, then 1,100
    function = deploy(pipeline, "Fetch", "open_files")

    # When it is invoked with each
    under = invoke(pipeline, function, {"count": 1000})
    over = invoke(pipeline, function, {"count": 1100})

    # Then 1,000 fit in Lambda's 1,024 file descriptors, a limit the handler cannot raise (the hard
    # limit too), and 1,100 fail as opening fails on Lambda
    assert under == (None, {"opened": 1000, "limit": [1024, 1024]})
    error, payload = over
    assert (error, payload["errorType"]) == ("Unhandled", "OSError")
    assert payload["errorMessage"].startswith("[Errno 24] Too many open files")


def test_lambda_s_limit_of_1024_threads_is_not_enforced_here(pipeline: LocalPipeline) -> None:
    # Given a function whose handler has 1,100 threads alive at once (Lambda would refuse a thread
    # past its 1,024 processes and threads; enforcing that would take a pids cgroup or a user per
    # sandbox). A machine whose own limit is lower (a container's pids.max) fails this test.
    function = deploy(pipeline, "Fetch", "start_threads")

    # When it is invoked
    error, payload = invoke(pipeline, function, {"count": 1100})

    # Then it succeeds here: a handler must stay far under that limit by design, not by this engine
    assert error is None
    assert payload["alive"] > 1100


def test_a_handler_that_ends_its_process_fails_alone_and_the_engine_carries_on(pipeline: LocalPipeline) -> None:
    # Given Fetch's handler ends its own process
    function = deploy(pipeline, "Fetch", "crash")

    # When it is invoked
    error, payload = invoke(pipeline, function, {"status": 3})

    # Then the invocation fails with the runtime's exit, and only that sandbox went away
    assert (error, payload["errorType"]) == ("Unhandled", "Runtime.ExitError")
    assert payload["errorMessage"].endswith("Runtime exited with error: exit status 3")
    # And a run through the pipeline, whose Fetch crashes, fails at Fetch with that error
    execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])
    assert (execution.status, execution.error) == ("FAILED", "Runtime.ExitError")
    assert pipeline.visits(execution.arn)[-1].name == "Fetch"


def test_a_function_setting_lang_and_path_gets_its_own_and_one_that_does_not_gets_lambda_s(
    pipeline: LocalPipeline,
) -> None:
    # Given two functions that describe their sandboxes, one setting LANG and PATH (Lambda lets a
    # function set them; it reserves others, such as TZ)
    own = deploy(pipeline, "Fetch", "describe")
    pipeline.lambdas.set_environment(own, {"LANG": "C.UTF-8", "PATH": "/opt/bin:/usr/bin:/bin"})
    default = deploy(pipeline, "Validate", "describe")

    # When each is invoked
    _, with_own = invoke(pipeline, own)
    _, with_default = invoke(pipeline, default)

    # Then the first runs with its own values, the second with Lambda's locale
    assert (with_own["environment"]["LANG"], with_own["environment"]["PATH"]) == ("C.UTF-8", "/opt/bin:/usr/bin:/bin")
    assert with_default["environment"]["LANG"] == "en_US.UTF-8"
    assert with_default["environment"]["PATH"] == os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")


def crash_in_native_code(stack_model: StackModel, fault_handler: str | None) -> tuple[str | None, Any, str]:
    """(function error, payload, log) of Fetch's function reading address 0, with its template's
    environment, or with ``PYTHONFAULTHANDLER`` set to ``fault_handler``."""
    log_stream = io.StringIO()
    with LocalPipeline(stack_model, log_stream=log_stream) as pipeline:
        function = deploy(pipeline, "Fetch", "segfault")
        if fault_handler is not None:
            pipeline.lambdas.set_environment(function, {"PYTHONFAULTHANDLER": fault_handler})
        error, payload = invoke(pipeline, function)
    return error, payload, log_stream.getvalue()


def test_a_handler_crashing_in_native_code_fails_with_the_signal_and_leaves_its_stacks_in_the_log(
    stack_model: StackModel,
) -> None:
    # Given Fetch's handler reads address 0 in native code, in its template's environment
    # When it is invoked
    error, payload, log = crash_in_native_code(stack_model, fault_handler=None)

    # Then the invocation fails as Lambda reports a process ended by SIGSEGV
    assert (error, payload["errorType"]) == ("Unhandled", "Runtime.ExitError")
    assert payload["errorMessage"].endswith("Runtime exited with error: signal: segmentation fault")
    # And the function's log shows where (the template sets PYTHONFAULTHANDLER): the crash and the handler's frame
    assert "Fatal Python error: Segmentation fault" in log
    assert 'sandbox_handlers.py", line' in log
    assert "in segfault" in log


def test_with_an_empty_pythonfaulthandler_a_native_crash_logs_no_stacks_as_on_lambda_without_it(
    stack_model: StackModel,
) -> None:
    # Given the same crash, in an environment whose PYTHONFAULTHANDLER is empty (Python ignores it then)
    # When it is invoked
    error, payload, log = crash_in_native_code(stack_model, fault_handler="")

    # Then it fails alike, and the log (which has the handler's line) has no stacks: Lambda's runtime
    # does not dump them on its own
    assert (error, payload["errorType"]) == ("Unhandled", "Runtime.ExitError")
    assert payload["errorMessage"].endswith("Runtime exited with error: signal: segmentation fault")
    assert SEGFAULT_LINE in log
    assert "Fatal Python error" not in log
    assert "in segfault" not in log


def test_a_failing_sandbox_in_a_run_fails_the_state_with_lambda_s_error(pipeline: LocalPipeline) -> None:
    # Given TransformCsv's function deployed with a 1-second timeout and a slow handler
    deploy(pipeline, "TransformCsv", "sleep", timeout_seconds=1)

    # When a CSV runs
    execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])

    # Then the execution failed at TransformCsv with the error Step Functions reports
    assert (execution.status, execution.error) == ("FAILED", "Sandbox.Timedout")
    assert "Task timed out after 1.00 seconds" in str(execution.cause)
    assert pipeline.visits(execution.arn)[-1].name == "TransformCsv"


@pytest.fixture
def one_at_a_time(stack_model: StackModel) -> Iterator[LocalPipeline]:
    """An environment whose account allows one concurrent Lambda invocation."""
    with LocalPipeline(stack_model, log_stream=io.StringIO(), concurrency=1) as local:
        yield local


@contextmanager
def held(pipeline: LocalPipeline, function: str, tmp_path: Path) -> Iterator[None]:
    """One invocation of ``function`` (deployed with the ``hold`` handler) running for the whole block."""
    release = tmp_path / "release"
    holder = threading.Thread(target=invoke, args=(pipeline, function, {"release": str(release)}))
    holder.start()
    try:
        assert _wait_for(lambda: pipeline.sandboxes.live().get(function, 0) == 1), "the holder did not start"
        yield
    finally:
        release.touch()
        holder.join(timeout=60)


def test_over_the_account_concurrency_lambda_refuses_with_too_many_requests(
    one_at_a_time: LocalPipeline, tmp_path: Path
) -> None:
    # Given an account concurrency of 1, and one invocation holding it
    pipeline = one_at_a_time
    # When a second one arrives
    with held(pipeline, deploy(pipeline, "Fetch", "hold"), tmp_path), pytest.raises(ClientError) as refused:
        invoke(pipeline, pipeline.function_for_state("Notify"))

    # Then Lambda throttles it (each of the SDK's attempts), and records throttles, not errors
    assert refused.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    throttled = {
        (invocation.function, invocation.error_type)
        for invocation in pipeline.lambdas.invocations
        if invocation.throttled
    }
    assert throttled == {(pipeline.function_for_state("Notify"), None)}


def test_a_throttled_task_is_retried_by_the_definition_then_fails_at_that_state(
    one_at_a_time: LocalPipeline, tmp_path: Path
) -> None:
    # Given the account's only concurrent invocation held by another function
    pipeline = one_at_a_time
    with held(pipeline, deploy(pipeline, "Fetch", "hold"), tmp_path):
        # When a file runs meanwhile (its retries, scaled down, all fall within the hold)
        execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])

    # Then Validate was throttled, retried by its retrier until it gave up, and failed the run there
    assert (execution.status, execution.error) == ("FAILED", "Lambda.TooManyRequestsException")
    validate = pipeline.visits(execution.arn)[0]
    assert (validate.name, validate.status) == ("Validate", "FAILED")
    assert validate.attempts > 1
    assert "Rate Exceeded." in str(execution.cause)


def test_reserved_concurrency_in_the_template_is_the_function_s_own_limit(
    stack_model: StackModel, tmp_path: Path
) -> None:
    # Given a template that reserves one concurrent invocation for Fetch, held by one invocation
    fetch = next(name for name, function in stack_model.functions.items() if function.handler.startswith("tasks.fetch"))
    reserved = replace(stack_model.functions[fetch], reserved_concurrency=1)
    stack = replace(stack_model, functions={**stack_model.functions, fetch: reserved})
    with (
        LocalPipeline(stack, log_stream=io.StringIO()) as pipeline,
        held(pipeline, deploy(pipeline, "Fetch", "hold"), tmp_path),
    ):
        # When Fetch is invoked again, and another function too
        with pytest.raises(ClientError) as refused:
            invoke(pipeline, fetch, {"release": str(tmp_path / "release")})
        error, _ = invoke(pipeline, pipeline.function_for_state("Notify"), {})

    # Then Fetch is throttled on its own reservation, while the other function runs
    assert refused.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert refused.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert error == "Unhandled"  # Notify's own handler refuses the empty event: it ran


def _wait_for(condition: Any, seconds: float = 30.0) -> bool:
    deadline = threading.Event()
    timer = threading.Timer(seconds, deadline.set)
    timer.start()
    try:
        while not deadline.is_set():
            if condition():
                return True
            deadline.wait(0.01)
        return False
    finally:
        timer.cancel()


def test_function_logs_reach_the_run_log_as_lambda_sends_them_to_cloudwatch(
    stack_model: StackModel, capfd: pytest.CaptureFixture[str]
) -> None:
    # Given an environment whose function logs go to a stream of its own
    log_stream = io.StringIO()
    with LocalPipeline(stack_model, log_stream=log_stream) as pipeline:
        # When a run makes the handlers log
        execution = run_upload(pipeline, "people.jsonl", SOURCES["people.jsonl"])
        invoked = {invocation.function for invocation in pipeline.lambdas.invocations}

    # Then the stream holds each function's JSON lines (its stdout), correlated with the execution
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines() if line.startswith("{")]
    assert {line["function_name"] for line in lines if "level" in line} == invoked
    assert {line["correlation_id"] for line in lines if "level" in line} == {execution.arn}
    # And no Python warning among them: Powertools warns of a flush without application metrics
    # (Fetch, WriteOutput and Notify publish none), a line in every execution environment's logs
    assert not re.findall(r"\w+Warning: .*", log_stream.getvalue())
    # And none of it reached the engine's own terminal
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_the_template_s_ephemeral_storage_reserved_concurrency_and_snap_start_are_read(
    template: dict[str, Any], tmp_path: Path
) -> None:
    # Given the template, with one function's concurrency reserved
    edited = json.loads(json.dumps(template))
    functions = {
        logical_id: body["Properties"]
        for logical_id, body in edited["Resources"].items()
        if body["Type"] == "AWS::Lambda::Function"
    }
    reserved_id = sorted(functions)[0]
    functions[reserved_id]["ReservedConcurrentExecutions"] = 3
    path = tmp_path / "template.json"
    path.write_text(json.dumps(edited))

    # When the local environment reads it
    stack = load_stack(path, STACK_NAME)

    # Then each function has its /tmp size, its reservation (none unless reserved) and SnapStart
    for logical_id, props in functions.items():
        function = stack.functions[logical_id]
        assert function.ephemeral_storage_mb == props["EphemeralStorage"]["Size"]
        assert function.reserved_concurrency == (3 if logical_id == reserved_id else None)
        assert function.snap_start == ("SnapStart" in props)
    # (all but WriteParquet, whose /tmp is larger than SnapStart allows)
    assert sorted(name for name, function in stack.functions.items() if not function.snap_start) == [
        name for name in stack.functions if "WriteParquet" in name
    ]


def test_leaving_the_environment_stops_runs_sandboxes_threads_and_the_gateway(stack_model: StackModel) -> None:
    # Given a run whose Fetch is still running (held for 30 s) when the environment is left
    earlier = {id(thread) for thread in TMP_THREADS}
    with LocalPipeline(stack_model, log_stream=io.StringIO()) as pipeline:
        function = deploy(pipeline, "Fetch", "hold")
        pipeline.upload(INCOMING_PREFIX + "people.csv", SOURCES["people.csv"])
        assert _wait_for(lambda: pipeline.sandboxes.live().get(function, 0) == 1), "Fetch did not start"
        processes = pipeline.sandboxes.processes()
        threads = [thread for thread in TMP_THREADS if thread.is_alive() and id(thread) not in earlier]
        port = urlparse(pipeline.sandboxes.endpoint_url).port
        # (what the engine built is frozen out of the garbage collector while it lives)
        assert gc.get_freeze_count() > 0
        left = time.monotonic()

    # Then it was left without waiting for the handler, and nothing of it is still running:
    assert time.monotonic() - left < 15
    # no interpreter thread, no sandbox process, not the zygote, and the gateway's port is closed
    assert threads
    assert not [thread for thread in threads if thread.is_alive()]
    assert {"", function} <= set(processes.values())
    for pid in processes:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert port is not None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    # and the collector has it back
    assert gc.get_freeze_count() == 0


def test_leaving_after_every_run_has_ended_asks_step_functions_nothing(stack_model: StackModel) -> None:
    # Given an environment whose one run has ended, its interpreter threads with it
    asked: list[str] = []
    with LocalPipeline(stack_model, log_stream=io.StringIO()) as pipeline:
        execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])
        assert _wait_for(lambda: not environment.interpreter_busy(), 5), "the run's threads did not end"
        pipeline.client("stepfunctions").meta.events.register(
            "before-call.sfn", lambda model, **_: asked.append(model.name)
        )
        # When it is left
    # Then no execution was looked for, to wait for or to stop: none could be running
    assert execution.status == "SUCCEEDED"
    assert asked == []


def test_finished_interpreter_threads_are_forgotten_once_there_are_many(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto keeps every interpreter thread it starts (about nine a run); a long 'pipeline serve'
    # forgets the finished ones when there are THREADS_KEPT_AT_MOST (here 1), as it looks for ended runs.
    monkeypatch.setattr(environment, "THREADS_KEPT_AT_MOST", 1)
    execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])
    assert execution.status == "SUCCEEDED"
    finished = [thread for thread in TMP_THREADS if not thread.is_alive() and thread.ident is not None]
    assert len(finished) >= 5
    # and one still running, and one added but not started yet (moto adds a thread, then starts it)
    release = threading.Event()
    running = threading.Thread(target=release.wait, args=(10,), daemon=True)
    running.start()
    not_started = threading.Thread(target=release.wait, daemon=True)
    TMP_THREADS.extend([running, not_started])
    try:
        pipeline.announce_finished()
        kept = {id(thread) for thread in TMP_THREADS}
    finally:
        release.set()
        TMP_THREADS.remove(not_started)
    assert not [thread for thread in finished if id(thread) in kept]
    assert {id(running), id(not_started)} <= kept
