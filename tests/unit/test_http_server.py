"""The engine's HTTP server: werkzeug's, its request threads reused, and ended on close."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.request import urlopen

import pytest
from werkzeug.serving import WSGIRequestHandler

from workflow.local.http_server import PooledWSGIServer


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


@contextmanager
def served(app: Callable[[dict[str, Any], Any], Iterable[bytes]]) -> Iterator[tuple[PooledWSGIServer, str]]:
    server = PooledWSGIServer("127.0.0.1", 0, app, _Quiet, close_wait_seconds=5)
    serving = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    serving.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        serving.join(timeout=5)
        # (closing waits for the request threads: a close that does not end them would hang)
        closing = threading.Thread(target=server.server_close, daemon=True)
        closing.start()
        closing.join(timeout=5)
        assert not closing.is_alive(), "server_close did not end the request threads"


def wait_for(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 5
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_one_request_after_another_is_served_by_one_thread_and_the_thread_ends_on_close() -> None:
    handled_by: list[threading.Thread] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        handled_by.append(threading.current_thread())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    with served(app) as (server, url):
        answers = []
        for index in range(5):
            answers.append(urlopen(f"{url}{index}", timeout=5).read())
            # (the thread is free again once it has closed the connection)
            assert wait_for(lambda: server._idle == 1)
    assert answers == [b"/0", b"/1", b"/2", b"/3", b"/4"]
    assert len(set(handled_by)) == 1
    assert handled_by[0] is not threading.current_thread()
    assert not handled_by[0].is_alive()


def test_a_request_that_arrives_while_every_thread_is_busy_gets_a_new_one() -> None:
    release = threading.Event()
    handled_by: dict[str, threading.Thread] = {}

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        handled_by[path] = threading.current_thread()
        if path == "/held":
            release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [path.encode()]

    with served(app) as (_, url):
        held: list[bytes] = []
        holder = threading.Thread(target=lambda: held.append(urlopen(f"{url}held", timeout=10).read()))
        holder.start()
        assert wait_for(lambda: "/held" in handled_by)
        # Then a second request is answered while the first is still held
        assert urlopen(f"{url}other", timeout=5).read() == b"/other"
        assert holder.is_alive()
        release.set()
        holder.join(timeout=10)
    assert held == [b"/held"]
    assert handled_by["/held"] is not handled_by["/other"]
    assert not [thread for thread in handled_by.values() if thread.is_alive()]


def test_a_port_in_use_is_reported_as_werkzeug_reports_it(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exited:
            PooledWSGIServer("127.0.0.1", port, lambda environ, start_response: [], _Quiet, close_wait_seconds=5)
    assert exited.value.code == 1
    assert f"Port {port} is in use by another program" in capsys.readouterr().err
