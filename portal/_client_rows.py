"""Rows of the ``clients`` table, shared by partner apps and the portal's internal clients.

A partner app and an internal client (the zone's, a sign-in client) are the same kind of row;
they differ in who registers them and in their first status. Creating one is always logged as
``app_registered``; a new secret is shown once and only its digest is kept.
"""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from portal._events import AppRegistered
from portal._log import PortalLog
from portal._models import Client
from portal._passwords import secret_digest
from portal._views import ClientCredentials

__all__ = ["add_client", "new_client_id", "new_secret"]


def new_client_id() -> str:
    return "dw_" + secrets.token_urlsafe(18)


def add_client(
    s: Session,
    log: PortalLog,
    now: float,
    *,
    kind: str,
    name: str,
    status: str,
    scopes: list[str],
    purposes: list[str],
    granted_scopes: list[str],
    organization_id: int | None = None,
    registered_by: int | None = None,
    justification: str = "internal",
    redirect_uris: list[str] | None = None,
) -> Client:
    """Add a client asking for ``scopes`` and ``purposes`` (granted: ``granted_scopes``, no
    purposes yet) and log it as ``app_registered`` with what it asked for."""
    app = Client(
        client_id=new_client_id(),
        kind=kind,
        name=name,
        organization_id=organization_id,
        registered_by=registered_by,
        status=status,
        requested_scopes=scopes,
        requested_purposes=purposes,
        granted_scopes=granted_scopes,
        granted_purposes=[],
        justification=justification,
        redirect_uris=redirect_uris or [],
        created_at=now,
        updated_at=now,
    )
    s.add(app)
    s.flush()
    log.append(
        s,
        AppRegistered(
            client_id=app.client_id,
            app_kind=kind,
            organization_id=organization_id,
            by_user_id=registered_by,
            scopes=tuple(scopes),
            purposes=tuple(purposes),
        ),
    )
    return app


def new_secret(app: Client, now: float) -> ClientCredentials:
    """Give ``app`` a new random secret (the old one stops working) and return it, once."""
    secret = secrets.token_urlsafe(32)
    app.secret_hash, app.secret_issued_at = secret_digest(secret), now
    return ClientCredentials(app.client_id, secret)
