"""werkzeug's threaded WSGI server, its request threads kept and reused, its connections kept open.

werkzeug's server closes every connection after one request (``Connection: close``), and its
threaded server starts a thread for each: ``Thread.start`` then waits until the new thread runs,
and under a busy engine that wait is a GIL hand-off. The one thread that accepts connections spent
half its time there under ``pipeline serve``'s load (``py-spy --idle``), so every request of every
sandbox queued behind it. Here a finished connection's thread waits for the next connection, and a
new thread starts only when none is free: as many threads as connections at once, each started once.

``KeepAlive`` (a mixin of the request handler) keeps a connection open for the client's next
request (HTTP/1.1 keep-alive), as AWS's endpoints do, where werkzeug closes it: a sandbox's SDK
then sends its calls on one connection instead of connecting, and the engine accepting, for each.
werkzeug closes because ``http.server`` cannot tell where an unread request body ends; so a
connection is kept only when that cannot happen: the request's body, of a known length up to
``KEPT_BODY_BYTES``, is read before the application runs, and the answer has a length. Any other
request (a large upload, a chunked body, an answer streamed without a length) is werkzeug's, and
closes its connection as before. Everything else (parsing, errors, closing) is werkzeug's and
socketserver's.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import queue
import re
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

from werkzeug.debug.tbtools import DebugTraceback
from werkzeug.exceptions import InternalServerError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

_Connection = tuple[socket.socket, Any]  # (the accepted socket, the client's address)

# Request bodies up to this size are read before the application runs, so that the connection can
# be kept (an SDK call's body; the sandboxes' staging writes are a few KB). Larger ones stream as in
# werkzeug, and close the connection.
KEPT_BODY_BYTES = 1024**2
_DROPPED = (ConnectionError, TimeoutError)  # werkzeug's "connection dropped" errors, without TLS
_LENGTH = re.compile(r"[0-9]{1,16}")  # (``str.isdigit`` takes "²", and ``int`` refuses 5,000 digits)


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name.lower() == "content-length":
            return int(value) if _LENGTH.fullmatch(value.strip()) else None
    return None


class KeepAlive(WSGIRequestHandler):
    """Mix in before werkzeug's handler (or a subclass of it) to keep connections open.

    Only a request with one ``Content-Length`` of at most ``KEPT_BODY_BYTES`` (or none) and no
    ``Transfer-Encoding``, whose answer has a ``Content-Length`` (or no body), keeps its
    connection; the connection closes as in werkzeug when the client asks for it, or on any error.
    """

    # An answer's head and body are two writes: with Nagle's algorithm the body waits for the
    # client to acknowledge the head, which a client of a kept connection delays by 40 ms.
    disable_nagle_algorithm = True
    _answered = False  # whether the head of the current answer has been sent

    def run_wsgi(self) -> None:
        lengths = self.headers.get_all("Content-Length") or ["0"]
        size = int(lengths[0]) if len(lengths) == 1 and _LENGTH.fullmatch(lengths[0]) else None
        if "Transfer-Encoding" in self.headers or size is None or size > KEPT_BODY_BYTES:
            super().run_wsgi()
            self.close_connection = True  # (werkzeug's answer says so, but not after every error)
            return
        # (http.server's parse_request has answered an ``Expect: 100-continue`` already)
        body = self.rfile.read(size)
        if len(body) < size:
            self.close_connection = True  # the client left mid-body
            return
        self.environ = environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(body)
        self._answered = False
        try:
            self._answer(environ, self.server.app)
        except _DROPPED as error:
            self.close_connection = True
            self.connection_dropped(error, environ)
        except Exception as error:
            self.close_connection = True
            if self.server.passthrough_errors:
                raise
            if not self._answered:
                self._headers_buffer: list[bytes] = []  # (http.server's: a head that failed half-way is not sent)
                with contextlib.suppress(Exception):
                    self._answer(environ, InternalServerError())
            self.server.log("error", f"Error on request:\n{DebugTraceback(error).render_traceback_text()}")

    def _answer(self, environ: dict[str, Any], app: Any) -> None:
        """Run ``app`` and write its answer; one without a length is streamed, then the connection closed."""
        started: list[tuple[str, list[tuple[str, str]]]] = []
        written: list[bytes] = []  # (what the application gave WSGI's legacy ``write``)

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info and self._answered:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [(status, headers)]
            return written.append

        result: Iterable[bytes] = app(environ, start_response)
        try:
            chunks = iter(result)
            first = next(chunks, b"")
            status, headers = started[0]
            code, _, reason = status.partition(" ")
            declared = _content_length(headers)
            bodiless = environ["REQUEST_METHOD"] == "HEAD" or code in ("204", "304")
            self.send_response(int(code), reason)
            for name, value in headers:
                self.send_header(name, value)
            if self.close_connection or (declared is None and not bodiless):
                # (asked for, or after an error; http.server then closes after this answer)
                self.send_header("Connection", "close")
            self.end_headers()
            self._answered = True
            if bodiless:
                return
            sent = 0
            for chunk in itertools.chain(written, (first,), chunks):
                if declared is not None and sent + len(chunk) > declared:
                    # More than the application declared: the client would read the rest as the
                    # next answer. It gets what was declared, then the connection closes.
                    self.wfile.write(chunk[: declared - sent])
                    self.close_connection = True
                    return
                if chunk:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            if declared is not None and sent != declared:
                self.close_connection = True  # (fewer: the client sees the answer cut short)
        finally:
            if hasattr(result, "close"):
                result.close()


class PooledWSGIServer(BaseWSGIServer):
    """A multithreaded ``BaseWSGIServer`` whose request threads are reused."""

    multithread = True

    def __init__(
        self, host: str, port: int, app: Any, handler: type[WSGIRequestHandler], *, close_wait_seconds: float
    ) -> None:
        # (before werkzeug's __init__, which closes the server itself when the port is taken)
        self._close_wait_seconds = close_wait_seconds
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting on the queue, less the connections already put to them
        self._closed = False
        self._connections: queue.SimpleQueue[_Connection | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()  # connections being served (a kept one waits for a request)
        super().__init__(host, port, app, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Hand the connection to a free thread, or start one."""
        with self._lock:
            free = self._idle > 0
            if free:
                self._idle -= 1
            else:
                thread = threading.Thread(target=self._serve, args=((request, client_address),), daemon=True)
                self._threads.append(thread)
        if free:
            self._connections.put((request, client_address))
        else:
            thread.start()

    def server_close(self) -> None:
        """Close the socket; each thread ends after its request, and is waited for up to
        ``close_wait_seconds`` (past that it is left to end alone: it is a daemon thread). A kept
        connection waiting for its next request is ended: reading from it ends, an answer being
        written is still sent."""
        super().server_close()
        with self._lock:
            self._closed = True
            waiting, self._idle = self._idle, 0
            threads = list(self._threads)
            kept = list(self._open)
        for _ in range(waiting):
            self._connections.put(None)
        for connection in kept:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RD)
        deadline = time.monotonic() + self._close_wait_seconds
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _serve(self, connection: _Connection | None) -> None:
        while connection is not None:
            request, client_address = connection
            with self._lock:
                self._open.add(request)
                closed = self._closed
            if closed:  # (handed over as the server closed: answer what was asked, no more)
                with contextlib.suppress(OSError):
                    request.shutdown(socket.SHUT_RD)
            try:
                self.finish_request(request, client_address)
            except Exception:  # noqa: BLE001 - as socketserver does: the error is reported, the thread serves on
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)
            with self._lock:
                self._open.discard(request)
                if self._closed:
                    return
                self._idle += 1
            connection = self._connections.get()
