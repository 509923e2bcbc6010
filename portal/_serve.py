"""A real threaded WSGI server (werkzeug) for the portal, on the bind address (port 0 ok)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from werkzeug.serving import BaseWSGIServer, make_server

from portal._app import create_app
from portal._portal import Portal
from portal.config import PortalConfig

__all__ = ["PortalServer", "serve"]


def _split(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass
class PortalServer:
    """A bound server; ``url`` is its base URL with the real port. ``serve_forever`` blocks."""

    portal: Portal
    server: BaseWSGIServer

    @property
    def url(self) -> str:
        return f"http://{self.portal.bound}"

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="portal-http")
        thread.start()
        return thread

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.portal.close()


def serve(config: PortalConfig, portal: Portal | None = None) -> PortalServer:
    """Open the portal and bind its server (not yet serving)."""
    portal = portal or Portal.open(config)
    host, port = _split(config.bind)
    app = create_app(config, portal=portal)
    server = make_server(host, port, app, threaded=True)
    portal.bound = f"{host}:{server.server_port}"
    return PortalServer(portal, server)
