"""Frozen values the portal hands out (never ORM rows, never a stored hash)."""

from __future__ import annotations

from dataclasses import dataclass, field

from portal._models import Client, Organization, User

__all__ = [
    "AppView",
    "ClientCredentials",
    "OrganizationSummary",
    "OrganizationView",
    "UserView",
]


@dataclass(frozen=True)
class ClientCredentials:
    """A client id and its secret, shown once. ``repr`` hides the secret."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class OrganizationView:
    """``slug`` is the stable short name (token ``org`` claim, consent partner)."""

    id: int
    name: str
    kind: str
    slug: str
    status: str

    @classmethod
    def of(cls, org: Organization) -> OrganizationView:
        return cls(org.id, org.name, org.kind, org.slug, org.status)


@dataclass(frozen=True)
class OrganizationSummary:
    """A row of the organizations table for operators and stewards: with its counts of
    partner apps (any status) and of users (enabled or not)."""

    id: int
    slug: str
    name: str
    kind: str
    status: str
    apps: int
    users: int
    created_at: float


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    role: str
    organization_id: int
    org_kind: str
    org_slug: str
    org_name: str
    disabled: bool
    org_status: str

    @classmethod
    def of(cls, user: User, org: Organization) -> UserView:
        return cls(
            user.id,
            user.username,
            user.role,
            org.id,
            org.kind,
            org.slug,
            org.name,
            bool(user.disabled),
            org.status,
        )


@dataclass(frozen=True)
class AppView:
    client_id: str
    name: str
    kind: str
    status: str
    organization_id: int | None
    organization_name: str | None
    requested_scopes: tuple[str, ...]
    requested_purposes: tuple[str, ...]
    granted_scopes: tuple[str, ...]
    granted_purposes: tuple[str, ...]
    justification: str
    decision_reason: str | None
    has_secret: bool
    created_at: float
    # Issue 14: the registered public key's thumbprint (private_key_jwt), else None.
    key_id: str | None = None

    @classmethod
    def of(cls, app: Client, org: Organization | None) -> AppView:
        return cls(
            client_id=app.client_id,
            name=app.name,
            kind=app.kind,
            status=app.status,
            organization_id=app.organization_id,
            organization_name=org.name if org else None,
            requested_scopes=tuple(app.requested_scopes),
            requested_purposes=tuple(app.requested_purposes),
            granted_scopes=tuple(app.granted_scopes),
            granted_purposes=tuple(app.granted_purposes),
            justification=app.justification,
            decision_reason=app.decision_reason,
            has_secret=app.secret_hash is not None,
            created_at=app.created_at,
            key_id=str(app.jwks["keys"][0]["kid"]) if app.jwks else None,
        )
