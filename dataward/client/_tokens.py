"""Access-token sources for the SDK: a fixed token, or OAuth 2.0 client credentials."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from typing import Protocol

from dataward.client.errors import TokenError

__all__ = ["ClientCredentialsTokenSource", "StaticTokenSource", "TokenSource"]


class TokenSource(Protocol):
    def token(self) -> str: ...


class StaticTokenSource:
    def __init__(self, access_token: str) -> None:
        self._token = access_token

    def token(self) -> str:
        return self._token


class ClientCredentialsTokenSource:
    """RFC 6749 §4.4 client credentials against the portal's token endpoint.

    The token is cached and fetched again ``refresh_margin`` seconds before it expires (or
    when :meth:`invalidate` is called, e.g. after an UNAUTHENTICATED answer). The client
    authenticates with HTTP Basic (``client_secret_basic``).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | Iterable[str],
        *,
        refresh_margin: float = 30.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not token_url.startswith(("https://", "http://")):
            raise ValueError("token_url must be an http(s) URL")
        self._url = token_url
        self._client_id = client_id
        self._secret = client_secret
        self._scope = scope if isinstance(scope, str) else " ".join(scope)
        self._margin = refresh_margin
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetches = 0

    def __repr__(self) -> str:
        return f"ClientCredentialsTokenSource({self._url!r}, {self._client_id!r}, <secret>)"

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - self._margin:
                self._token, lifetime = self._fetch()
                self._expires_at = self._clock() + lifetime
            return self._token

    def _fetch(self) -> tuple[str, float]:
        self.fetches += 1
        basic = base64.b64encode(
            f"{urllib.parse.quote(self._client_id)}:{urllib.parse.quote(self._secret)}".encode()
        ).decode()
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": self._scope})
        request = urllib.request.Request(  # noqa: S310 (scheme checked in __init__)
            self._url,
            data=body.encode(),
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                document = json.loads(response.read(1 << 20))
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read(1 << 16)).get("error", "")
            except (ValueError, AttributeError):
                error = ""
            raise TokenError(f"token endpoint refused: HTTP {exc.code} {error}".strip()) from exc
        except (OSError, ValueError) as exc:
            raise TokenError("token endpoint unreachable or answered garbage") from exc
        token = document.get("access_token")
        if not isinstance(token, str) or document.get("token_type", "").lower() != "bearer":
            raise TokenError("token endpoint answered without a bearer access token")
        return token, float(document.get("expires_in", 300))
