"""What a steward reads before deciding on an app, and changing an approved app's grants.

:meth:`Grants.app_reviews` gives, for each app, who asked and when, the organization's kind
and its other apps (issue 14: a steward approves knowing who is asking). :meth:`Grants.
change_grants` narrows or widens the scopes and purposes of an approved (or suspended) app
later, within what the app requested and what the catalogue can grant; the change is a
:class:`~portal._events.GrantsChanged` portal-log entry with the grants before and after. A
narrowing also revokes the app's live tokens in the same transaction (they carry the wider
grant until they expire otherwise); a widening needs no revocation (the next token has it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal._catalog import Catalog
from portal._events import GrantsChanged
from portal._models import AppKind, AppStatus, Client, Organization, Role, User
from portal._revoke import revoke_client_tokens
from portal._service import Service
from portal._views import AppView, UserView
from portal.errors import (
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
)

__all__ = ["AppReview", "Grants"]

_CHANGEABLE = frozenset({AppStatus.APPROVED, AppStatus.SUSPENDED})


@dataclass(frozen=True)
class AppReview:
    """An app as a steward reviews it: ``requested_by`` is the username of the partner user
    who registered it (``""`` if unknown), ``asked_at`` when, ``org_kind`` the kind of its
    organization and ``org_status`` its status (a suspended one's apps get no tokens even
    when approved), ``other_apps`` that organization's other apps (newest first)."""

    app: AppView
    requested_by: str
    asked_at: dt.datetime
    org_kind: str
    org_status: str
    other_apps: tuple[AppView, ...]

    @property
    def changeable(self) -> bool:
        """Whether its grants can still be narrowed or widened."""
        return self.app.status in _CHANGEABLE


class Grants(Service):
    """The steward's view of each app, and grant changes after approval."""

    @property
    def catalog(self) -> Catalog:
        """What a partner app can be granted, in words (the pages show it)."""
        return self._catalog

    def app_reviews(self, status: str | None = None) -> list[AppReview]:
        """Partner apps (of ``status`` if given), newest first, each with its context."""
        with self._store.transaction() as s:
            query = select(Client).where(Client.kind == AppKind.APP)
            if status is not None:
                query = query.where(Client.status == status)
            rows = s.scalars(query.order_by(Client.created_at.desc(), Client.id.desc())).all()
            return [self._review(s, row) for row in rows]

    def app_review(self, client_id: str) -> AppReview:
        with self._store.transaction() as s:
            return self._review(s, _partner_app(s, client_id))

    def change_grants(
        self,
        steward: UserView,
        client_id: str,
        scopes: Iterable[str],
        purposes: Iterable[str],
    ) -> AppView:
        """Set an approved or suspended app's granted scopes and purposes (each a non-empty
        subset of what it requested, every one built). Unchanged grants log nothing."""
        if steward.role != Role.STEWARD:
            raise PermissionDeniedError("only a steward changes an app's grants")
        granted = self._catalog.check_scopes(scopes)
        granted_p = self._catalog.check_purposes(purposes)
        with self._store.transaction() as s:
            app = _partner_app(s, client_id)
            if app.status not in _CHANGEABLE:
                raise InvalidTransitionError(
                    "only an approved or suspended app's grants can be changed"
                )
            if not set(granted) <= set(app.requested_scopes):
                raise InvalidInputError("a steward can grant only scopes the app requested")
            if not set(granted_p) <= set(app.requested_purposes):
                raise InvalidInputError("a steward can grant only purposes the app requested")
            before, before_p = sorted(app.granted_scopes), sorted(app.granted_purposes)
            if (before, before_p) != (granted, granted_p):
                now = self._clock()
                app.granted_scopes, app.granted_purposes = granted, granted_p
                app.decided_by, app.updated_at = steward.id, now
                self._log.append(
                    s,
                    GrantsChanged(
                        client_id=app.client_id,
                        by_user_id=steward.id,
                        scopes_before=tuple(before),
                        scopes_after=tuple(granted),
                        purposes_before=tuple(before_p),
                        purposes_after=tuple(granted_p),
                    ),
                )
                if not (set(before) <= set(granted) and set(before_p) <= set(granted_p)):
                    revoke_client_tokens(s, self._log, app.client_id, "grants_narrowed", now)
            return AppView.of(app, _org(s, app))

    def _review(self, s: Session, app: Client) -> AppReview:
        org = _org(s, app)
        user = s.get(User, app.registered_by) if app.registered_by is not None else None
        others = s.scalars(
            select(Client)
            .where(
                Client.kind == AppKind.APP,
                Client.organization_id == app.organization_id,
                Client.id != app.id,
            )
            .order_by(Client.created_at.desc(), Client.id.desc())
        ).all()
        return AppReview(
            app=AppView.of(app, org),
            requested_by=user.username if user is not None else "",
            asked_at=dt.datetime.fromtimestamp(app.created_at, dt.UTC),
            org_kind=org.kind if org is not None else "",
            org_status=org.status if org is not None else "",
            other_apps=tuple(AppView.of(other, org) for other in others),
        )


def _partner_app(s: Session, client_id: str) -> Client:
    app = s.scalar(select(Client).where(Client.client_id == client_id, Client.kind == AppKind.APP))
    if app is None:
        raise NotFoundError("no such app")
    return app


def _org(s: Session, app: Client) -> Organization | None:
    return s.get(Organization, app.organization_id) if app.organization_id else None
