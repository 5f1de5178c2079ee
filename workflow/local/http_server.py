"""werkzeug's threaded WSGI server, its request threads kept and reused.

werkzeug's server closes every connection after one request (``Connection: close``), and its
threaded server starts a thread for each: ``Thread.start`` then waits until the new thread runs,
and under a busy engine that wait is a GIL hand-off. The one thread that accepts connections spent
half its time there under ``pipeline serve``'s load (``py-spy --idle``), so every request of every
sandbox queued behind it. Here a finished request's thread waits for the next connection, and a
new thread starts only when none is free: as many threads as requests at once, each started once.
Everything else (parsing, the handler, errors, closing) is werkzeug's and socketserver's.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

_Connection = tuple[socket.socket, Any]  # (the accepted socket, the client's address)


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
        ``close_wait_seconds`` (past that it is left to end alone: it is a daemon thread)."""
        super().server_close()
        with self._lock:
            self._closed = True
            waiting, self._idle = self._idle, 0
            threads = list(self._threads)
        for _ in range(waiting):
            self._connections.put(None)
        deadline = time.monotonic() + self._close_wait_seconds
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _serve(self, connection: _Connection | None) -> None:
        while connection is not None:
            request, client_address = connection
            try:
                self.finish_request(request, client_address)
            except Exception:  # noqa: BLE001 - as socketserver does: the error is reported, the thread serves on
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)
            with self._lock:
                if self._closed:
                    return
                self._idle += 1
            connection = self._connections.get()
