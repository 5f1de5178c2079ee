"""``pipeline run`` gives up cleanly: a timeout or a Ctrl-C while a file is still transforming
ends with a clear message and leaves no process behind (sandboxes, their zygote)."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks.engine import descendants

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PIPELINE = Path(sys.executable).parent / "pipeline"
DEADLINE_SECONDS = 120


@pytest.fixture(scope="module")
def slow_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 MB gzip that expands to 4 GB of CSV: minutes of transforming, as the issue's 39 MB one."""
    row = b"12345,some name here,67.5,2024-01-01T00:00:00Z\n"
    block = row * (4 * 1024 * 1024 // len(row))
    member = gzip.compress(block, compresslevel=9)
    path = tmp_path_factory.mktemp("slow") / "expanding.csv.gz"
    with path.open("wb") as out:
        out.write(gzip.compress(b"id,name,amount,ts\n" + block))
        out.write(member * 1000)
    return path


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def as_from_a_shell() -> None:
    """In the child before ``exec``: Ctrl-C at its default action and not blocked, as a shell
    starts a command, whatever this test process holds. Started by the full suite's worker, a
    run twice ignored the Ctrl-C and ran to its own end; started alone, never (cause unproven)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def running(*args: str) -> Iterator[tuple[subprocess.Popen[str], set[int]]]:
    """``pipeline run ARGS`` started; the set of its descendants seen so far, kept up to date by ``watch``."""
    process = subprocess.Popen(
        [str(PIPELINE), "run", *args],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_from_a_shell,  # noqa: PLW1509 - two signal calls, no lock taken
    )
    try:
        yield process, set()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def watch_until(process: subprocess.Popen[str], seen: set[int], condition: Callable[[], bool]) -> None:
    """Record the process's descendants until ``condition()`` holds (or the deadline passes)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        seen |= set(descendants(process.pid))
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("the run never got there")


def transforming(process: subprocess.Popen[str]) -> Callable[[], bool]:
    """True once a process under the run has used 2 s of CPU: only the transform's sandbox does (the
    zygote's imports take about 0.4 s; the run's functions are initialized as the engine starts,
    before the upload, so counting sandboxes says nothing)."""
    return lambda: any(cpu_seconds(pid) >= 2.0 for pid in descendants(process.pid))


def signals(pid: int) -> dict[str, str]:
    """The pending, blocked, ignored and caught signal masks of ``pid`` (/proc/PID/status)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    masks = ("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")
    return dict(line.split(":\t", 1) for line in lines if line.startswith(masks))


def cpu_seconds(pid: int) -> float:
    """The user and system time ``pid`` has used (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_run_past_its_timeout_says_so_and_leaves_nothing_running(slow_file: Path) -> None:
    # Given a run of a file that transforms for minutes, given 20 s
    with running(str(slow_file), "--timeout", "20") as (process, seen):
        # When it is past its timeout (its sandboxes were seen while it ran)
        watch_until(process, seen, lambda: process.poll() is not None)
        out, err = process.communicate(timeout=DEADLINE_SECONDS)

    # Then it exits 1 with one clear line, no traceback
    assert process.returncode == 1, err
    assert "still RUNNING after 20 s" in err
    assert "Traceback" not in err + out
    # And every process it started (the zygote, the sandboxes) is gone
    assert len(seen) >= 2, f"the run started no sandbox: {seen}"
    assert not [pid for pid in seen if alive(pid)]


def test_ctrl_c_during_a_run_stops_it_with_a_message_and_exit_130(slow_file: Path) -> None:
    # Given a run of a file that transforms for minutes, its transform started
    started = time.monotonic()
    with running(str(slow_file)) as (process, seen):
        watch_until(process, seen, transforming(process))

        # When the user presses Ctrl-C
        when = (
            f"Ctrl-C {time.monotonic() - started:.1f} s after the start; CPU seconds then "
            f"{ {pid: cpu_seconds(pid) for pid in descendants(process.pid)} }; the run's signals {signals(process.pid)}"
        )
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=DEADLINE_SECONDS)

    # Then it says it stopped, exits 130, and leaves nothing running
    assert process.returncode == 130, f"{when}\n{out}{err}"
    assert "interrupted; the local engine stopped" in err
    assert "Traceback" not in err + out
    assert not [pid for pid in seen if alive(pid)]


def test_the_zygote_stops_its_sandboxes_when_the_engine_dies_without_a_word(slow_file: Path) -> None:
    # Given a run, its sandboxes running
    with running(str(slow_file)) as (process, seen):
        watch_until(process, seen, transforming(process))

        # When the engine is killed outright (no cleanup of its own)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

        # Then its zygote notices and takes every sandbox down with it
        deadline = time.monotonic() + 30
        while [pid for pid in seen if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not [pid for pid in seen if alive(pid)]
