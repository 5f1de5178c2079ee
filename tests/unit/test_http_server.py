"""The engine's HTTP server: werkzeug's, its request threads reused, its connections kept, and
ended on close."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.client import HTTPConnection
from typing import Any
from urllib.request import urlopen

import pytest
from werkzeug.serving import WSGIRequestHandler

from workflow.local import http_server
from workflow.local.http_server import KeepAlive, PooledWSGIServer

App = Callable[[dict[str, Any], Any], Iterable[bytes]]


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class _Keeping(KeepAlive, _Quiet):
    pass


@contextmanager
def served(app: App, handler: type[WSGIRequestHandler] = _Quiet) -> Iterator[tuple[PooledWSGIServer, str]]:
    server = PooledWSGIServer("127.0.0.1", 0, app, handler, close_wait_seconds=5)
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


# -- kept connections (KeepAlive) ------------------------------------------------------------


def echo(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Answers with the method, the path, the client's port and the body it read."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    answer = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {environ['REMOTE_PORT']} ".encode() + body
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
    return [answer]


def ask(connection: HTTPConnection, method: str, path: str, body: bytes | None = None) -> tuple[int, str, bytes]:
    """(status, the answer's Connection header, body) of one request on ``connection``."""
    connection.request(method, path, body=body)
    response = connection.getresponse()
    return response.status, response.getheader("Connection", ""), response.read()


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    return host, int(port)


@contextmanager
def connection_to(url: str) -> Iterator[HTTPConnection]:
    connection = HTTPConnection(*address(url), timeout=5)
    try:
        yield connection
    finally:
        connection.close()


def test_a_kept_connection_carries_one_request_after_another_and_their_bodies() -> None:
    with served(echo, _Keeping) as (_, url), connection_to(url) as connection:
        answers = [
            ask(connection, "GET", "/first"),
            ask(connection, "PUT", "/second", b"a body"),
            ask(connection, "POST", "/third", b"x" * 70_000),
            ask(connection, "HEAD", "/fourth"),
            ask(connection, "GET", "/fifth"),
        ]
    ports = {body.split()[2] for _, _, body in answers[:3]}
    assert len(ports) == 1, "each request came on a connection of its own"
    port = ports.pop().decode()
    assert [(status, kept) for status, kept, _ in answers] == [(200, "")] * 5
    assert answers[0][2] == f"GET /first {port} ".encode()
    assert answers[1][2] == f"PUT /second {port} a body".encode()
    assert answers[2][2] == f"POST /third {port} ".encode() + b"x" * 70_000
    assert answers[3][2] == b""
    assert answers[4][2] == f"GET /fifth {port} ".encode()


def test_an_answer_without_a_length_is_streamed_and_closes_its_connection() -> None:
    def streamed(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield f"{environ['REMOTE_PORT']} ".encode()
        yield b"streamed"

    with served(streamed, _Keeping) as (_, url), connection_to(url) as connection:
        first = ask(connection, "GET", "/")
        second = ask(connection, "GET", "/")  # (http.client connects again after a close)
    assert first[:2] == second[:2] == (200, "close")
    assert first[2].endswith(b" streamed")
    assert second[2].endswith(b" streamed")
    assert first[2] != second[2], "the connection was kept after an answer of no length"


def test_a_body_over_the_kept_size_is_read_by_werkzeug_and_closes_its_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http_server, "KEPT_BODY_BYTES", 16)
    with served(echo, _Keeping) as (_, url), connection_to(url) as connection:
        large = ask(connection, "PUT", "/large", b"y" * 1000)
        small = ask(connection, "PUT", "/small", b"z" * 16)
        after = ask(connection, "GET", "/after")
    assert large[0] == 200
    assert large[1] == "close"
    assert large[2].endswith(b" " + b"y" * 1000)
    assert small[:2] == (200, "")
    assert small[2].split()[2] == after[2].split()[2], "a small body's connection was not kept"
    assert large[2].split()[2] != small[2].split()[2]


def test_an_application_error_is_answered_500_and_closes_its_connection() -> None:
    def failing(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/fail":
            raise RuntimeError("the application failed")
        return echo(environ, start_response)

    with served(failing, _Keeping) as (_, url), connection_to(url) as connection:
        before = ask(connection, "GET", "/before")
        failed = ask(connection, "GET", "/fail")
        after = ask(connection, "GET", "/after")
    assert failed[0] == 500
    assert b"Internal Server Error" in failed[2]
    assert before[0] == after[0] == 200
    assert before[2].split()[2] != after[2].split()[2], "the connection was kept after an error"


def test_closing_ends_a_kept_connection_that_waits_for_its_next_request() -> None:
    server = PooledWSGIServer("127.0.0.1", 0, echo, _Keeping, close_wait_seconds=30)
    serving = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    serving.start()
    with connection_to(f"http://127.0.0.1:{server.server_address[1]}") as connection:
        assert ask(connection, "GET", "/")[0] == 200
        server.shutdown()
        serving.join(timeout=5)
        started = time.monotonic()
        server.server_close()
        took = time.monotonic() - started
    assert took < 2, f"closing waited {took:.1f} s for a connection with no request"


def exchange(url: str, sent: bytes) -> bytes:
    """What the server answers to ``sent`` (raw bytes) until it closes the connection."""
    with socket.create_connection(address(url), timeout=5) as connection:
        connection.sendall(sent)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def test_the_server_sends_an_answer_without_waiting_for_the_client_to_acknowledge_its_head() -> None:
    # (Nagle's algorithm held each answer's body until the client acknowledged its head: 40 ms
    # a request on a kept connection, where the client delays its acknowledgements)
    def nodelay(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        connection = environ["werkzeug.socket"]
        answer = str(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)).encode()
        start_response("200 OK", [("Content-Length", str(len(answer)))])
        return [answer]

    with served(nodelay, _Keeping) as (_, url), connection_to(url) as connection:
        status, _, answer = ask(connection, "GET", "/")
    assert status == 200
    assert answer != b"0"


def test_two_lengths_are_not_a_kept_request_and_what_follows_is_not_read_as_one() -> None:
    seen: list[str] = []

    def recording(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(environ["PATH_INFO"])
        return echo(environ, start_response)

    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    request = (
        b"POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
        + f"Content-Length: {len(smuggled)}\r\n\r\n".encode()
        + smuggled
    )
    with served(recording, _Keeping) as (_, url):
        answered = exchange(url, request)
    assert seen == ["/first"]
    assert answered.count(b"HTTP/1.1 ") == 1
    assert b"Connection: close" in answered


def test_an_answer_longer_than_its_length_is_cut_to_it_and_closes_its_connection() -> None:
    def overlong(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"0123456789"]

    with served(overlong, _Keeping) as (_, url):
        answered = exchange(url, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answered.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == b"01"


def test_a_length_of_other_digits_than_ascii_ones_is_answered_by_werkzeug() -> None:
    # ("²".isdigit() is true, and int("²") fails)
    with served(echo, _Keeping) as (_, url):
        answered = exchange(url, "POST /odd HTTP/1.1\r\nHost: x\r\nContent-Length: ²\r\n\r\n".encode("latin-1"))
    assert answered.startswith(b"HTTP/1.1 ")
    assert b"Connection: close" in answered


def test_a_head_that_fails_half_way_is_not_sent_before_the_500() -> None:
    def bad_header(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("X-Good", "1"), ("X-Bad", "\u20ac"), ("Content-Length", "2")])
        return [b"ok"]

    with served(bad_header, _Keeping) as (_, url):
        answered = exchange(url, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answered.startswith(b"HTTP/1.1 500")
    assert b"X-Good" not in answered
