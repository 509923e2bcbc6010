"""A fake token issuer at the process boundary: the portal's JWKS, token and revocation HTTP
interface (same paths, same JSON), served by ``http.server`` on 127.0.0.1 port 0.

It signs RFC 9068 access tokens (ES256, ``typ: at+jwt``) with a key it generates, and can mint
tokens that are expired, forged (another key, same ``kid``), for another audience, etc.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey

AUDIENCE = "dataward-zone"
ZONE_CLIENT = ("zone-internal", "zone-secret")


class TokenIssuer:
    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": "k1", "alg": "ES256"})
        self.other_key = ECKey.generate_key("P-256", parameters={"kid": "k1", "alg": "ES256"})
        self.revoked: list[dict[str, Any]] = []
        self.issued: dict[str, str] = {}  # jti -> client_id
        self.clients: dict[
            str, tuple[str, list[str], list[str]]
        ] = {}  # id -> secret, scopes, purposes
        self.jwks_fetches = 0
        self.issuer = ""
        self._server: ThreadingHTTPServer | None = None

    # -- tokens ------------------------------------------------------------------------------
    def token(
        self,
        *,
        client_id: str = "app-1",
        org: str = "acme-insurance",
        scopes: tuple[str, ...] = ("eligibility:check", "identity:verify", "audit:read"),
        purposes: tuple[str, ...] = ("INSURANCE_UNDERWRITING",),
        audience: str = AUDIENCE,
        issuer: str | None = None,
        ttl: int = 600,
        forged: bool = False,
        typ: str = "at+jwt",
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        jti = secrets.token_hex(8)
        claims = {
            "iss": issuer or self.issuer,
            "aud": audience,
            "sub": client_id,
            "client_id": client_id,
            "scope": " ".join(scopes),
            "jti": jti,
            "iat": now,
            "exp": now + ttl,
            "org": org,
            "org_kind": "INSURER",
            "purposes": list(purposes),
            **(extra_claims or {}),
        }
        self.issued[jti] = client_id
        key = self.other_key if forged else self.key
        return jwt.encode({"alg": "ES256", "typ": typ, "kid": "k1"}, claims, key)

    def revoke_token(self, token: str) -> None:
        claims = json.loads(_b64(token.split(".")[1]))
        self.revoked.append({"jti": claims["jti"], "exp": claims["exp"]})

    def revoke_app(self, client_id: str) -> None:
        for jti, owner in self.issued.items():
            if owner == client_id:
                self.revoked.append({"jti": jti, "exp": int(time.time()) + 3600})

    # -- HTTP --------------------------------------------------------------------------------
    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"

    @property
    def revocations_url(self) -> str:
        return f"{self.issuer}/oauth/revocations"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/oauth/token"

    @contextmanager
    def serving(self) -> Iterator[TokenIssuer]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, code: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _basic(self) -> tuple[str, str] | None:
                value = self.headers.get("Authorization", "")
                if not value.startswith("Basic "):
                    return None
                user, _, password = base64.b64decode(value[6:]).decode().partition(":")
                return urllib.parse.unquote(user), urllib.parse.unquote(password)

            def do_GET(self) -> None:
                url = urllib.parse.urlparse(self.path)
                if url.path == "/.well-known/jwks.json":
                    issuer.jwks_fetches += 1
                    self._json(200, {"keys": [issuer.key.as_dict(private=False)]})
                elif url.path == "/oauth/revocations":
                    if self._basic() != ZONE_CLIENT:
                        self._json(401, {"error": "invalid_client"})
                        return
                    since = int(urllib.parse.parse_qs(url.query).get("since", ["0"])[0])
                    self._json(
                        200, {"cursor": len(issuer.revoked), "revoked": issuer.revoked[since:]}
                    )
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if self.path != "/oauth/token":
                    self._json(404, {"error": "not_found"})
                    return
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                creds = self._basic()
                client = issuer.clients.get(creds[0]) if creds else None
                if creds is None or client is None or client[0] != creds[1]:
                    self._json(401, {"error": "invalid_client"})
                    return
                scopes = form.get("scope", [""])[0].split()
                if not set(scopes) <= set(client[1]):
                    self._json(400, {"error": "invalid_scope"})
                    return
                token = issuer.token(
                    client_id=creds[0], scopes=tuple(scopes), purposes=tuple(client[2]), ttl=120
                )
                self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 120})

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server = server
        self.issuer = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
