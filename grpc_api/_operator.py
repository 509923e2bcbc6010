"""Operator credentials: short-lived access tokens the zone's own signing key issues.

Only one process writes a zone's audit log (:mod:`enclave.audit`), so while ``dataward serve``
runs, an operator's CLI command that writes (``dataward consent grant``) goes through the
server's ``StewardService`` like a steward's call from the portal would (issue 8, fault 1).
Its credential is an RFC 9068 access token (``typ: at+jwt``, EdDSA) signed with the zone's
Ed25519 key under the key id :data:`OPERATOR_KID`: only someone who can unseal the zone's
keyring, i.e. who holds the master key, can mint one, and the server -- which holds the same
keyring -- verifies it without the portal.

It is narrower than a portal token: issuer :func:`operator_issuer` (not the portal's),
the zone's audience, scope ``steward:admin`` only, and a lifetime of at most
:data:`MAX_OPERATOR_TTL_SECONDS`. Every call made with it is audited under the client id
``cli`` and the organization ``operator``, as the same command run without a server is.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from joserfc import jwt
from joserfc.jwk import OKPKey

from dataward.access import Scope

__all__ = [
    "MAX_OPERATOR_TTL_SECONDS",
    "OPERATOR_CLIENT_ID",
    "OPERATOR_KID",
    "OPERATOR_ORGANIZATION",
    "OperatorKey",
    "mint_operator_token",
    "operator_issuer",
]

OPERATOR_KID = "dataward-zone-operator"
OPERATOR_CLIENT_ID = "cli"
OPERATOR_ORGANIZATION = "operator"
OPERATOR_SCOPES = frozenset({Scope.STEWARD_ADMIN.value})
MAX_OPERATOR_TTL_SECONDS = 300
_ALGORITHM = "Ed25519"


def operator_issuer(zone_key_name: str) -> str:
    """The ``iss`` of the zone's operator tokens (never the portal's issuer)."""
    return f"urn:dataward:operator:{zone_key_name}"


@dataclass(frozen=True)
class OperatorKey:
    """What the server needs to accept operator tokens: the zone's public key and issuer."""

    issuer: str
    public_key: Ed25519PublicKey

    def jwk(self) -> OKPKey:
        pem = self.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        return OKPKey.import_key(pem, {"kid": OPERATOR_KID})


def mint_operator_token(
    signing_key: Ed25519PrivateKey,
    *,
    issuer: str,
    audience: str,
    ttl_seconds: int = 60,
    clock: Callable[[], float] = time.time,
) -> str:
    """A fresh operator token (``steward:admin``) valid for ``ttl_seconds`` from now."""
    if not 0 < ttl_seconds <= MAX_OPERATOR_TTL_SECONDS:
        raise ValueError(f"an operator token lives 1..{MAX_OPERATOR_TTL_SECONDS} seconds")
    now = int(clock())
    pem = signing_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    key = OKPKey.import_key(pem, {"kid": OPERATOR_KID})
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": OPERATOR_CLIENT_ID,
        "client_id": OPERATOR_CLIENT_ID,
        "org": OPERATOR_ORGANIZATION,
        "scope": " ".join(sorted(OPERATOR_SCOPES)),
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": secrets.token_urlsafe(16),
    }
    header = {"alg": _ALGORITHM, "typ": "at+jwt", "kid": OPERATOR_KID}
    return jwt.encode(header, claims, key, algorithms=[_ALGORITHM])
