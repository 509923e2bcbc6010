"""Revoking access tokens and refresh tokens; every revoked jti enters the revocation feed."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from portal._events import TokenRevoked
from portal._log import PortalLog
from portal._models import Revocation, Token

__all__ = ["revoke_client_tokens", "revoke_family", "revoke_token", "revoke_user_tokens"]


def revoke_token(session: Session, log: PortalLog, row: Token, reason: str, now: float) -> None:
    """Revoke the access token (feed + log, once) and its refresh token."""
    row.refresh_revoked = True
    if row.revoked:
        return
    row.revoked = True
    if row.expires_at > now:
        session.add(Revocation(jti=row.jti, expires_at=int(row.expires_at), revoked_at=now))
    log.append(session, TokenRevoked(jti=row.jti, reason=reason))


def revoke_family(
    session: Session, log: PortalLog, family_id: str, reason: str, now: float
) -> None:
    for row in session.scalars(select(Token).where(Token.family_id == family_id)):
        revoke_token(session, log, row, reason, now)


def revoke_client_tokens(
    session: Session, log: PortalLog, client_id: str, reason: str, now: float
) -> None:
    rows = session.scalars(
        select(Token).where(
            Token.client_id == client_id,
            (Token.revoked.is_(False)) | (Token.refresh_revoked.is_(False)),
        )
    )
    for row in rows:
        revoke_token(session, log, row, reason, now)


def revoke_user_tokens(
    session: Session, log: PortalLog, user_ids: Select[int], reason: str, now: float
) -> None:
    """Revoke every live token (access and refresh) issued to the users ``user_ids`` selects."""
    rows = session.scalars(
        select(Token).where(
            Token.user_id.in_(user_ids),
            (Token.revoked.is_(False)) | (Token.refresh_revoked.is_(False)),
        )
    )
    for row in rows.all():
        revoke_token(session, log, row, reason, now)
