"""The portal's ``GET /healthz`` over its real server (waitress): 200 ``ok`` while it can work,
503 naming ``database`` -- and no error text -- when its store cannot answer; never cached,
and open to an unauthenticated probe. And the server bounds request bodies itself."""

from __future__ import annotations

import json
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
    body = b"x" * (MAX_REQUEST_BODY_BYTES + 1)
    request = urllib.request.Request(f"{server.url}/oauth/token", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    with refused.value:
        assert refused.value.code == 413
