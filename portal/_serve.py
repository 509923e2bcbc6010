"""A real threaded WSGI server (werkzeug) for the portal, on the bind address (port 0 ok).

While it serves, a :class:`PeriodicSigner` signs portal-log checkpoints every
``config.log_checkpoint_seconds`` when the log grew, and once more at shutdown.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from portal._app import create_app
from portal._portal import Portal
from portal._signer import PeriodicSigner
from portal.config import PortalConfig

__all__ = ["ACCESS_LOGGER", "PortalServer", "serve"]

ACCESS_LOGGER = "dataward.portal.access"
_access = logging.getLogger(ACCESS_LOGGER)


class _AccessLogHandler(WSGIRequestHandler):
    """Logs method, path and status only: query strings carry authorization codes, state and
    PKCE challenges, which must never reach a log. Goes to the ``dataward.portal.access``
    logger (silent unless the operator configures logging), not to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        _access.info("%s %s %s", self.command, path, code)

    def log(self, type: str, message: str, *args: Any) -> None:
        _access.log(logging.ERROR if type == "error" else logging.INFO, message, *args)


def _split(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass
class PortalServer:
    """A bound server; ``url`` is its base URL with the real port. ``serve_forever`` blocks."""

    portal: Portal
    server: BaseWSGIServer
    signer: PeriodicSigner

    @property
    def url(self) -> str:
        return f"http://{self.portal.bound}"

    def serve_forever(self) -> None:
        self.signer.start()
        self.server.serve_forever()

    def start_in_thread(self) -> threading.Thread:
        self.signer.start()
        thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="portal-http")
        thread.start()
        return thread

    def shutdown(self) -> None:
        """Stop serving, sign a last checkpoint, close the database."""
        self.server.shutdown()
        self.server.server_close()
        try:
            self.signer.stop()
        finally:
            self.portal.close()


def serve(config: PortalConfig, portal: Portal | None = None) -> PortalServer:
    """Open the portal and bind its server (not yet serving, not yet signing)."""
    portal = portal or Portal.open(config)
    host, port = _split(config.bind)
    app = create_app(config, portal=portal)
    server = make_server(host, port, app, threaded=True, request_handler=_AccessLogHandler)
    portal.bound = f"{host}:{server.server_port}"
    signer = PeriodicSigner(portal.checkpoint, config.log_checkpoint_seconds)
    return PortalServer(portal, server, signer)
