"""Lambda sandboxes: each function runs in worker processes of its own, with its template's limits.

A sandbox is one worker process (``sandbox_runtime.py``) serving one function, one invocation at
a time. It is forked by the zygote on a cold start (the handler module is imported then, with
the function's environment) and kept warm for the next invocation of that function; it is never
shared between functions, and a crash, a timeout or a leak in it cannot reach the engine or
another function (it is a process of its own, started in a session of its own).

What each run enforces, from the template (``FunctionSpec``), while the engine waits for it:

- **timeout**: past ``Timeout`` seconds the worker is killed and the invocation fails with
  ``Sandbox.Timedout``, the error Step Functions reports for a Lambda timeout, and the payload
  Lambda sends (``{"errorMessage": "RequestId: … Error: Task timed out after 300.00 seconds",
  "errorType": "Sandbox.Timedout"}``,
  https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-timeouts);
- **memory**: the worker's resident set is sampled every ``_SAMPLE_SECONDS``; past ``MemorySize``
  MiB it is killed and the invocation fails with ``Runtime.OutOfMemory`` (Lambda's cgroup kills
  at the allocation; here a spike shorter than a sample can pass unseen);
- **/tmp**: a private directory (``TMPDIR``) per sandbox; its usage (allocated blocks) is sampled
  likewise and, past ``EphemeralStorage`` MiB, the worker is killed and the invocation fails as
  the handler's write would fail on Lambda, ``OSError`` ``[Errno 28] No space left on device``.
  Lambda refuses the write itself; here the write succeeds and the sandbox is stopped within a
  sample, then checked once more when the handler returns. Code that writes to the literal path
  ``/tmp`` instead of ``tempfile``/``TMPDIR`` escapes the check (the pipeline's code does not);
- **environment**: the template's variables, Lambda's reserved ones (``AWS_REGION``,
  ``AWS_LAMBDA_FUNCTION_NAME``…) and the sandbox's own credentials, nothing of the engine's;
- **file descriptors**: at most 1,024 open at once, Lambda's quota (the worker's ``RLIMIT_NOFILE``):
  past it, opening fails with ``[Errno 24] Too many open files``, as on Lambda;
- a worker that dies on its own fails the invocation with ``Runtime.ExitError``.

Not enforced: Lambda's quota of 1,024 processes and threads per execution environment. No
process limit does it (``RLIMIT_NPROC`` counts every process of the user, and binds no root
process); it would take a pids cgroup or a user per sandbox, so a handler may start more here. The
pipeline's own thread pools hold 32 threads at most (``tasks/common/multipart.py``).
``test_sandboxes.py`` records it.

A killed or crashed sandbox is discarded: the next invocation starts cold, as on Lambda.

Lambda runs the init of a function deployed with SnapStart when its version is published, not on
its first invocation, which resumes the initialized environment (still a cold start, a restore:
https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html). ``prewarm`` does the same for the
SnapStart functions a caller names: a sandbox of each initializes in the background while the
engine starts, and the first invocation finds it ready (reported cold). A function without
SnapStart (the template says which) initializes on its first invocation, as on Lambda. An init
is held to Lambda's init time limit, not to the memory and /tmp limits: the invocations are.

Each sandbox gets an access key id of its own (``credentials``): every AWS call it makes carries
it, and the gateway maps it back to the function, positively, whatever thread made the call.

At most ``slots`` sandboxes run handlers at once (the machine's cores, not AWS's concurrency:
an invocation Lambda accepted waits here for a slot, it is not throttled), and at most
``idle_limit`` wait warm; past that the least recently used idle sandbox is stopped.
"""

from __future__ import annotations

import codecs
import contextlib
import itertools
import json
import logging
import os
import secrets
import select
import selectors
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflow.deployment import REGION
from workflow.local.sandbox_runtime import receive_control, receive_frame, send_control, send_frame
from workflow.local.synth import CACHE_ENVIRONMENT

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_SAMPLE_SECONDS = 0.1
_DISK_SAMPLE_SECONDS = 0.5
# How long closing waits for the runs of killed sandboxes to let them go.
_RELEASE_SECONDS = 5.0
# The first answer waits for the zygote's imports; later ones are immediate.
_ZYGOTE_ANSWER_SECONDS = 60.0
# Lambda's limit on a function's init (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html),
# from its fork: a prewarmed sandbox not ready by then is stopped, and the first invocation starts one cold.
_INIT_SECONDS = 10.0
# How often an invocation waiting for its function's prewarm looks whether the engine is stopping.
_WARMING_RECHECK_SECONDS = 0.5
_KEY_ALPHABET = string.ascii_uppercase + string.digits
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

logger = logging.getLogger(__name__)

LogSink = Callable[[str], None]  # takes whole lines of a sandbox's output

# The sandboxes' AWS config file. On Lambda the SDK reaches S3 over HTTPS and, with a checksum of
# the body, leaves the payload unsigned; the local endpoint is plain HTTP, where botocore would
# SHA-256 every body to sign it (0.8 s of a 200 MB run): this setting keeps Lambda's behaviour.
SDK_CONFIG = "[default]\ns3 =\n    payload_signing_enabled = false\n"
_SDK_CONFIG_FILE = "aws-config"  # in the sandboxes' scratch directory


class SandboxRuntimeError(RuntimeError):
    """The sandbox runtime (the zygote) could not start or stopped answering."""


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """What the template deploys for one function, as a sandbox enforces it."""

    name: str
    handler: str
    environment: Mapping[str, str]
    timeout_seconds: float
    memory_mb: int
    ephemeral_storage_mb: int
    # Module attributes set in the sandbox before the handler is imported, (module, attribute, value):
    # a test's monkeypatch, deployed with the function. A ``Path`` value arrives as a ``Path``.
    overrides: tuple[tuple[str, str, Any], ...] = ()
    generation: int = 0  # bumped by each redeploy (new environment or settings): older sandboxes retire
    snap_start: bool = False  # deployed with SnapStart: ``prewarm`` may initialize it ahead of its invocations


@dataclass(frozen=True, slots=True)
class Run:
    """What one invocation gave: the response payload, or the error payload Lambda sends."""

    ok: bool
    body: bytes
    error_type: str | None
    cold: bool


@dataclass
class Sandbox:
    spec: FunctionSpec
    pid: int
    sock: socket.socket
    log_fd: int
    directory: Path
    access_key: str
    ready: bool = False
    stopping: bool = False  # the engine is stopping it: its run ends at once
    restored: bool = False  # prewarmed and not invoked yet: its first invocation is a cold start
    last_used: float = field(default_factory=time.monotonic)
    _decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    _pending: str = ""

    @property
    def tmp(self) -> Path:
        return self.directory / "tmp"


@dataclass(eq=False)
class _Warming:
    """A sandbox of ``spec`` being prewarmed; ``done`` is set once it is offered or given up."""

    spec: FunctionSpec
    done: threading.Event = field(default_factory=threading.Event)
    sandbox: Sandbox | None = None
    deadline: float = 0.0
    retired: bool = False  # its function was redeployed meanwhile: never offered


def _lambda_error(error_type: str, message: str) -> bytes:
    """An error payload as Lambda's runtime writes it (message first, as Lambda's JSON has it)."""
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class _Zygote:
    """The process that forks the sandboxes, and the requests the engine sends it."""

    def __init__(self) -> None:
        self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        handle, stderr_path = tempfile.mkstemp(prefix="pipeline-zygote-", suffix=".log")
        os.close(handle)
        self._stderr_path = Path(stderr_path)
        self._lock = threading.Lock()
        environment = {
            name: os.environ[name]
            for name in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", CACHE_ENVIRONMENT)
            if name in os.environ
        }
        environment.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
        with self._stderr_path.open("wb") as stderr:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "workflow.local.sandbox_runtime", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                cwd=PROJECT_ROOT,
                env=environment,
                # Ctrl-C in a terminal goes to the engine's process group only; the engine stops
                # the sandboxes itself, after the executions that use them.
                start_new_session=True,
            )
        theirs.close()

    @property
    def pid(self) -> int:
        return self._process.pid

    def request(self, message: dict[str, Any], fds: list[int] | None = None) -> dict[str, Any]:
        with self._lock:
            try:
                send_control(self._control, message, fds)
                ready, _, _ = select.select([self._control], [], [], _ZYGOTE_ANSWER_SECONDS)
                reply = receive_control(self._control) if ready else None
            except OSError as exc:
                raise SandboxRuntimeError(f"the sandbox runtime stopped answering: {exc}{self._last_words()}") from exc
        if reply is None:
            raise SandboxRuntimeError(f"the sandbox runtime stopped answering{self._last_words()}")
        return reply[0]

    def _last_words(self) -> str:
        with contextlib.suppress(OSError):
            text = self._stderr_path.read_text(errors="replace").strip()
            if text:
                return f"; it said:\n{text[-2000:]}"
        return ""

    def stop(self) -> None:
        """Close the control socket: the zygote kills every sandbox and exits."""
        with self._lock:
            self._control.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._stderr_path.unlink(missing_ok=True)


_early: list[_Zygote] = []
_early_lock = threading.Lock()


def start_early() -> None:
    """Start a zygote now, for the next ``Sandboxes.start`` of this process to take.

    ``pipeline run`` calls it before importing the engine: the zygote imports its libraries
    while the engine imports moto, instead of after.
    """
    with _early_lock:
        if not _early:
            _early.append(_Zygote())


def _take_early() -> _Zygote | None:
    with _early_lock:
        return _early.pop() if _early else None


class Sandboxes:
    """The sandbox processes of every function, and the runs of invocations in them."""

    def __init__(
        self,
        *,
        log_sink: LogSink,
        time_scale: float,
        slots: int,
        idle_limit: int,
    ) -> None:
        self._log_sink = log_sink
        self._time_scale = time_scale
        self._slots = threading.BoundedSemaphore(slots)
        self._idle_limit = idle_limit
        self._lock = threading.Lock()
        self._idle: OrderedDict[int, Sandbox] = OrderedDict()  # by pid, least recently used first
        self._busy: dict[int, Sandbox] = {}
        self._warming: dict[str, _Warming] = {}  # function -> its prewarm under way
        self._prewarmers: list[threading.Thread] = []
        self._callers: dict[str, str] = {}  # access key id -> function name
        self._numbers = itertools.count(1)
        self._closing = False
        self._scratch: Path | None = None  # made by start, removed by close
        self._zygote: _Zygote | None = None
        self.endpoint_url = ""
        self._log_lock = threading.Lock()

    def start(self) -> None:
        """Start the zygote (or take the one started early): it imports the libraries while the
        engine builds the rest."""
        self._scratch = Path(tempfile.mkdtemp(prefix="pipeline-sandboxes-"))
        (self._scratch / _SDK_CONFIG_FILE).write_text(SDK_CONFIG)
        self._zygote = _take_early() or _Zygote()

    def prewarm(self, specs: Sequence[FunctionSpec]) -> None:
        """Initialize a sandbox of each SnapStart function of ``specs`` in the background
        (SnapStart's init at publish); the others are left to their first invocation.

        An invocation of one of them that comes first waits for its sandbox rather than starting
        another. A sandbox whose init fails or takes too long is stopped: the first invocation
        starts one cold, which reports the failure as Lambda does.
        """
        with self._lock:
            if self._closing:
                return
            pending = {
                spec.name: _Warming(spec) for spec in specs if spec.snap_start and spec.name not in self._warming
            }
            self._warming.update(pending)
        if pending:
            thread = threading.Thread(
                target=self._prewarm, args=(list(pending.values()),), name="local-prewarm", daemon=True
            )
            self._prewarmers.append(thread)
            thread.start()

    def prewarming(self) -> set[str]:
        """The functions whose prewarmed sandbox is still initializing."""
        with self._lock:
            return set(self._warming)

    def caller(self, access_key: str) -> str | None:
        """The function whose sandbox holds ``access_key``, if a live one does."""
        return self._callers.get(access_key)

    def processes(self) -> dict[int, str]:
        """The live sandbox processes (pid -> function), those still initializing too, and the zygote's (-> "")."""
        with self._lock:
            initializing = [warming.sandbox for warming in self._warming.values() if warming.sandbox is not None]
            live = {
                sandbox.pid: sandbox.spec.name
                for sandbox in [*self._idle.values(), *self._busy.values(), *initializing]
            }
        if self._zygote is not None:
            live[self._zygote.pid] = ""
        return live

    def live(self) -> dict[str, int]:
        """Sandbox processes alive now, by function (busy and idle)."""
        counts: dict[str, int] = {}
        with self._lock:
            for sandbox in [*self._idle.values(), *self._busy.values()]:
                counts[sandbox.spec.name] = counts.get(sandbox.spec.name, 0) + 1
        return counts

    def run(self, spec: FunctionSpec, payload: bytes, *, invoked_arn: str, request_id: str) -> Run:
        """Run one invocation in a sandbox of ``spec``'s function: warm if one is idle, else cold."""
        with self._slots:
            sandbox, cold = self._acquire(spec)
            healthy = False
            try:
                outcome, healthy = self._invoke(sandbox, payload, invoked_arn=invoked_arn, request_id=request_id)
            finally:
                self._release(sandbox, healthy=healthy)
        return Run(outcome[0], outcome[1], outcome[2], cold)

    def retire(self, function_name: str) -> None:
        """Stop the idle sandboxes of ``function_name`` (it was redeployed); busy ones stop when done,
        one being prewarmed when its init ends."""
        with self._lock:
            warming = self._warming.get(function_name)
            if warming is not None:
                warming.retired = True
            retired = [sandbox for sandbox in self._idle.values() if sandbox.spec.name == function_name]
            for sandbox in retired:
                del self._idle[sandbox.pid]
        for sandbox in retired:
            self._stop(sandbox)

    def close(self) -> None:
        """Kill every sandbox and stop the zygote; runs still waiting end with an error."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            idle = list(self._idle.values())
            busy = list(self._busy.values())
            self._idle.clear()
            # Invocations waiting for a prewarm go now, and find the engine stopping.
            for warming in self._warming.values():
                warming.done.set()
        for sandbox in idle:
            self._stop(sandbox)
        # A busy sandbox is killed only: the thread running it sees its end and lets it go.
        for sandbox in busy:
            sandbox.stopping = True
            self._kill(sandbox)
        deadline = time.monotonic() + _RELEASE_SECONDS
        while self._busy and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._zygote is not None:
            self._zygote.stop()
        # The zygote killed the sandboxes still initializing: their prewarmer sees it and ends.
        for thread in self._prewarmers:
            thread.join(timeout=_RELEASE_SECONDS)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    # -- the processes -------------------------------------------------------------------------

    def _acquire(self, spec: FunctionSpec) -> tuple[Sandbox, bool]:
        """An idle sandbox of ``spec`` (one being prewarmed is waited for), else a new one: (it, cold)."""
        evicted: list[Sandbox] = []
        while True:
            with self._lock:
                if self._closing:
                    raise SandboxRuntimeError("the local engine is stopping")
                for pid, sandbox in reversed(self._idle.items()):
                    if sandbox.spec == spec:
                        del self._idle[pid]
                        self._busy[pid] = sandbox
                        cold, sandbox.restored = sandbox.restored, False
                        return sandbox, cold
                warming = self._warming.get(spec.name)
                if warming is None or warming.spec != spec:
                    while len(self._idle) >= self._idle_limit:
                        evicted.append(self._idle.popitem(last=False)[1])
                    break
            warming.done.wait(_WARMING_RECHECK_SECONDS)
        for sandbox in evicted:
            self._stop(sandbox)
        sandbox = self._spawn(spec)
        with self._lock:
            self._busy[sandbox.pid] = sandbox
            if self._closing:
                raise SandboxRuntimeError("the local engine is stopping")
        return sandbox, True

    def _release(self, sandbox: Sandbox, *, healthy: bool) -> None:
        with self._lock:
            self._busy.pop(sandbox.pid, None)
            keep = healthy and not self._closing
            if keep:
                sandbox.last_used = time.monotonic()
                self._idle[sandbox.pid] = sandbox
        if not keep:
            self._stop(sandbox)

    def _prewarm(self, warmings: list[_Warming]) -> None:
        """Fork a sandbox of each at once, then offer each as soon as its init says it is ready."""
        try:
            for warming in warmings:
                warming.deadline = time.monotonic() + _INIT_SECONDS
                try:
                    warming.sandbox = self._spawn(warming.spec)
                except Exception:  # noqa: BLE001 - the first invocation starts one cold and reports what fails
                    self._settle(warming, ready=False)
            self._await_inits([warming for warming in warmings if warming.sandbox is not None])
        except Exception:
            logger.exception("prewarming %s failed; they start cold", [warming.spec.name for warming in warmings])
        finally:
            for warming in warmings:
                self._settle(warming, ready=False)  # each one not settled yet

    def _await_inits(self, warmings: list[_Warming]) -> None:
        """Read each sandbox's "ready" frame (and what its init prints) until its deadline."""
        waiting = {warming.sandbox.pid: (warming.sandbox, warming) for warming in warmings if warming.sandbox}
        with selectors.DefaultSelector() as selector:
            for pid, (sandbox, _) in waiting.items():
                selector.register(sandbox.sock, selectors.EVENT_READ, pid)
                selector.register(sandbox.log_fd, selectors.EVENT_READ, pid)

            def finish(pid: int, *, ready: bool) -> None:
                sandbox, warming = waiting.pop(pid)
                for fileobj in (sandbox.sock, sandbox.log_fd):
                    if fileobj in selector.get_map():
                        selector.unregister(fileobj)
                self._settle(warming, ready=ready)

            while waiting:
                now = time.monotonic()
                for late in [pid for pid, (_, warming) in waiting.items() if warming.deadline <= now]:
                    finish(late, ready=False)
                if not waiting:
                    return
                for key, _ in selector.select(min(warming.deadline for _, warming in waiting.values()) - now):
                    if key.data not in waiting:
                        continue  # settled by an earlier event of this round
                    sandbox, _ = waiting[key.data]
                    if key.fileobj is sandbox.sock:
                        message = receive_frame(sandbox.sock)
                        sandbox.ready = message is not None and bool(message[0].get("ready"))
                        finish(key.data, ready=sandbox.ready)
                    elif not self._drain(sandbox):
                        selector.unregister(sandbox.log_fd)

    def _settle(self, warming: _Warming, *, ready: bool) -> None:
        """Offer a prewarmed sandbox to its first invocation, or stop it; once per prewarm."""
        with self._lock:
            if self._warming.get(warming.spec.name) is not warming:
                return
            del self._warming[warming.spec.name]
            sandbox = warming.sandbox
            keep = ready and sandbox is not None and not warming.retired and not self._closing
            if keep and sandbox is not None:
                sandbox.restored = True
                self._idle[sandbox.pid] = sandbox
        warming.done.set()
        if sandbox is not None and not keep:
            self._stop(sandbox)

    def _spawn(self, spec: FunctionSpec) -> Sandbox:
        if self._zygote is None or self._scratch is None:
            raise SandboxRuntimeError("the sandboxes were not started")
        number = next(self._numbers)
        directory = self._scratch / f"{spec.name}-{number}"
        (directory / "tmp").mkdir(parents=True)
        access_key = "ASIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_read, log_write = os.pipe()
        settings = {
            "name": spec.name,
            "handler": spec.handler,
            "memoryMb": spec.memory_mb,
            "taskRoot": str(PROJECT_ROOT),
            "timeScale": self._time_scale,
            "environment": self._environment(spec, directory / "tmp", access_key, self._scratch / _SDK_CONFIG_FILE),
            "overrides": [
                {"module": module, "attribute": attribute, "value": str(value), "path": True}
                if isinstance(value, Path)
                else {"module": module, "attribute": attribute, "value": value, "path": False}
                for module, attribute, value in spec.overrides
            ],
        }
        try:
            reply = self._zygote.request({"op": "spawn", "settings": settings}, [theirs.fileno(), log_write])
            pid = int(reply["pid"])
        except BaseException:
            ours.close()
            os.close(log_read)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        finally:
            theirs.close()
            os.close(log_write)
        os.set_blocking(log_read, False)
        sandbox = Sandbox(spec=spec, pid=pid, sock=ours, log_fd=log_read, directory=directory, access_key=access_key)
        self._callers[access_key] = spec.name
        return sandbox

    def _environment(self, spec: FunctionSpec, tmp: Path, access_key: str, sdk_config: Path) -> dict[str, str]:
        """The sandbox's environment: the template's variables and what Lambda sets
        (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).

        Lambda sets ``LANG`` and ``PATH`` unless the function sets its own (they are not reserved);
        the keys it reserves no template can set (``template.check_environment``)."""
        return {
            "LANG": "en_US.UTF-8",
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            **spec.environment,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
            "LAMBDA_TASK_ROOT": str(PROJECT_ROOT),
            "TZ": ":UTC",
            "TMPDIR": str(tmp),
            "HOME": str(tmp),
            # The sandbox's own credentials: its access key id is its identity at the gateway.
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
            "AWS_SESSION_TOKEN": secrets.token_urlsafe(60),
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_CONFIG_FILE": str(sdk_config),
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            # Locally there is no CloudWatch agent reading EMF from stdout.
            "POWERTOOLS_METRICS_DISABLED": "true",
        }

    def _stop(self, sandbox: Sandbox) -> None:
        self._callers.pop(sandbox.access_key, None)
        if self._zygote is not None:
            with contextlib.suppress(SandboxRuntimeError):
                self._zygote.request({"op": "kill", "pid": sandbox.pid})
        with contextlib.suppress(OSError):
            sandbox.sock.close()
        self._drain(sandbox)
        with contextlib.suppress(OSError):
            os.close(sandbox.log_fd)
        shutil.rmtree(sandbox.directory, ignore_errors=True)

    # -- one invocation ------------------------------------------------------------------------

    def _invoke(
        self, sandbox: Sandbox, payload: bytes, *, invoked_arn: str, request_id: str
    ) -> tuple[tuple[bool, bytes, str | None], bool]:
        """((ok, body, error type), whether the sandbox may serve again)."""
        spec = sandbox.spec
        deadline = time.monotonic() + spec.timeout_seconds
        try:
            send_frame(
                sandbox.sock,
                {"invokedArn": invoked_arn, "requestId": request_id, "remainingMs": int(spec.timeout_seconds * 1000)},
                payload,
            )
        except OSError:
            return self._ended(sandbox, request_id), False
        while True:
            ending = self._wait(sandbox, deadline, request_id)
            if ending is not None:
                return ending, False
            message = receive_frame(sandbox.sock)
            if message is None:
                return self._ended(sandbox, request_id), False
            header, body = message
            if "ready" in header:
                sandbox.ready = bool(header["ready"])
                continue
            self._drain(sandbox)
            if self._tmp_usage(sandbox) > spec.ephemeral_storage_mb * 1024 * 1024:
                return self._no_space(sandbox), False
            ok = bool(header["ok"])
            return (ok, body, None if ok else str(header["errorType"])), sandbox.ready

    def _wait(self, sandbox: Sandbox, deadline: float, request_id: str) -> tuple[bool, bytes, str | None] | None:
        """Pump the sandbox's output until its reply arrives; an error payload if a limit ended it."""
        spec = sandbox.spec
        memory_limit = spec.memory_mb * 1024 * 1024
        disk_limit = spec.ephemeral_storage_mb * 1024 * 1024
        next_disk_sample = 0.0
        with selectors.DefaultSelector() as selector:
            selector.register(sandbox.sock, selectors.EVENT_READ, "reply")
            selector.register(sandbox.log_fd, selectors.EVENT_READ, "log")
            while True:
                now = time.monotonic()
                if sandbox.stopping:
                    message = f"RequestId: {request_id} Error: the local engine stopped this sandbox"
                    return False, _lambda_error("Runtime.ExitError", message), "Runtime.ExitError"
                if now >= deadline:
                    self._kill(sandbox)
                    message = f"RequestId: {request_id} Error: Task timed out after {spec.timeout_seconds:.2f} seconds"
                    return False, _lambda_error("Sandbox.Timedout", message), "Sandbox.Timedout"
                events = selector.select(min(_SAMPLE_SECONDS, deadline - now))
                for key, _ in events:
                    if key.data == "log" and not self._drain(sandbox):
                        selector.unregister(sandbox.log_fd)
                if any(key.data == "reply" for key, _ in events):
                    return None
                if self._resident_bytes(sandbox.pid) > memory_limit:
                    self._kill(sandbox)
                    message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
                    return False, _lambda_error("Runtime.OutOfMemory", message), "Runtime.OutOfMemory"
                if now >= next_disk_sample:
                    next_disk_sample = now + _DISK_SAMPLE_SECONDS
                    if self._tmp_usage(sandbox) > disk_limit:
                        return self._no_space(sandbox)

    def _no_space(self, sandbox: Sandbox) -> tuple[bool, bytes, str | None]:
        self._kill(sandbox)
        limit = sandbox.spec.ephemeral_storage_mb
        message = (
            f"[Errno 28] No space left on device (the sandbox's /tmp went past its {limit} MB of ephemeral "
            "storage; the local engine stopped it)"
        )
        return False, _lambda_error("OSError", message), "OSError"

    def _ended(self, sandbox: Sandbox, request_id: str) -> tuple[bool, bytes, str | None]:
        """The worker died on its own: Lambda reports the runtime's exit."""
        self._drain(sandbox)
        if self._closing:
            message = f"RequestId: {request_id} Error: the local engine stopped this sandbox"
            return False, _lambda_error("Runtime.ExitError", message), "Runtime.ExitError"
        how = self._exit_status(sandbox.pid)
        message = f"RequestId: {request_id} Error: Runtime exited with error: {how}"
        return False, _lambda_error("Runtime.ExitError", message), "Runtime.ExitError"

    def _exit_status(self, pid: int) -> str:
        if self._zygote is None:
            return "unknown"
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                status = self._zygote.request({"op": "status", "pid": pid}).get("status")
            except SandboxRuntimeError:
                return "unknown"
            if status is not None:
                return str(status)
            time.sleep(0.01)
        return "unknown"

    def _kill(self, sandbox: Sandbox) -> None:
        if self._zygote is not None:
            with contextlib.suppress(SandboxRuntimeError):
                self._zygote.request({"op": "kill", "pid": sandbox.pid})

    def _drain(self, sandbox: Sandbox) -> bool:
        """Move what the sandbox wrote to the log, whole lines at a time; False at end of file."""
        while True:
            try:
                chunk = os.read(sandbox.log_fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                self._emit(sandbox, final=True)
                return False
            sandbox._pending += sandbox._decoder.decode(chunk)
            self._emit(sandbox, final=False)

    def _emit(self, sandbox: Sandbox, *, final: bool) -> None:
        text = sandbox._pending
        if final:
            lines, sandbox._pending = text, ""
        else:
            cut = text.rfind("\n") + 1
            lines, sandbox._pending = text[:cut], text[cut:]
        if lines:
            with self._log_lock:
                self._log_sink(lines)

    @staticmethod
    def _resident_bytes(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                return int(statm.read().split()[1]) * _PAGE_SIZE
        except (OSError, IndexError, ValueError):
            return 0

    @staticmethod
    def _tmp_usage(sandbox: Sandbox) -> int:
        total = 0
        pending = [sandbox.tmp]
        while pending:
            with contextlib.suppress(OSError), os.scandir(pending.pop()) as entries:
                for entry in entries:
                    with contextlib.suppress(OSError):
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(Path(entry.path))
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
        return total
