"""The portal's JSON Web Key Set, fetched over HTTP, cached, refreshed on an unknown ``kid``.

A token signed with a ``kid`` the cache does not hold triggers a refetch (a key rotation at the
portal), but at most once per ``min_refetch_seconds``: a flood of tokens with random ``kid``
values cannot turn the zone into a request amplifier against the portal. The whole set is
also refetched when older than ``max_age_seconds``. If the portal is unreachable, the cached
keys stay in use; with no cached key the call fails UNAVAILABLE.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from joserfc.jwk import KeySet

from grpc_api.errors import Unauthenticated, Unavailable

__all__ = ["JwksCache", "http_get_json"]

_TIMEOUT_SECONDS = 5.0
_MAX_BYTES = 1 << 20


def http_get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    """GET a JSON document (http or https only)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("only http(s) URLs are fetched")
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (scheme checked)
    with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310
        return json.loads(response.read(_MAX_BYTES))


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        min_refetch_seconds: float = 30.0,
        max_age_seconds: float = 3600.0,
        fetch: Callable[[str], Any] = http_get_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._min_refetch = min_refetch_seconds
        self._max_age = max_age_seconds
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")
        self.fetches = 0

    def keys_for(self, kid: str) -> KeySet:
        """A key set holding ``kid`` (refetching if allowed); Unauthenticated if none does."""
        with self._lock:
            now = self._clock()
            stale = now - self._fetched_at > self._max_age
            if (kid not in self._kids or stale) and now - self._fetched_at >= self._min_refetch:
                self._refresh(now)
            if self._keys is None:
                raise Unavailable()
            if kid not in self._kids:
                raise Unauthenticated("the token is signed with an unknown key")
            return self._keys

    def _refresh(self, now: float) -> None:
        self._fetched_at = now
        self.fetches += 1
        try:
            document = self._fetch(self._url)
            keys = KeySet.import_key_set(document)
        except Exception:
            return
        self._keys = keys
        self._kids = frozenset(str(k.kid) for k in keys.keys if k.kid)
