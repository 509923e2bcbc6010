"""Stopping the portal's server lets a request in flight finish and its whole answer leave --
one larger than the socket's buffers, which only the server's loop can finish sending -- and
then accepts nothing more (the real waitress server; a route added to its app for the test
holds the request until the stop has begun)."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from flask import Flask

from portal import PortalConfig, serve

ANSWER = "x" * 20_000_000


def test_shutdown_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    server = serve(PortalConfig(state_dir=tmp_path / "portal", bind="127.0.0.1:0"))
    app: Flask = server.server.application._app  # type: ignore[union-attr]
    entered, release = threading.Event(), threading.Event()

    def held() -> str:
        entered.set()
        release.wait(10)
        return ANSWER

    app.add_url_rule("/test-held", view_func=held)
    server.start_in_thread()
    answers: list[object] = []

    def ask() -> None:
        try:
            with urllib.request.urlopen(f"{server.url}/test-held", timeout=10) as response:
                answers.append((response.status, len(response.read())))
        except Exception as exc:  # the assertion below shows it
            answers.append(exc)

    client = threading.Thread(target=ask)
    client.start()
    assert entered.wait(10)
    stopping = threading.Thread(target=server.shutdown)
    stopping.start()
    time.sleep(0.2)  # the stop has begun while the request is held
    assert stopping.is_alive()
    release.set()
    stopping.join(10)
    client.join(10)
    assert not stopping.is_alive()
    assert answers == [(200, len(ANSWER))]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{server.url}/healthz", timeout=2)
