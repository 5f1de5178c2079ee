"""The AWS endpoint the sandboxes call: the engine's moto services, behind the caller's identity.

The handlers run in other processes (``sandboxes.py``); their AWS calls reach the engine's moto
state through this server, on a loopback port of the engine process (``AWS_ENDPOINT_URL`` in
each sandbox). Forking after moto's state is built would not share it: each process would
change a copy. For each request, in AWS's order:

1. **who**: the access key id of the SigV4 signature names the sandbox, hence the function
   (``callers``); a key no live sandbox holds is refused as AWS refuses an unknown key. The
   signature itself is not verified: keys are random per sandbox and die with it.
2. **authorized?** ``authorize(function, call)`` decides with the function's role and the
   resource policies (``access.py``); a denial is answered with the service's own error.
3. **faulted?** a fault injected for that function's ``service.operation`` (``sdk_faults.py``).
4. moto answers (a plain ``GetObject`` or ``HeadObject`` of an object there from moto's model,
   without its web layers: ``s3_reads.py``); S3's "no such key" to a handler's ``GetObject``
   (``NoSuchKey``) or ``HeadObject`` of the current version (a bare 404) reaches only a function
   that may list the bucket there: any other gets 403 ``AccessDenied`` (``conceal``), as S3
   answers it, so that a missing ``s3:ListBucket`` fails here as it would on AWS. (The state
   machines' own reads, which do not come through here, are answered the same way by
   ``Access.state_machine_gate``.)
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.exceptions import BadRequestKeyError

from workflow.local import s3_reads, wire
from workflow.local.access import ABSENCE_CONCEALED, reads_a_missing_key
from workflow.local.http_server import KeepAlive, PooledWSGIServer
from workflow.local.iam.requests import UnmappedCall
from workflow.local.sdk_faults import SdkFaults

logger = logging.getLogger(__name__)
# How often the server looks for a shutdown request: stopping waits half of it on average
# (socketserver's default, 0.5 s, delayed every exit; at 0.05 s it was a fortieth of a warm
# `pipeline run`). Looking costs a wake-up of an idle thread.
_POLL_SECONDS = 0.01
# How long stopping waits for the requests being answered.
_CLOSE_WAIT_SECONDS = 10.0

Callers = Callable[[str], str | None]  # access key id -> function name
Authorize = Callable[[str, wire.Call], wire.Reply | None]  # (function, call) -> a denial, or None
# (function, call of a missing key) -> S3's 403 if the function may not learn that, or None
Conceal = Callable[[str, wire.Call], wire.Reply | None]

_NO_SUCH_KEY = b"<Code>NoSuchKey</Code>"

# What each protocol's services answer for a key they do not know.
_UNKNOWN_KEY = {
    "rest-xml": (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
    "query": (403, "InvalidClientTokenId", "The security token included in the request is invalid."),
    "json": (400, "UnrecognizedClientException", "The security token included in the request is invalid."),
    "rest-json": (403, "UnrecognizedClientException", "The security token included in the request is invalid."),
}


class _QuietHandler(KeepAlive, MotoRequestHandler):
    """moto's request handler, its connections kept, without werkzeug's line per request (a run
    makes hundreds)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.debug(message, *args)


def backend_app(service: Any) -> Flask:
    """moto's Flask app of a service, out of Flask's debug mode.

    moto turns debug on, and Flask's debug mode then replaces the class of each request's
    ``files`` on the fly to improve an error message (``flask.debughelpers``): 3 % of the engine's
    time under load. Exceptions still reach the server as they do in debug mode: a missing form
    field's ``BadRequestKeyError`` too (debug mode traps it), and only it among the ``BadRequest``
    errors (a client gone mid-body, ``ClientDisconnected``, is still answered 400, not logged by
    the server as a failure)."""
    app = create_backend_app(service)
    app.debug = False
    app.config["PROPAGATE_EXCEPTIONS"] = True
    flask_traps = app.trap_http_exception

    def trap_as_in_debug_mode(error: Exception) -> bool:
        return isinstance(error, BadRequestKeyError) or flask_traps(error)

    app.trap_http_exception = trap_as_in_debug_mode  # type: ignore[method-assign,assignment]
    return app


class Dispatcher(DomainDispatcherApplication):
    """moto's server application, which finds the backend of each request among every service's
    URL patterns under one lock (a quarter of the serve process's time under load); the backend of
    a signed request of a service below is looked up once per service."""

    _CACHED = frozenset({"s3", "sns", "sqs", "states", "events", "lambda", "cloudformation", "sts", "kms", "iam"})

    def __init__(self) -> None:
        super().__init__(backend_app)
        self._by_signing_name: dict[str, Any] = {}

    def get_application(self, environ: dict[str, Any]) -> Any:
        try:
            _, signing_name = wire.signing_scope(environ)
        except wire.UnreadableRequest:
            return super().get_application(environ)
        path = str(environ.get("PATH_INFO", ""))
        if signing_name not in self._CACHED or path.startswith(("/moto-api", "/v20180820/")):
            return super().get_application(environ)
        application = self._by_signing_name.get(signing_name)
        if application is None:
            application = self._by_signing_name[signing_name] = super().get_application(environ)
        return application


class _Dropped(ConnectionResetError):
    """The gateway dropped the connection on purpose (a service that does not answer)."""


class Gateway:
    """Serve moto's services to the sandboxes on ``127.0.0.1:<free port>`` until ``stop``."""

    def __init__(self, *, callers: Callers, authorize: Authorize, conceal: Conceal, faults: SdkFaults) -> None:
        self._callers = callers
        self._authorize = authorize
        self._conceal = conceal
        self._faults = faults
        self._moto = Dispatcher()
        # The sandboxes are stopped before the gateway: what they asked is answered by then.
        self._server = PooledWSGIServer(
            "127.0.0.1", 0, self._application, _QuietHandler, close_wait_seconds=_CLOSE_WAIT_SECONDS
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(_POLL_SECONDS,), name="local-gateway", daemon=True
        )
        self._counted = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()  # (service, operation) -> requests received

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()  # (its serve_forever then closes it)
        self._thread.join(timeout=_CLOSE_WAIT_SECONDS)

    def _application(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        try:
            call = self._read(environ)
        except (wire.UnreadableRequest, UnmappedCall) as exc:
            return _plain(start_response, 400, f"the local engine refused this request: {exc}")
        with self._counted:
            self.calls[(call.service, call.operation)] += 1
        function = self._callers(call.access_key)
        if function is None:
            return _reply(start_response, wire.error_reply(call, *_UNKNOWN_KEY[call.protocol]))
        try:
            denial = self._authorize(function, call)
        except UnmappedCall as exc:
            denial = wire.error_reply(call, 403, "AccessDenied", f"refused by the local engine: {exc}")
        if denial is not None:
            return _reply(start_response, denial)
        fault = self._faults.take(function, call.service, call.operation, environ.get("HTTP_AMZ_SDK_INVOCATION_ID"))
        if fault is not None:
            if fault.code is None:
                _drop(environ)
            message = f"fault injected by the local runtime: {fault.code}"
            return _reply(start_response, wire.error_reply(call, fault.status, str(fault.code), message))
        if call.service == "s3" and call.operation in ABSENCE_CONCEALED:
            return self._read_object(function, call, environ, start_response)
        moto_answer: Iterable[bytes] = self._moto(environ, start_response)
        return moto_answer

    def _read_object(
        self, function: str, call: wire.Call, environ: dict[str, Any], start_response: Any
    ) -> Iterable[bytes]:
        """moto's answer (``s3_reads``'s to a plain read of an object there), but a missing key's
        404 only if ``conceal`` lets the caller learn that. Any other answer goes through as moto
        gives it (only a 404's small body is ever held)."""
        plain = s3_reads.plain_read(environ)
        if plain is not None:
            answered: Iterable[bytes] = plain(environ, start_response)
            return answered
        held: list[tuple[str, list[tuple[str, str]], Any]] = []

        def hold_a_404(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if not status.startswith("404"):
                return start_response(status, headers, exc_info)
            held.append((status, headers, exc_info))
            return lambda _: None

        answer: Iterable[bytes] = self._moto(environ, hold_a_404)
        if not held:
            return answer
        body = b"".join(answer)
        with contextlib.suppress(Exception):
            getattr(answer, "close", lambda: None)()
        code = "NoSuchKey" if _NO_SUCH_KEY in body else "404"
        denial = self._conceal(function, call) if reads_a_missing_key(call.operation, call.params, code) else None
        if denial is None:
            start_response(*held[0])
            return [body]
        return _reply(start_response, denial)

    @staticmethod
    def _read(environ: dict[str, Any]) -> wire.Call:
        """The call of a request; the bodies of query and JSON calls are read (and put back)."""
        _, signing_name = wire.signing_scope(environ)
        body = b""
        if wire.SERVICES_BY_SIGNING_NAME.get(signing_name) not in (None, "s3", "lambda"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
        return wire.read_call(environ, body)


def _drop(environ: dict[str, Any]) -> None:
    """Close the connection without an answer (werkzeug then treats the request as dropped)."""
    connection = environ.get("werkzeug.socket")
    if isinstance(connection, socket.socket):
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    raise _Dropped("the local runtime dropped this call (an injected fault)")


def _reply(start_response: Any, reply: wire.Reply) -> list[bytes]:
    start_response(f"{reply.status} {_REASONS.get(reply.status, 'Error')}", reply.headers)
    return [reply.body]


def _plain(start_response: Any, status: int, text: str) -> list[bytes]:
    start_response(f"{status} {_REASONS.get(status, 'Error')}", [("Content-Type", "text/plain")])
    return [text.encode()]


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
