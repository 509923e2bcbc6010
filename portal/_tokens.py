"""JWT access tokens per RFC 9068, and the adapters Authlib reads clients and tokens through.

Header ``{"alg": "ES256", "typ": "at+jwt", "kid": ...}``; claims ``iss aud sub client_id scope
jti iat exp`` plus ``org`` (the organization's slug: what the zone's policy grants and
consents name, stable forever; issue 14), ``org_name`` (its display name), ``org_kind`` and
``purposes``. The zone's own client has ``org`` and ``org_name`` ``zone``.
Signing and verification are joserfc's; nothing here parses a JWT by hand.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from portal._keys import ALG, KeyRing
from portal._models import AppKind, AppStatus, Client, OrgStatus, Token
from portal._views import OrganizationView, UserView

__all__ = ["ClientAdapter", "JwtTokenGenerator", "TokenAdapter", "read_claims", "verify_own"]

CONFIDENTIAL_METHODS = ("client_secret_basic", "client_secret_post")
PRIVATE_KEY_JWT = "private_key_jwt"


class ClientAdapter:
    """Authlib's ClientMixin over a (detached) ``Client`` row."""

    def __init__(
        self,
        row: Client,
        org: OrganizationView | None,
        check_secret: Callable[[str | None, str], bool],
    ) -> None:
        self.row = row
        self.org = org
        self._check_secret = check_secret

    @property
    def client_id(self) -> str:
        return self.row.client_id

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.row.redirect_uris[0] if self.row.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        # Never used to filter silently: grants refuse scopes beyond the grant (invalid_scope).
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self._check_secret(self.row.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.row.kind == AppKind.SIGN_IN:
            return method == "none" and endpoint == "token"
        if self.row.jwks:  # issue 14: an app with a registered key authenticates with it only
            return method == PRIVATE_KEY_JWT
        return method in CONFIDENTIAL_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        if self.row.kind == AppKind.APP:
            return grant_type == "client_credentials"
        if self.row.kind == AppKind.SIGN_IN:
            return grant_type in {"authorization_code", "refresh_token"}
        return False

    def check_response_type(self, response_type: str) -> bool:
        return self.row.kind == AppKind.SIGN_IN and response_type == "code"

    @property
    def active(self) -> bool:
        return self.row.status == AppStatus.APPROVED and not self.org_suspended

    @property
    def org_suspended(self) -> bool:
        return self.org is not None and self.org.status != OrgStatus.ACTIVE


class TokenAdapter:
    """Authlib's TokenMixin over a ``Token`` row, as its access or its refresh token."""

    def __init__(self, row: Token, is_refresh: bool, now: float) -> None:
        self.row = row
        self.is_refresh = is_refresh
        self._now = now

    def check_client(self, client: ClientAdapter) -> bool:
        return self.row.client_id == client.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return max(0, int(self.row.expires_at - self.row.issued_at))

    def is_expired(self) -> bool:
        if self.is_refresh:
            return (self.row.refresh_expires_at or 0) <= self._now
        return self.row.expires_at <= self._now

    def is_revoked(self) -> bool:
        if self.is_refresh:
            return self.row.refresh_revoked or self.row.refresh_used
        return self.row.revoked


@dataclass(frozen=True)
class _Subject:
    sub: str
    org: str
    org_name: str
    org_kind: str
    purposes: list[str]


class JwtTokenGenerator:
    """Authlib token generator: an RFC 9068 JWT access token, an opaque refresh token."""

    def __init__(
        self,
        keys: KeyRing,
        issuer: Callable[[], str],
        audience: str,
        access_ttl: int,
        clock: Callable[[], float],
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._ttl = access_ttl
        self._clock = clock

    def __call__(
        self,
        *,
        grant_type: str,
        client: ClientAdapter,
        user: UserView | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        if not scope:  # no scope asked: everything granted (to this person, via this client)
            scope = " ".join(client.row.granted_scopes)
        subject = self._subject(client, user)
        now = int(self._clock())
        ttl = expires_in or self._ttl
        claims = {
            "iss": self._issuer(),
            "aud": self._audience,
            "sub": subject.sub,
            "client_id": client.client_id,
            "scope": scope,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + ttl,
            "org": subject.org,
            "org_name": subject.org_name,
            "org_kind": subject.org_kind,
            "purposes": subject.purposes,
        }
        key = self._keys.signing_key()
        header = {"alg": ALG, "typ": "at+jwt", "kid": key.kid}
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": jwt.encode(header, claims, key),
            "expires_in": ttl,
            "scope": scope,
        }
        if include_refresh_token and user is not None:
            token["refresh_token"] = secrets.token_urlsafe(32)
        return token

    @staticmethod
    def _subject(client: ClientAdapter, user: UserView | None) -> _Subject:
        if user is not None:
            return _Subject(f"user:{user.id}", user.org_slug, user.org_name, user.org_kind, [])
        org = client.org
        return _Subject(
            client.client_id,
            org.slug if org else "zone",
            org.name if org else "zone",
            org.kind if org else "STEWARD",
            list(client.row.granted_purposes),
        )


def read_claims(token: str) -> dict[str, Any]:
    """The claims of a token this portal just minted (signature not re-checked)."""
    payload = jws.extract_compact(token.encode("ascii")).payload
    claims: dict[str, Any] = json.loads(payload)
    return claims


def verify_own(keys: KeyRing, token: str, now: float) -> dict[str, Any] | None:
    """Claims of a JWT signed by one of the published keys, or None (expiry not checked)."""
    try:
        decoded = jwt.decode(token, keys.published(now), algorithms=[ALG])
    except (JoseError, ValueError):
        return None
    if decoded.header.get("typ") != "at+jwt":
        return None
    return dict(decoded.claims)
