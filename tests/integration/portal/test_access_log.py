"""The portal's access log names the method, the matched route (a template), the status, the
duration and a request id (also on the answer), never the path's values or a query string
(which carry authorization codes, state and PKCE challenges), and nothing of it goes to stderr
unless the operator's log is configured (``dataward portal`` and ``serve`` do)."""

from __future__ import annotations

import logging
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from portal import PortalConfig, serve
from portal._serve import ACCESS_LOGGER


def test_access_log_names_routes_never_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    server = serve(PortalConfig(state_dir=tmp_path / "portal", bind="127.0.0.1:0"))
    server.start_in_thread()
    try:
        with caplog.at_level(logging.DEBUG, logger=ACCESS_LOGGER):
            url = f"{server.url}/oauth/authorize?code_challenge=SECRET-CHALLENGE&state=S3CR3T"
            # Not signed in: redirected to the sign-in page (the query travels in the redirect).
            with urllib.request.urlopen(url, timeout=5) as r:
                assert r.status == 200
            with urllib.request.urlopen(f"{server.url}/.well-known/jwks.json", timeout=5) as r:
                assert r.status == 200
                request_id = r.headers["X-Request-Id"]
            with pytest.raises(urllib.error.HTTPError) as missing:
                urllib.request.urlopen(f"{server.url}/no/such/S3CR3T-PATH", timeout=5)
            assert missing.value.code == 404
            missing.value.close()
            # a POST to a route with a variable part, refused (no session): its template only
            secret_url = f"{server.url}/partner/apps/CLIENT-ID-VALUE/secret"
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(secret_url, method="POST"), timeout=5)
            refused.value.close()
            # an OAuth refusal: its error code is the line's reason
            token = urllib.request.Request(
                f"{server.url}/oauth/token",
                data=b"grant_type=client_credentials&client_id=nobody&client_secret=S3CR3T",
            )
            with pytest.raises(urllib.error.HTTPError) as oauth:
                urllib.request.urlopen(token, timeout=5)
            oauth.value.close()
    finally:
        server.shutdown()
    records = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    seen = {(r.getMessage(), r.method, r.route, r.status) for r in records}  # type: ignore[attr-defined]
    assert ("request", "GET", "/.well-known/jwks.json", 200) in seen
    assert ("request", "GET", "/oauth/authorize", 302) in seen
    assert ("request_refused", "GET", "unmatched", 404) in seen
    assert any(r.route == "/partner/apps/<client_id>/secret" for r in records)  # type: ignore[attr-defined]
    token_lines = [r for r in records if r.route == "/oauth/token"]  # type: ignore[attr-defined]
    assert [(r.getMessage(), r.reason) for r in token_lines] == [  # type: ignore[attr-defined]
        ("request_refused", "invalid_client")
    ]
    assert request_id in {r.request_id for r in records}  # type: ignore[attr-defined]
    assert all(r.duration_ms >= 0 for r in records)  # type: ignore[attr-defined]
    text = repr([vars(r) for r in records])
    assert "SECRET" not in text and "S3CR3T" not in text and "CLIENT-ID-VALUE" not in text
    assert "SECRET" not in capfd.readouterr().err


def test_a_method_the_portal_does_not_know_is_logged_as_other(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # any RFC 9110 token is a method: a client's text (issue 14 review)
    value = "1101011990"
    server = serve(PortalConfig(state_dir=tmp_path / "portal", bind="127.0.0.1:0"))
    server.start_in_thread()
    try:
        with caplog.at_level(logging.DEBUG, logger=ACCESS_LOGGER):
            host, port = str(server.portal.bound).rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=5) as conn:
                conn.sendall(
                    f"{value} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
                )
                answer = b""
                while chunk := conn.recv(4096):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 405")
    finally:
        server.shutdown()
    records = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert [r.method for r in records] == ["OTHER"]  # type: ignore[attr-defined]
    assert all(value not in str(vars(r)) for r in records)
