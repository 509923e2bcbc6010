"""Failure counters behind the portal's throttles (rows in the portal database, by window).

- sign-in: per username (``login_max_failures``) and per client address
  (``login_max_failures_per_address``), so a guess spread across usernames from one
  address is throttled too;
- client authentication at the OAuth endpoints: per presented ``client_id`` *and* client
  address (``client_auth_max_failures``), answered ``429 slow_down`` (see :mod:`portal`).
  Keyed by both because a ``client_id`` is not secret: counting per ``client_id`` alone would
  let anyone lock a partner's app out by failing on purpose. Secrets are 256-bit random, so
  the throttle slows noise and guessing from one place; it is not what makes guessing futile.

The address is ``request.remote_addr``: the socket peer, or, with ``trusted_proxies = N``
behind N reverse proxies, the address the outermost of them put in ``X-Forwarded-For``
(werkzeug's ``ProxyFix``, installed by ``create_app``; entries left of those N are the
client's own words and are ignored). Addresses stay in the database and never reach the
portal log.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from portal._models import ClientAuthFailure, LoginFailure

__all__ = [
    "client_auth_failures",
    "login_failures_by_address",
    "login_failures_by_username",
    "record_client_auth_failure",
]

# A presented client_id is attacker-chosen: store at most the column's width.
_MAX_CLIENT_ID = 64


def _count(s: Session, column: InstrumentedAttribute[str], value: str, since: float) -> int:
    model = column.class_
    return (
        s.scalar(select(func.count()).select_from(model).where(column == value, model.at > since))
        or 0
    )


def login_failures_by_username(s: Session, username: str, since: float) -> int:
    return _count(s, LoginFailure.username, username, since)


def login_failures_by_address(s: Session, address: str, since: float) -> int:
    return _count(s, LoginFailure.address, address, since)  # type: ignore[arg-type]


def client_auth_failures(s: Session, client_id: str, address: str, since: float) -> int:
    model = ClientAuthFailure
    return (
        s.scalar(
            select(func.count())
            .select_from(model)
            .where(
                model.client_id == client_id[:_MAX_CLIENT_ID],
                model.address == address[:_MAX_CLIENT_ID],
                model.at > since,
            )
        )
        or 0
    )


def record_client_auth_failure(
    s: Session, client_id: str, address: str, now: float, window: float
) -> None:
    """Count one failure; rows older than the window for this client_id are dropped."""
    client_id = client_id[:_MAX_CLIENT_ID]
    s.execute(
        delete(ClientAuthFailure).where(
            ClientAuthFailure.client_id == client_id, ClientAuthFailure.at <= now - window
        )
    )
    s.add(ClientAuthFailure(client_id=client_id, address=address[:_MAX_CLIENT_ID], at=now))
