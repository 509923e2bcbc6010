"""The portal's revocation feed, polled in the background.

``GET <issuer>/oauth/revocations?since=<cursor>`` with HTTP Basic auth of the zone's internal
client answers ``{"cursor": int, "revoked": [{"jti", "exp"}]}``. Every ``poll_seconds`` the
new entries are merged into a set of revoked ``jti`` (dropped once expired), so a revoked
token — including every token of a revoked app — is refused within ``poll_seconds`` plus one
request. **Fail closed:** when the last successful poll is older than ``stale_after_seconds``
(the portal is unreachable), every call is refused UNAVAILABLE rather than risk honouring a
revoked token.
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from grpc_api._jwks import http_get_json
from grpc_api.errors import Unavailable

__all__ = ["RevocationFeed"]


class RevocationFeed:
    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        poll_seconds: float = 5.0,
        stale_after_seconds: float | None = None,
        fetch: Callable[[str, dict[str, str]], Any] = http_get_json,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = url
        basic = base64.b64encode(
            f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(client_secret)}".encode()
        ).decode()
        self._headers = {"Authorization": f"Basic {basic}"}
        self.poll_seconds = poll_seconds
        self._stale_after = stale_after_seconds or max(3 * poll_seconds, poll_seconds + 10)
        self._fetch = fetch
        self._clock = clock
        self._wall = wall_clock
        self._cursor = 0
        self._revoked: dict[str, float] = {}
        self._last_ok = float("-inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> bool:
        """Fetch new revocations; True on success."""
        url = f"{self._url}?{urllib.parse.urlencode({'since': self._cursor})}"
        try:
            document = self._fetch(url, self._headers)
            cursor = int(document["cursor"])
            entries = [(str(e["jti"]), float(e["exp"])) for e in document["revoked"]]
        except Exception:
            return False
        now = self._wall()
        with self._lock:
            for jti, exp in entries:
                self._revoked[jti] = exp
            self._revoked = {j: e for j, e in self._revoked.items() if e > now}
            self._cursor = max(self._cursor, cursor)
            self._last_ok = self._clock()
        return True

    def age_seconds(self) -> float:
        """Seconds since the last successful poll (``inf`` before the first): the revocation
        feed-age metric; past ``stale_after_seconds`` every call is refused UNAVAILABLE."""
        with self._lock:
            return self._clock() - self._last_ok

    def is_revoked(self, jti: str) -> bool:
        with self._lock:
            if self._clock() - self._last_ok > self._stale_after:
                raise Unavailable("the zone cannot check token revocation right now")
            return jti in self._revoked

    def start(self) -> None:
        self.poll_once()
        self._thread = threading.Thread(target=self._run, name="revocation-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.poll_once()
