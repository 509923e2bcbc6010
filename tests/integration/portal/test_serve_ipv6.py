"""The portal on an IPv6 loopback address: its URL and issuer put the host in brackets
(``http://[::1]:PORT``), so they can be reached -- ``http://::1:PORT`` could not."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from portal import PortalConfig, serve


def test_an_ipv6_bind_gives_a_reachable_url_and_issuer(tmp_path: Path) -> None:
    running = serve(PortalConfig(state_dir=tmp_path / "portal", bind="[::1]:0"))
    running.start_in_thread()
    try:
        assert running.url.startswith("http://[::1]:")
        with urllib.request.urlopen(f"{running.url}/healthz", timeout=5) as response:
            assert json.loads(response.read()) == {"status": "ok"}
        meta = f"{running.url}/.well-known/oauth-authorization-server"
        with urllib.request.urlopen(meta, timeout=5) as response:
            issuer = json.loads(response.read())["issuer"]
        assert issuer.startswith("http://[::1]:")
    finally:
        running.shutdown()
