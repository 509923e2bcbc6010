"""Typed portal events: the leaves of the portal log.

One frozen dataclass per kind, with a stable ``KIND`` and only non-sensitive fields: ids,
scopes, purposes, jti. Never a password, a secret, a token value, a username or free text a
person typed (a rejection reason stays in the database, not in the log).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "AppDecided",
    "AppRegistered",
    "ClientKeyRegistered",
    "ClientSecretIssued",
    "GrantsChanged",
    "OrganizationCreated",
    "OrganizationStatusChanged",
    "PortalEvent",
    "SignIn",
    "SignInFailed",
    "SigningKeyRotated",
    "TokenIssued",
    "TokenRevoked",
    "UserCreated",
    "UserDisabled",
    "canonical_leaf",
]


@dataclass(frozen=True)
class PortalEvent:
    KIND: ClassVar[str] = "event"


@dataclass(frozen=True)
class SignIn(PortalEvent):
    KIND: ClassVar[str] = "sign_in"
    user_id: int
    role: str


@dataclass(frozen=True)
class SignInFailed(PortalEvent):
    """A failed sign-in; ``user_id`` is None for an unknown username (which is not logged)."""

    KIND: ClassVar[str] = "sign_in_failed"
    user_id: int | None
    throttled: bool


@dataclass(frozen=True)
class OrganizationCreated(PortalEvent):
    KIND: ClassVar[str] = "organization_created"
    organization_id: int
    org_kind: str


@dataclass(frozen=True)
class OrganizationStatusChanged(PortalEvent):
    """An organization suspended or resumed; ``by_user_id`` None for the operator's CLI."""

    KIND: ClassVar[str] = "organization_status_changed"
    organization_id: int
    status: str
    by_user_id: int | None


@dataclass(frozen=True)
class UserDisabled(PortalEvent):
    KIND: ClassVar[str] = "user_disabled"
    user_id: int
    by_user_id: int | None


@dataclass(frozen=True)
class UserCreated(PortalEvent):
    KIND: ClassVar[str] = "user_created"
    user_id: int
    role: str
    organization_id: int


@dataclass(frozen=True)
class AppRegistered(PortalEvent):
    KIND: ClassVar[str] = "app_registered"
    client_id: str
    app_kind: str
    organization_id: int | None
    by_user_id: int | None
    scopes: tuple[str, ...]
    purposes: tuple[str, ...]


@dataclass(frozen=True)
class AppDecided(PortalEvent):
    """A status change: APPROVED, REJECTED, SUSPENDED, REVOKED (or back to APPROVED)."""

    KIND: ClassVar[str] = "app_decided"
    client_id: str
    status: str
    by_user_id: int | None
    scopes: tuple[str, ...]
    purposes: tuple[str, ...]


@dataclass(frozen=True)
class GrantsChanged(PortalEvent):
    """A steward narrowed or widened an approved app's grants (issue 14): what it held before
    and holds after. Narrowing also revokes the app's live tokens (``grants_narrowed``)."""

    KIND: ClassVar[str] = "grants_changed"
    client_id: str
    by_user_id: int
    scopes_before: tuple[str, ...]
    scopes_after: tuple[str, ...]
    purposes_before: tuple[str, ...]
    purposes_after: tuple[str, ...]


@dataclass(frozen=True)
class ClientSecretIssued(PortalEvent):
    KIND: ClassVar[str] = "client_secret_issued"
    client_id: str
    by_user_id: int | None


@dataclass(frozen=True)
class ClientKeyRegistered(PortalEvent):
    """An app's public key for private_key_jwt (issue 14): its thumbprint, never the key."""

    KIND: ClassVar[str] = "client_key_registered"
    client_id: str
    by_user_id: int | None
    kid: str


@dataclass(frozen=True)
class TokenIssued(PortalEvent):
    KIND: ClassVar[str] = "token_issued"
    jti: str
    client_id: str
    user_id: int | None
    grant_type: str
    scope: str
    exp: int
    with_refresh_token: bool


@dataclass(frozen=True)
class TokenRevoked(PortalEvent):
    """``reason``: rfc7009 | app_suspended | app_revoked | grants_narrowed | refresh_reuse |
    code_reuse | zone_client_replaced | organization_suspended | user_disabled."""

    KIND: ClassVar[str] = "token_revoked"
    jti: str
    reason: str


@dataclass(frozen=True)
class SigningKeyRotated(PortalEvent):
    """A new JWT signing key became active; ``retired_kids`` stop signing (they stay in the
    JWKS until their tokens expire). Key ids only: never key material."""

    KIND: ClassVar[str] = "signing_key_rotated"
    kid: str
    retired_kids: tuple[str, ...]


def canonical_leaf(event: PortalEvent, at: float) -> bytes:
    """Canonical JSON (sorted keys, no spaces, ASCII) of ``{"kind", "at", **fields}``."""
    body: dict[str, object] = {"kind": event.KIND, "at": int(at)}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        body[f.name] = list(value) if isinstance(value, tuple) else value
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
