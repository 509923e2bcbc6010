"""The portal's access log names method, path and status, never a query string (which carries
authorization codes, state and PKCE challenges), and nothing of it goes to stderr."""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path

import pytest

from portal import PortalConfig, serve
from portal._serve import ACCESS_LOGGER


def test_access_log_drops_query_strings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    server = serve(PortalConfig(state_dir=tmp_path / "portal", bind="127.0.0.1:0"))
    server.start_in_thread()
    try:
        with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
            url = f"{server.url}/oauth/authorize?code_challenge=SECRET-CHALLENGE&state=S3CR3T"
            # Not signed in: redirected to the sign-in page (the query travels in the redirect).
            with urllib.request.urlopen(url, timeout=5) as r:
                assert r.status == 200
            with urllib.request.urlopen(f"{server.url}/.well-known/jwks.json", timeout=5) as r:
                assert r.status == 200
    finally:
        server.shutdown()
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    assert "GET /.well-known/jwks.json 200" in lines
    assert "GET /oauth/authorize 302" in lines
    assert not any("SECRET" in line or "S3CR3T" in line for line in lines)
    assert "SECRET" not in capfd.readouterr().err
