"""Access-token sources for the SDK: a fixed token, or OAuth 2.0 client credentials with a
client secret (HTTP Basic) or a private key (``private_key_jwt``, RFC 7523)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from typing import Protocol

from dataward.client._keys import PrivateKey, signing_key
from dataward.client.errors import TokenError

__all__ = [
    "ASSERTION_TYPE",
    "MAX_ASSERTION_SECONDS",
    "ClientCredentialsTokenSource",
    "PrivateKeyJwtTokenSource",
    "StaticTokenSource",
    "TokenSource",
]

#: RFC 7523 §2.2's client_assertion_type.
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: The longest client assertion the portal takes (its ``exp`` at most this far ahead).
MAX_ASSERTION_SECONDS = 300


class TokenSource(Protocol):
    def token(self) -> str: ...


class StaticTokenSource:
    def __init__(self, access_token: str) -> None:
        self._token = access_token

    def token(self) -> str:
        return self._token


class _TokenEndpointSource:
    """RFC 6749 §4.4 client credentials against a token endpoint, the token cached and
    fetched again ``refresh_margin`` seconds before it expires (or after :meth:`invalidate`,
    e.g. on an UNAUTHENTICATED answer). Subclasses say how the client authenticates."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        scope: str | Iterable[str],
        *,
        refresh_margin: float,
        timeout: float,
        clock: Callable[[], float],
    ) -> None:
        if not token_url.startswith(("https://", "http://")):
            raise ValueError("token_url must be an http(s) URL")
        self._url = token_url
        self._client_id = client_id
        self._scope = scope if isinstance(scope, str) else " ".join(scope)
        self._margin = refresh_margin
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetches = 0

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - self._margin:
                self._token, lifetime = self._fetch()
                self._expires_at = self._clock() + lifetime
            return self._token

    def _authentication(self) -> tuple[dict[str, str], dict[str, str]]:
        """The headers and form fields that authenticate the client."""
        raise NotImplementedError

    def _fetch(self) -> tuple[str, float]:
        self.fetches += 1
        headers, fields = self._authentication()
        body = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "scope": self._scope, **fields}
        )
        request = urllib.request.Request(  # noqa: S310 (scheme checked in __init__)
            self._url,
            data=body.encode(),
            headers={
                **headers,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                document = json.loads(response.read(1 << 20))
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read(1 << 16))
                error = str(answer.get("error", ""))
                description = str(answer.get("error_description", ""))
            except (ValueError, AttributeError):
                error, description = "", ""
            message = f"token endpoint refused: HTTP {exc.code} {error}".strip()
            raise TokenError(f"{message}: {description}" if description else message) from exc
        except (OSError, ValueError) as exc:
            raise TokenError("token endpoint unreachable or answered garbage") from exc
        token = document.get("access_token") if isinstance(document, dict) else None
        if not isinstance(token, str) or document.get("token_type", "").lower() != "bearer":
            raise TokenError("token endpoint answered without a bearer access token")
        return token, float(document.get("expires_in", 300))


class ClientCredentialsTokenSource(_TokenEndpointSource):
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
        super().__init__(
            token_url,
            client_id,
            scope,
            refresh_margin=refresh_margin,
            timeout=timeout,
            clock=clock,
        )
        self._secret = client_secret

    def __repr__(self) -> str:
        return f"ClientCredentialsTokenSource({self._url!r}, {self._client_id!r}, <secret>)"

    def _authentication(self) -> tuple[dict[str, str], dict[str, str]]:
        basic = base64.b64encode(
            f"{urllib.parse.quote(self._client_id)}:{urllib.parse.quote(self._secret)}".encode()
        ).decode()
        return {"Authorization": f"Basic {basic}"}, {}


class PrivateKeyJwtTokenSource(_TokenEndpointSource):
    """Client credentials with ``private_key_jwt`` client authentication (RFC 7523 §2.2,
    the method banks' security teams expect): no shared secret; each token request carries
    a fresh assertion signed with the app's private key, whose public key the partner
    registered in the portal.

    The assertion's claims are ``iss`` = ``sub`` = the client id, ``aud`` = the token
    endpoint, a random ``jti`` (the portal refuses one it has seen), ``iat`` and an ``exp``
    ``assertion_lifetime`` seconds later (the portal refuses more than 300). ``private_key``
    is a PEM (PKCS#8 or traditional, unencrypted) or a ``cryptography`` private key: EC
    P-256 signs ES256, RSA (2048 bits and up) PS256, Ed25519 Ed25519 (RFC 9864). Signing is
    joserfc's.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        private_key: bytes | str | PrivateKey,
        scope: str | Iterable[str],
        *,
        assertion_lifetime: int = 60,
        refresh_margin: float = 30.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            token_url,
            client_id,
            scope,
            refresh_margin=refresh_margin,
            timeout=timeout,
            clock=clock,
        )
        if not 1 <= assertion_lifetime <= MAX_ASSERTION_SECONDS:
            raise ValueError(f"assertion_lifetime must be 1..{MAX_ASSERTION_SECONDS} seconds")
        self._lifetime = assertion_lifetime
        self._key, self._alg = signing_key(private_key)

    def __repr__(self) -> str:
        return f"PrivateKeyJwtTokenSource({self._url!r}, {self._client_id!r}, <private key>)"

    def assertion(self) -> str:
        """A fresh client assertion (what each token request sends)."""
        now = int(self._clock())
        claims = {
            "iss": self._client_id,
            "sub": self._client_id,
            "aud": self._url,
            "jti": secrets.token_urlsafe(24),
            "iat": now,
            "exp": now + self._lifetime,
        }
        header = {"alg": self._alg, "typ": "JWT", "kid": self._key.thumbprint()}
        from joserfc import jwt  # there: signing_key imported it (or refused) in __init__

        return jwt.encode(header, claims, self._key, algorithms=[self._alg])

    def _authentication(self) -> tuple[dict[str, str], dict[str, str]]:
        return {}, {
            "client_id": self._client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(),
        }
