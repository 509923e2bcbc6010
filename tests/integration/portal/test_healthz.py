"""The portal's ``GET /healthz`` over its real server (waitress): 200 ``ok`` while it can work,
503 naming ``database`` -- and no error text -- when its store cannot answer; never cached,
and open to an unauthenticated probe. And the server bounds request bodies itself."""

from __future__ import annotations

import json
import socket
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal import PortalConfig, PortalServer, serve
from portal._serve import MAX_REQUEST_BODY_BYTES


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PortalServer]:
    running = serve(PortalConfig(state_dir=tmp_path / "portal", bind="127.0.0.1:0"))
    running.start_in_thread()
    yield running
    running.shutdown()


def _get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read()), response.headers["Cache-Control"]
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read()), error.headers["Cache-Control"]


def test_healthz_is_ok_while_the_portal_can_work(server: PortalServer) -> None:
    assert _get(f"{server.url}/healthz") == (200, {"status": "ok"}, "no-store")


def test_healthz_is_503_database_when_the_store_cannot_answer(
    server: PortalServer, tmp_path: Path
) -> None:
    db = sqlite3.connect(tmp_path / "portal" / "portal.db")
    try:
        db.execute("ALTER TABLE revocations RENAME TO revocations_away")
        db.commit()
        assert _get(f"{server.url}/healthz") == (
            503,
            {"status": "unavailable", "problem": "database"},
            "no-store",
        )
        db.execute("ALTER TABLE revocations_away RENAME TO revocations")
        db.commit()
        assert _get(f"{server.url}/healthz")[0] == 200
    finally:
        db.close()


def test_a_body_past_the_servers_bound_is_413_before_the_app(server: PortalServer) -> None:
    # Only the headers: the server refuses on the declared length, before reading any body
    # (sending the body too races the server's close with the client's write).
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /oauth/token HTTP/1.1\r\nHost: portal\r\n"
            + f"Content-Length: {MAX_REQUEST_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        status_line = connection.makefile("rb").readline()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line
