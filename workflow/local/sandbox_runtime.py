"""The Lambda runtime of the local sandboxes: the zygote process and the workers it forks.

This module runs outside the engine: ``python -m workflow.local.sandbox_runtime FD`` starts the
*zygote*, which imports the libraries every handler uses (boto3, botocore's S3 and SNS models,
Powertools, msgspec, jsonschema) once, then waits on the control socket ``FD`` for the engine's
requests. Each ``spawn`` forks one *worker*: a sandbox of one function. The worker takes the
function's environment (and nothing of the engine's), imports the handler module with it (the
cold start, where handlers read their settings, as on Lambda), then answers invocations one at
a time on a socket of its own until the engine closes it. Its stdout and stderr go to a pipe the
engine reads into the run's log, as Lambda's runtime sends them to CloudWatch.

Forking a process that has already imported the libraries makes a cold start cost the handler's
own imports (10-70 ms) instead of a new interpreter's (0.3-0.5 s). Nothing of ``tasks`` is
imported by the zygote: those modules read the environment at import.

Only the standard library is imported at module level: the engine imports this module for the
framing helpers, and the zygote must not load the engine's modules.

Requests on the control socket (a stream of frames, ``send_control``; the file descriptors of
a request travel with its first bytes):

- ``{"op": "spawn", "settings": {...}}`` with two descriptors, the worker's socket and the write
  end of its log pipe; answered ``{"pid": N}``;
- ``{"op": "kill", "pid": N}``: SIGKILL to a worker that is still a live child (a reaped pid is
  never signalled, so a reused pid cannot be hit); answered ``{"killed": bool}``;
- ``{"op": "status", "pid": N}``: how a worker ended, once reaped (``"exit status 1"``,
  ``"signal: killed"``), else ``null``.

When the engine's end of the control socket closes (the engine ended, however it ended), the
zygote kills every worker and exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import importlib
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

_FRAME = struct.Struct("!II")  # header length, body length
# Python's runtime on Lambda reports an import failure of the handler module under this name
# (awslambdaric: FaultException.IMPORT_MODULE_ERROR).
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
_PR_SET_PDEATHSIG = 1
# Lambda's fixed quota of file descriptors per execution environment; past it, opening a file or a
# socket fails with EMFILE ("[Errno 24] Too many open files").
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
LAMBDA_FILE_DESCRIPTORS = 1024

# What the zygote imports once for every sandbox: the libraries, never the handlers' modules.
PRELOADED_MODULES = (
    "boto3",
    "botocore.session",
    "botocore.client",
    "botocore.httpsession",
    "botocore.retries.standard",
    "s3transfer.manager",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "msgspec",
    "jsonschema",
)
# Service models whose loading is done once in the zygote (every handler makes a client of these).
PRELOADED_SERVICES = ("s3", "sns")


# -- framing (shared with the engine) ---------------------------------------------------------


def send_frame(sock: socket.socket, header: dict[str, Any], body: bytes = b"") -> None:
    """One message on a stream socket: a JSON header and raw bytes (a payload, kept as sent)."""
    encoded = json.dumps(header).encode()
    sock.sendall(_FRAME.pack(len(encoded), len(body)) + encoded + body)


def receive_frame(sock: socket.socket) -> tuple[dict[str, Any], bytes] | None:
    """The next message, or ``None`` when the other end closed the socket."""
    prefix = _receive_exactly(sock, _FRAME.size)
    if prefix is None:
        return None
    header_length, body_length = _FRAME.unpack(prefix)
    data = _receive_exactly(sock, header_length + body_length)
    if data is None:
        return None
    header: dict[str, Any] = json.loads(data[:header_length])
    return header, data[header_length:]


def send_control(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """One request or reply on the zygote's control socket, with file descriptors if any."""
    encoded = json.dumps(message).encode()
    frame = _FRAME.pack(len(encoded), 0) + encoded
    sent = socket.send_fds(sock, [frame], fds) if fds else 0
    sock.sendall(frame[sent:])


def receive_control(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any], list[int]] | None:
    """The next request or reply and the descriptors that came with it; ``None`` at end of stream."""
    first, fds, _, _ = socket.recv_fds(sock, _FRAME.size, max_fds) if max_fds else (sock.recv(_FRAME.size), [], 0, None)
    if not first:
        return None
    rest = _receive_exactly(sock, _FRAME.size - len(first)) if len(first) < _FRAME.size else b""
    if rest is None:
        return None
    header_length, _ = _FRAME.unpack(first + rest)
    data = _receive_exactly(sock, header_length)
    if data is None:
        return None
    message: dict[str, Any] = json.loads(data)
    return message, list(fds)


def _receive_exactly(sock: socket.socket, size: int) -> bytes | None:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:], size - received)
        if count == 0:
            return None
        received += count
    return bytes(buffer)


# -- the worker ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def _error_reply(exc: BaseException) -> tuple[dict[str, Any], bytes]:
    """What the Python runtime sends for an unhandled exception: ``errorType`` is its class name."""
    error_type = type(exc).__name__
    return (
        {"ok": False, "errorType": error_type},
        json.dumps(
            {"errorMessage": str(exc), "errorType": error_type, "stackTrace": traceback.format_tb(exc.__traceback__)}
        ).encode(),
    )


def _load_handler(handler: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = handler.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _ImportModuleError(f"Unable to import module '{module_name}': {exc}") from exc
    loaded: Callable[[Any, Any], Any] = getattr(module, attribute)
    return loaded


class _ImportModuleError(Exception):
    """The handler module cannot be imported (reported as ``Runtime.ImportModuleError``)."""


def _scale_sdk_backoff(scale: float) -> None:
    """Scale the SDK's retry backoff like the engine scales the state machine's Retry intervals.

    botocore's standard retry mode sleeps ``ExponentialBackoff.delay_amount`` seconds between
    attempts (a botocore internal, guarded by tests/workflow/test_moto_reliances.py).
    """
    from botocore.retries.standard import ExponentialBackoff  # noqa: PLC0415 - preloaded by the zygote

    original = ExponentialBackoff.delay_amount

    def scaled(self: Any, context: Any) -> float:
        return float(original(self, context)) * scale

    ExponentialBackoff.delay_amount = scaled


def run_worker(sock: socket.socket, settings: dict[str, Any]) -> None:
    """Serve invocations of one function until the engine closes ``sock``."""
    _scale_sdk_backoff(float(settings["timeScale"]))
    for override in settings["overrides"]:
        value = Path(override["value"]) if override["path"] else override["value"]
        setattr(importlib.import_module(override["module"]), override["attribute"], value)
    try:
        handler: Callable[[Any, Any], Any] | None = _load_handler(settings["handler"])
        init_failure = None
    except _ImportModuleError as exc:
        handler, init_failure = None, ({"ok": False, "errorType": IMPORT_MODULE_ERROR}, _init_error(exc))
    except Exception as exc:  # noqa: BLE001 - the runtime reports any failure of the init code
        handler, init_failure = None, _error_reply(exc)
    _flush()
    send_frame(sock, {"ready": init_failure is None})
    while True:
        message = receive_frame(sock)
        if message is None:
            return
        header, payload = message
        if init_failure is not None or handler is None:
            reply = init_failure or _error_reply(RuntimeError("no handler"))
        else:
            reply = _invoke(handler, settings, header, payload)
        _flush()
        send_frame(sock, *reply)


def _init_error(exc: BaseException) -> bytes:
    return json.dumps({"errorMessage": str(exc), "errorType": IMPORT_MODULE_ERROR, "stackTrace": []}).encode()


def _invoke(
    handler: Callable[[Any, Any], Any], settings: dict[str, Any], header: dict[str, Any], payload: bytes
) -> tuple[dict[str, Any], bytes]:
    context = LambdaContext(
        function_name=settings["name"],
        function_version="1",
        invoked_function_arn=header["invokedArn"],
        memory_limit_in_mb=int(settings["memoryMb"]),
        aws_request_id=header["requestId"],
        log_group_name=f"/aws/lambda/{settings['name']}",
        log_stream_name="local",
        deadline=time.monotonic() + header["remainingMs"] / 1000,
    )
    try:
        event = json.loads(payload or b"{}")
        result = handler(event, context)
        return {"ok": True}, json.dumps(result).encode()
    except Exception as exc:  # noqa: BLE001 - the Lambda runtime reports every handler exception
        return _error_reply(exc)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _fresh_default_session() -> None:
    """A default boto3 session that reads the sandbox's environment and AWS config file.

    The zygote's session read the zygote's (empty) config; its loader, which holds the
    preloaded models, is handed to the new session.
    """
    import boto3  # noqa: PLC0415 - preloaded by the zygote

    preloaded = boto3.DEFAULT_SESSION._session.get_component("data_loader") if boto3.DEFAULT_SESSION else None
    session = boto3.setup_default_session() or boto3.DEFAULT_SESSION
    if preloaded is not None:
        session._session.register_component("data_loader", preloaded)


def _die_with_parent() -> None:
    """Have the kernel kill this worker if the zygote dies (Linux): no sandbox outlives its engine."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _hold_to_lambda_file_descriptors() -> None:
    """Lambda's file-descriptor quota, as the process's limit (soft and hard: a handler cannot raise
    it, unless the engine runs with CAP_SYS_RESOURCE, as root on a host may)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = LAMBDA_FILE_DESCRIPTORS if hard == resource.RLIM_INFINITY else min(hard, LAMBDA_FILE_DESCRIPTORS)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def _become_worker(control: socket.socket, worker_fd: int, log_fd: int, settings: dict[str, Any]) -> None:
    """In the forked child: take the function's environment, files and directory, then serve."""
    control.close()
    _die_with_parent()
    _hold_to_lambda_file_descriptors()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.clear()
    os.environ.update(settings["environment"])
    if os.environ.get("PYTHONFAULTHANDLER"):
        # What Python does at startup for this variable (non-empty), which a forked worker never
        # goes through: a crash in native code (SIGSEGV, SIGABRT...) then leaves every thread's
        # Python stack in the log. The process still ends by that signal, as Lambda reports it.
        faulthandler.enable()
    # tempfile caches the directory it found first; the sandbox's is in TMPDIR now.
    tempfile.tempdir = None
    _fresh_default_session()
    os.chdir(settings["taskRoot"])
    run_worker(socket.socket(fileno=worker_fd), settings)


# -- the zygote ------------------------------------------------------------------------------


def preload() -> None:
    """Import the libraries and load the service models every sandbox would otherwise load itself.

    The models go into the default session's loader, which the forked workers inherit; building a
    client reads the endpoint rules and partitions once too. No client is kept and no thread is
    started here, so forking stays safe.
    """
    for name in PRELOADED_MODULES:
        importlib.import_module(name)
    import boto3  # noqa: PLC0415 - preloaded just above
    from botocore.loaders import Loader  # noqa: PLC0415 - preloaded just above

    from workflow.deployment import REGION  # noqa: PLC0415 - constants only
    from workflow.local.model_cache import PickledFileLoader, model_cache_dir  # noqa: PLC0415 - botocore only

    session = boto3.setup_default_session(region_name=REGION) or boto3.DEFAULT_SESSION
    session._session.register_component("data_loader", Loader(file_loader=PickledFileLoader(model_cache_dir())))
    for service in PRELOADED_SERVICES:
        session.client(service, aws_access_key_id="preload", aws_secret_access_key="preload")  # noqa: S106


class Zygote:
    def __init__(self, control: socket.socket) -> None:
        self._control = control
        self._live: set[int] = set()
        self._ended: dict[int, str] = {}

    def serve(self) -> None:
        while True:
            ready, _, _ = select.select([self._control], [], [], 0.5)
            self._reap()
            if not ready:
                continue
            received = receive_control(self._control, max_fds=2)
            if received is None:
                return
            request, fds = received
            send_control(self._control, self._answer(request, fds))

    def _answer(self, request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        operation = request["op"]
        if operation == "spawn":
            return {"pid": self._spawn(request["settings"], fds)}
        pid = int(request["pid"])
        if operation == "kill":
            if pid not in self._live:
                return {"killed": False}
            os.kill(pid, signal.SIGKILL)
            return {"killed": True}
        self._reap()
        return {"status": self._ended.pop(pid, None)}

    def _spawn(self, settings: dict[str, Any], fds: list[int]) -> int:
        worker_fd, log_fd = fds
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _become_worker(self._control, worker_fd, log_fd, settings)
            except BaseException:  # noqa: BLE001 - the worker's last words go to its log
                traceback.print_exc()
                code = 1
            finally:
                _flush()
                os._exit(code)
        os.close(worker_fd)
        os.close(log_fd)
        self._live.add(pid)
        return pid

    def _reap(self) -> None:
        while self._live:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self._live.clear()
                return
            if pid == 0:
                return
            self._live.discard(pid)
            self._ended[pid] = _describe(status)

    def stop(self) -> None:
        for pid in list(self._live):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in list(self._live):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _describe(status: int) -> str:
    """How Lambda's runtime words a process end ("Runtime exited with error: ...")."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        name = {signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "aborted"}.get(
            signal.Signals(number), signal.Signals(number).name
        )
        return f"signal: {name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def main(argv: list[str]) -> NoReturn:
    control = socket.socket(fileno=int(argv[0]))
    # Ctrl-C reaches the engine's process group only: the engine stops the sandboxes itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    preload()
    zygote = Zygote(control)
    try:
        zygote.serve()
    finally:
        zygote.stop()
    # Every worker is gone: end without tearing the preloaded libraries down (a tenth of a second).
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
