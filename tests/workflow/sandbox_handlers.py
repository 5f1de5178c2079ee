"""Handlers that misbehave, for the sandbox tests: a test deploys one as a function's handler
(``LambdaEmulator.configure(name, handler=...)``, Lambda's own setting), and it runs in that
function's sandbox with that function's environment and limits."""

from __future__ import annotations

import builtins
import ctypes
import os
import resource
import sys
import tempfile
import threading
import time
from typing import Any

# How long slow_init_handlers takes to import (a slow init, for the prewarm tests).
SLOW_INIT_SECONDS = 4.0

# What ``segfault`` logs before it crashes.
SEGFAULT_LINE = "reading address 0"

_warm_invocations = 0
_leaked: dict[str, str] = {}


def describe(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """What the sandbox looks like from inside."""
    global _warm_invocations  # noqa: PLW0603 - a sandbox's module state is what this observes
    _warm_invocations += 1
    return {
        "pid": os.getpid(),
        "invocations": _warm_invocations,
        "environment": dict(os.environ),
        "tmp": tempfile.gettempdir(),
        "leaked": dict(_leaked),
        "builtinLeak": getattr(builtins, "pipeline_leak", None),
        "remainingMs": context.get_remaining_time_in_millis(),
        "functionName": context.function_name,
        "arn": context.invoked_function_arn,
    }


def leak(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Leave state behind in every place a process keeps it."""
    _leaked["value"] = event["value"]
    os.environ["PIPELINE_LEAK"] = event["value"]
    builtins.pipeline_leak = event["value"]  # type: ignore[attr-defined]
    sys.modules[__name__].__dict__["planted"] = event["value"]
    return describe(event, context)


def sleep(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Take ``event["seconds"]`` (30 s for an event of the pipeline's)."""
    seconds = float(event.get("seconds", 30))
    time.sleep(seconds)
    return {"slept": seconds}


def hold(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Keep the invocation running until the file ``event["release"]`` exists (30 s at most)."""
    deadline = time.monotonic() + 30
    while not os.path.exists(event["release"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"released": os.path.exists(event["release"])}


def exhaust_memory(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Allocate (and touch) 16 MiB at a time, up to ``event["mb"]``."""
    held = []
    for _ in range(int(event["mb"]) // 16):
        held.append(bytearray(16 * 1024 * 1024))
        time.sleep(0.01)
    return {"held": len(held)}


def fill_tmp(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Write ``event["mb"]`` MiB into /tmp, 1 MiB at a time."""
    with tempfile.NamedTemporaryFile(delete=False) as spool:
        for _ in range(int(event["mb"])):
            spool.write(os.urandom(1024 * 1024))
            spool.flush()
            time.sleep(0.005)
    return {"written": event["mb"]}


def crash(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """End the process without a word, as a segfault or ``os._exit`` in a library would."""
    os._exit(int(event.get("status", 3)))


def segfault(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Read address 0 in native code, as a crashing C extension would (saying so in the log first)."""
    print(SEGFAULT_LINE, flush=True)
    ctypes.string_at(0)
    return {}


def open_files(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Keep ``event["count"]`` files of ``/tmp`` open at once, then close them; say the process's limit."""
    opened = []
    try:
        for index in range(event["count"]):
            opened.append(open(os.path.join(tempfile.gettempdir(), f"open-{index}"), "wb"))  # noqa: SIM115 - kept open on purpose
        return {"opened": len(opened), "limit": list(resource.getrlimit(resource.RLIMIT_NOFILE))}
    finally:
        for file in opened:
            file.close()


def start_threads(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Have ``event["count"]`` threads alive at once, then end them."""
    release = threading.Event()
    threads = [threading.Thread(target=release.wait) for _ in range(event["count"])]
    try:
        for thread in threads:
            thread.start()
        return {"alive": threading.active_count()}
    finally:
        release.set()
        for thread in threads:
            if thread.ident is not None:
                thread.join()
