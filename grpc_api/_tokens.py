"""Bearer access tokens (RFC 9068 JWTs issued by the portal), verified locally.

Checks, in order, each failure a distinct ``Unauthenticated`` reason:

1. a compact JWS whose header says ``typ: at+jwt`` (RFC 9068 §4; ``application/at+jwt`` too)
   and names a ``kid`` → else TOKEN_INVALID;
2. the signature, with the portal's key of that ``kid`` (:class:`JwksCache`) and an allowed
   algorithm (ES256, Ed25519) → else TOKEN_INVALID (a forged token, signed with another key,
   lands here);
3. ``iss`` is the portal → TOKEN_ISSUER; ``aud`` contains this zone → TOKEN_AUDIENCE;
4. ``exp`` has not passed → TOKEN_EXPIRED;
5. ``nbf`` and ``iat`` are not in the future, beyond ``leeway_seconds`` of clock skew
   (RFC 7519 §4.1.5, RFC 9068 §4) → TOKEN_NOT_YET_VALID;
6. the ``jti`` is not in the revocation feed → TOKEN_REVOKED.

Besides the portal's tokens, the verifier accepts the zone's own operator tokens when it is
given the zone's :class:`~grpc_api._operator.OperatorKey`: key id ``dataward-zone-operator``,
the operator issuer, scope ``steward:admin`` only, short-lived (see :mod:`grpc_api._operator`).

Verified signatures are cached per token string (bounded), so a partner's repeated calls cost
a dictionary lookup; expiry and revocation are checked on every call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from joserfc import jws, jwt
from joserfc.errors import JoseError

from dataward.access import Purpose, Scope
from grpc_api._jwks import JwksCache
from grpc_api._operator import (
    MAX_OPERATOR_TTL_SECONDS,
    OPERATOR_CLIENT_ID,
    OPERATOR_KID,
    OPERATOR_ORGANIZATION,
    OPERATOR_SCOPES,
    OperatorKey,
)
from grpc_api.errors import Unauthenticated

__all__ = ["ALGORITHMS", "Principal", "RevocationCheck", "TokenVerifier"]

ALGORITHMS = ("ES256", "Ed25519")
_CACHE_LIMIT = 10_000


class RevocationCheck(Protocol):
    def is_revoked(self, jti: str) -> bool: ...


@dataclass(frozen=True)
class Principal:
    """Who calls, as the token says: the app, its organization, its scopes and purposes."""

    client_id: str
    subject: str
    organization: str
    org_kind: str
    scopes: frozenset[str]
    purposes: frozenset[str]
    jti: str
    expires_at: float
    # The latest of ``nbf`` and ``iat``: the token is refused before this (less the leeway).
    not_before: float = 0.0

    def has_scope(self, scope: Scope) -> bool:
        return scope.value in self.scopes

    def has_purpose(self, purpose: Purpose | str) -> bool:
        return str(purpose) in self.purposes


class TokenVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: JwksCache,
        revocations: RevocationCheck | None,
        operator: OperatorKey | None = None,
        leeway_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if leeway_seconds < 0:
            raise ValueError("leeway_seconds must not be negative")
        self._issuer = issuer
        self._operator = operator
        self._operator_keys = operator.jwk() if operator is not None else None
        self._leeway = leeway_seconds
        self._audience = audience
        self._jwks = jwks
        self._revocations = revocations
        self._clock = clock
        self._cache: dict[str, Principal] = {}
        self._lock = threading.Lock()

    def verify(self, bearer: str | None) -> Principal:
        if not bearer:
            raise Unauthenticated("an access token is required", reason="TOKEN_MISSING")
        with self._lock:
            principal = self._cache.get(bearer)
        if principal is None:
            principal = self._decode(bearer)
            with self._lock:
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                self._cache[bearer] = principal
        # Expired or revoked, the token's signature did verify: the refusal names its client
        # (``Unauthenticated.verified``) in the audit log.
        now = self._clock()
        if principal.expires_at <= now:
            refused = Unauthenticated("the access token has expired", reason="TOKEN_EXPIRED")
            refused.verified = principal
            raise refused
        if principal.not_before > now + self._leeway:
            refused = Unauthenticated(
                "the access token is not valid yet (nbf or iat is in the future)",
                reason="TOKEN_NOT_YET_VALID",
            )
            refused.verified = principal
            raise refused
        if self._revocations is not None and self._revocations.is_revoked(principal.jti):
            refused = Unauthenticated("the access token was revoked", reason="TOKEN_REVOKED")
            refused.verified = principal
            raise refused
        return principal

    def _decode(self, bearer: str) -> Principal:
        try:
            header = jws.extract_compact(bearer.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeError) as exc:
            raise Unauthenticated("the access token is not a JWT") from exc
        if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            raise Unauthenticated("the token is not an access token (typ at+jwt)")
        kid = header.get("kid")
        if not isinstance(kid, str) or header.get("alg") not in ALGORITHMS:
            raise Unauthenticated("the access token names no known key or algorithm")
        operator = kid == OPERATOR_KID
        if operator:
            if self._operator_keys is None or header.get("alg") != "Ed25519":
                raise Unauthenticated("the access token names no known key or algorithm")
            keys: Any = self._operator_keys
        else:
            keys = self._jwks.keys_for(kid)
        try:
            token = jwt.decode(bearer, keys, algorithms=list(ALGORITHMS))
        except (JoseError, ValueError) as exc:
            raise Unauthenticated("the access token signature does not verify") from exc
        if not operator:
            return self._principal(token.claims, self._issuer)
        assert self._operator is not None  # the keys exist only with the operator key
        principal = self._principal(token.claims, self._operator.issuer)
        if not principal.scopes <= OPERATOR_SCOPES or principal.purposes:
            raise Unauthenticated("an operator token carries steward:admin and nothing else")
        # Its calls are logged as the operator's, never as a partner's or a steward's.
        if (principal.client_id, principal.organization) != (
            OPERATOR_CLIENT_ID,
            OPERATOR_ORGANIZATION,
        ):
            raise Unauthenticated("an operator token names the operator and no one else")
        if principal.expires_at - principal.not_before > MAX_OPERATOR_TTL_SECONDS:
            raise Unauthenticated("an operator token must be short-lived")
        return principal

    def _principal(self, claims: dict[str, Any], issuer: str) -> Principal:
        if claims.get("iss") != issuer:
            raise Unauthenticated("the access token is from another issuer", reason="TOKEN_ISSUER")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self._audience not in audiences:
            raise Unauthenticated(
                "the access token is meant for another audience", reason="TOKEN_AUDIENCE"
            )
        exp = claims.get("exp")
        jti = claims.get("jti")
        client_id = claims.get("client_id")
        if not isinstance(exp, int | float) or not isinstance(jti, str) or not client_id:
            raise Unauthenticated("the access token lacks exp, jti or client_id")
        purposes = claims.get("purposes") or []
        if not isinstance(purposes, list):
            raise Unauthenticated("the access token's purposes claim is malformed")
        times: list[float] = []
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is None:
                continue
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise Unauthenticated("the access token's nbf or iat claim is malformed")
            times.append(float(value))
        return Principal(
            client_id=str(client_id),
            subject=str(claims.get("sub", client_id)),
            organization=str(claims.get("org") or client_id),
            org_kind=str(claims.get("org_kind", "")),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            purposes=frozenset(str(p) for p in purposes),
            jti=jti,
            expires_at=float(exp),
            not_before=max(times, default=0.0),
        )
