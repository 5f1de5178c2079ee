"""A scaled clock for moto's interpreter: Retry backoff and Wait states take a fraction of real time.

moto sleeps for real (``time.sleep`` in its retrier, an event wait in its Wait states). The
clock records every delay the definition asked for, in seconds, and sleeps ``scale`` times it,
so tests assert the backoff without waiting for it. Both patches are moto internals; a test in
``tests/workflow/test_moto_reliances.py`` fails if moto moves them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction


@dataclass
class ScaledClock:
    scale: float
    retry_delays: list[float] = field(default_factory=list)
    wait_delays: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_sleep(self, seconds: float) -> None:
        with self._lock:
            self.retry_delays.append(seconds)
        time.sleep(seconds * self.scale)

    def wait(self, env: Any, seconds: int) -> None:
        with self._lock:
            self.wait_delays.append(float(seconds))
        env.program_state_event.wait(seconds * self.scale)


@contextmanager
def installed(clock: ScaledClock) -> Iterator[ScaledClock]:
    """Route moto's Retry and Wait delays through ``clock`` until the block ends."""
    # The retrier calls ``time.sleep`` through its module global ``time``.
    retrier_globals = vars(retrier_decl)
    original_time = retrier_globals["time"]
    original_wait = WaitFunction._wait_interval
    retrier_globals["time"] = SimpleNamespace(sleep=clock.retry_sleep)

    def scaled_wait(self: WaitFunction, env: Any, wait_seconds: int) -> None:
        clock.wait(env, wait_seconds)

    WaitFunction._wait_interval = scaled_wait  # type: ignore[method-assign]
    try:
        yield clock
    finally:
        retrier_globals["time"] = original_time
        WaitFunction._wait_interval = original_wait  # type: ignore[method-assign]
