"""The portal on waitress, a production WSGI server, on the bind address (port 0 ok).

Why waitress (issue 14): pure Python with no C build and no fork model to manage, it runs the
same on every OS; its fixed pool of threads suits the portal's SQLite/SQLAlchemy store, and one
process keeps one signing state (gunicorn's pre-forked workers would each hold their own
periodic signer and rate-limit counters). Werkzeug's development server, used before, says
itself it is not for production.

While it serves, a :class:`PeriodicSigner` signs portal-log checkpoints every
``config.log_checkpoint_seconds`` when the log grew, and once more at shutdown.

Every request goes through :class:`_AccessLog`: a request id (``X-Request-Id`` on the
answer), and a line on the ``dataward.portal.access`` logger naming the method, the matched
*route* (``/partner/apps/<client_id>/secret``, never the path: paths and query strings carry
authorization codes, state, PKCE challenges and ids), the status and the duration. Answers
of 400 and up are ``request_refused`` (WARNING, with the OAuth ``error`` code as ``reason``
when the answer has one) or ``request_failed`` (500 and up, ERROR),
slower than ``slow_ms`` ``request_slow`` (WARNING), the rest ``request`` (DEBUG).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, MultiSocketServer, create_server
from werkzeug.exceptions import HTTPException

from portal._app import create_app
from portal._portal import Portal
from portal._signer import PeriodicSigner
from portal.config import PortalConfig
from portal.errors import PortalBindError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["ACCESS_LOGGER", "PortalServer", "serve"]

ACCESS_LOGGER = "dataward.portal.access"
_access = logging.getLogger(ACCESS_LOGGER)
# Requests served at once. The portal's work is short (a page, a token, a feed poll); the
# slow part, Argon2 at sign-in, is bounded by its own throttles.
THREADS = 8
_STOP_TIMEOUT_SECONDS = 5
# waitress reads a whole body (spooling past 512 KiB to a temporary file) before the app sees
# it, up to 1 GiB by default: bound it here. Above the app's own 64 KiB MAX_CONTENT_LENGTH,
# so the app still answers what it accepts; past this, waitress answers 413 unread.
MAX_REQUEST_BODY_BYTES = 1024 * 1024


class _AccessLog:
    """The WSGI middleware of the module docstring."""

    def __init__(self, app: Flask, slow_ms: int) -> None:
        self._app = app
        self._wsgi = app.wsgi_app
        self._slow_ms = slow_ms
        app.after_request(_note_reason)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = secrets.token_hex(8)
        started = time.monotonic()
        status: list[int] = []

        def start(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status.append(int(code.split(" ", 1)[0]))
            headers.append(("X-Request-Id", request_id))
            return start_response(code, headers, exc_info)

        try:
            body = self._wsgi(environ, start)
        finally:
            self._log(environ, request_id, status[0] if status else 500, started)
        return body

    def _log(self, environ: WSGIEnvironment, request_id: str, status: int, started: float) -> None:
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        slow = duration_ms > self._slow_ms
        if status >= 500:
            level, event = logging.ERROR, "request_failed"
        elif status >= 400:
            level, event = logging.WARNING, "request_refused"
        elif slow:
            level, event = logging.WARNING, "request_slow"
        else:
            level, event = logging.DEBUG, "request"
        if not _access.isEnabledFor(level):
            return
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": _method(environ),
            "route": self._route(environ),
            "status": status,
            "duration_ms": duration_ms,
        }
        if _REASON_KEY in environ:
            fields["reason"] = environ[_REASON_KEY]
        if slow and event != "request_slow":
            fields["slow"] = True
        _access.log(level, event, extra=fields)

    def _route(self, environ: WSGIEnvironment) -> str:
        """The URL rule the request matched (a template, never its values), or ``unmatched``."""
        try:
            rule, _ = self._app.url_map.bind_to_environ(environ).match(return_rule=True)
        except HTTPException:
            return "unmatched"
        return str(rule.rule)


# The method is the client's text (any RFC 9110 token: "12345678901" is one): only a known
# method is written, any other as OTHER (issue 14 review).
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}
)


def _method(environ: WSGIEnvironment) -> str:
    method = str(environ.get("REQUEST_METHOD", ""))
    return method if method in _METHODS else "OTHER"


_REASON_KEY = "dataward.reason"
# An OAuth error code (RFC 6749 5.2: invalid_client, slow_down, ...): a fixed vocabulary.
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")


def _note_reason(response: Response) -> Response:
    """For the access log: a refused JSON answer's OAuth ``error`` code, when it is one."""
    if response.status_code >= 400 and response.is_json:
        body = response.get_json(silent=True)
        code = body.get("error") if isinstance(body, dict) else None
        if isinstance(code, str) and _ERROR_CODE.fullmatch(code):
            request.environ[_REASON_KEY] = code
    return response


def _split(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass
class PortalServer:
    """A bound server; ``url`` is its base URL with the real port. ``serve_forever`` blocks
    until :meth:`shutdown` (from another thread) or an exception in this one (a signal)."""

    portal: Portal
    server: BaseWSGIServer | MultiSocketServer
    signer: PeriodicSigner
    socket_map: dict[int, Any]
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.portal.bound}"

    def serve_forever(self) -> None:
        self.signer.start()
        self._loop()

    def _loop(self) -> None:
        # waitress's own run() loops until every channel is gone; this loop also ends when
        # shutdown() asks (pull_trigger wakes the poll at once).
        adj = self.server.adj
        while not self._stopping.is_set() and self.socket_map:
            wasyncore.loop(
                timeout=adj.asyncore_loop_timeout,
                map=self.socket_map,
                use_poll=adj.asyncore_use_poll,
                count=1,
            )

    def start_in_thread(self) -> threading.Thread:
        self.signer.start()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="portal-http")
        self._thread.start()
        return self._thread

    def shutdown(self) -> None:
        """Stop accepting, let requests in flight finish and their answers leave (up to 5 s),
        stop serving, sign a last checkpoint, close the database."""
        deadline = time.monotonic() + _STOP_TIMEOUT_SECONDS
        for dispatcher in list(self.socket_map.values()):
            if isinstance(dispatcher, BaseWSGIServer):
                dispatcher.accepting = False  # read by the loop's next poll: no new connection
        serving = self._thread is not None and self._thread.is_alive()
        if serving and self._thread is not threading.current_thread():
            while self._busy() and time.monotonic() < deadline:
                time.sleep(0.01)  # the serving thread's loop still writes the answers
        self._stopping.set()
        if serving:
            if isinstance(self.server, BaseWSGIServer):  # else the poll ends within a second
                with contextlib.suppress(OSError):  # the trigger is closed already
                    self.server.pull_trigger()
            assert self._thread is not None
            self._thread.join(_STOP_TIMEOUT_SECONDS)
        else:  # serve_forever's loop was ended by a signal in this thread: drive it here
            adj = self.server.adj
            while self._busy() and time.monotonic() < deadline:
                wasyncore.loop(
                    timeout=0.05, map=self.socket_map, use_poll=adj.asyncore_use_poll, count=1
                )
        try:
            self.server.task_dispatcher.shutdown(timeout=_STOP_TIMEOUT_SECONDS)
            for channel in list(self.socket_map.values()):
                channel.close()
            self.socket_map.clear()
        finally:
            try:
                self.signer.stop()
            finally:
                self.portal.close()

    def _busy(self) -> bool:
        """A request is queued, running, or its answer not yet sent."""
        tasks = self.server.task_dispatcher
        if tasks.active_count or tasks.queue:
            return True
        return any(
            channel.requests or channel.total_outbufs_len
            for channel in list(self.socket_map.values())
            if isinstance(channel, HTTPChannel)
        )


def serve(
    config: PortalConfig, portal: Portal | None = None, *, slow_ms: int = 500
) -> PortalServer:
    """Open the portal and bind its server (not yet serving, not yet signing); a request slower
    than ``slow_ms`` milliseconds is logged as slow."""
    opened = portal is None
    portal = portal or Portal.open(config)
    host, port = _split(config.bind)
    app = create_app(config, portal=portal)
    socket_map: dict[int, Any] = {}
    try:
        server = create_server(
            _AccessLog(app, slow_ms),
            map=socket_map,
            host=host,
            port=port,
            threads=THREADS,
            max_request_body_size=MAX_REQUEST_BODY_BYTES,
            ident="dataward-portal",
            # X-Forwarded-For is the portal's to judge (portal.trusted_proxies, werkzeug's
            # ProxyFix in create_app): waitress would otherwise strip it before the app sees it.
            clear_untrusted_proxy_headers=False,
        )
    except OSError as exc:
        if opened:
            portal.close()
        why = "address in use" if exc.errno == errno.EADDRINUSE else exc.strerror or "refused"
        raise PortalBindError(f"the portal cannot listen on {config.bind}: {why}") from exc
    if isinstance(server, MultiSocketServer):  # a name with several addresses: the first one
        port = int(server.effective_listen[0][1])
    else:
        port = int(server.getsockname()[1])
    portal.bound = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # IPv6 in brackets
    signer = PeriodicSigner(portal.checkpoint, config.log_checkpoint_seconds)
    return PortalServer(portal, server, signer, socket_map)
