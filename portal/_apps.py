"""Partner apps: registration, the stewards' decisions, and the client secret.

A partner user registers an app for their own organization; a steward decides on it. App
lifecycle::

    PENDING --approve--> APPROVED --suspend--> SUSPENDED --reinstate--> APPROVED
       |                    |                     |
       +--reject--> REJECTED +------revoke--------+--> REVOKED (final)

Suspending or revoking an app revokes its tokens in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal._client_keys import parse_public_key
from portal._client_rows import add_client, new_secret
from portal._events import AppDecided, ClientKeyRegistered, ClientSecretIssued
from portal._models import AppKind, AppStatus, Client, Organization, Role
from portal._revoke import revoke_client_tokens
from portal._service import Service
from portal._views import AppView, ClientCredentials, UserView
from portal.errors import (
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
)

__all__ = ["Apps"]


class Apps(Service):
    """The partner-app lifecycle: who may move an app from which status to which."""

    def register_app(
        self,
        user: UserView,
        name: str,
        scopes: Iterable[str],
        purposes: Iterable[str],
        justification: str,
    ) -> AppView:
        """A partner user asks for an app for their organization: it starts PENDING."""
        if user.role != Role.PARTNER:
            raise PermissionDeniedError("only a partner user registers apps")
        name, justification = name.strip(), justification.strip()
        if not name or len(name) > 200:
            raise InvalidInputError("the app needs a name (at most 200 characters)")
        if not justification:
            raise InvalidInputError("say why the app needs this access (justification)")
        scope_list = self._catalog.check_scopes(scopes)
        purpose_list = self._catalog.check_purposes(purposes)
        now = self._clock()
        with self._store.transaction() as s:
            app = add_client(
                s,
                self._log,
                now,
                kind=AppKind.APP,
                name=name,
                status=AppStatus.PENDING,
                scopes=scope_list,
                purposes=purpose_list,
                granted_scopes=[],
                organization_id=user.organization_id,
                registered_by=user.id,
                justification=justification,
            )
            return self._view(s, app)

    def approve(
        self,
        steward: UserView,
        client_id: str,
        scopes: Iterable[str] | None = None,
        purposes: Iterable[str] | None = None,
    ) -> AppView:
        """Approve a PENDING app with its requested scopes and purposes or fewer of them."""
        _require_steward(steward)
        with self._store.transaction() as s:
            app = self._app(s, client_id)
            if app.status != AppStatus.PENDING:
                raise InvalidTransitionError("only a pending app can be approved")
            granted = self._catalog.check_scopes(app.requested_scopes if scopes is None else scopes)
            granted_p = self._catalog.check_purposes(
                app.requested_purposes if purposes is None else purposes
            )
            if not set(granted) <= set(app.requested_scopes):
                raise InvalidInputError("a steward can grant only scopes the app requested")
            if not set(granted_p) <= set(app.requested_purposes):
                raise InvalidInputError("a steward can grant only purposes the app requested")
            app.granted_scopes, app.granted_purposes = granted, granted_p
            self._decide(s, app, AppStatus.APPROVED, steward, None)
            return self._view(s, app)

    def approve_app(
        self,
        steward: UserView,
        client_id: str,
        scopes: Iterable[str] | None = None,
        purposes: Iterable[str] | None = None,
    ) -> ClientCredentials:
        """Approve and issue the client secret at once (the demo's path; shown once)."""
        self.approve(steward, client_id, scopes, purposes)
        return self._issue_secret(client_id, steward.id)

    def reject_app(self, steward: UserView, client_id: str, reason: str) -> AppView:
        _require_steward(steward)
        if not reason.strip():
            raise InvalidInputError("a rejection needs a reason")
        with self._store.transaction() as s:
            app = self._app(s, client_id)
            if app.status != AppStatus.PENDING:
                raise InvalidTransitionError("only a pending app can be rejected")
            self._decide(s, app, AppStatus.REJECTED, steward, reason.strip())
            return self._view(s, app)

    def suspend_app(self, steward: UserView, client_id: str) -> AppView:
        return self._stop(steward, client_id, AppStatus.SUSPENDED, {AppStatus.APPROVED})

    def revoke_app(self, steward: UserView, client_id: str) -> AppView:
        return self._stop(
            steward, client_id, AppStatus.REVOKED, {AppStatus.APPROVED, AppStatus.SUSPENDED}
        )

    def reinstate_app(self, steward: UserView, client_id: str) -> AppView:
        _require_steward(steward)
        with self._store.transaction() as s:
            app = self._app(s, client_id)
            if app.status != AppStatus.SUSPENDED:
                raise InvalidTransitionError("only a suspended app can be reinstated")
            self._decide(s, app, AppStatus.APPROVED, steward, None)
            return self._view(s, app)

    def _stop(self, steward: UserView, client_id: str, status: str, allowed: set[str]) -> AppView:
        _require_steward(steward)
        with self._store.transaction() as s:
            app = self._app(s, client_id)
            if app.status not in allowed or app.kind != AppKind.APP:
                raise InvalidTransitionError(f"this app cannot be {status.lower()} now")
            self._decide(s, app, status, steward, None)
            revoke_client_tokens(
                s, self._log, app.client_id, f"app_{status.lower()}", self._clock()
            )
            return self._view(s, app)

    def _decide(
        self, s: Session, app: Client, status: str, steward: UserView, reason: str | None
    ) -> None:
        app.status, app.decided_by, app.updated_at = status, steward.id, self._clock()
        if reason is not None:
            app.decision_reason = reason
        self._log.append(
            s,
            AppDecided(
                client_id=app.client_id,
                status=status,
                by_user_id=steward.id,
                scopes=tuple(app.granted_scopes),
                purposes=tuple(app.granted_purposes),
            ),
        )

    def issue_secret(self, user: UserView, client_id: str) -> ClientCredentials:
        """Issue (or rotate) an approved app's secret, for a user of the app's organization.

        The old secret stops working at once; tokens already issued stay valid until expiry.
        """
        with self._store.transaction() as s:
            app = self._app(s, client_id)
            if user.role != Role.PARTNER or app.organization_id != user.organization_id:
                raise PermissionDeniedError("only the app's organization manages its secret")
        return self._issue_secret(client_id, user.id)

    def _issue_secret(self, client_id: str, by_user_id: int | None) -> ClientCredentials:
        with self._store.transaction() as s:
            app = self._app(s, client_id)
            if app.status != AppStatus.APPROVED:
                raise InvalidTransitionError("credentials exist only for an approved app")
            credentials = new_secret(app, self._clock())
            app.jwks = None  # one way to authenticate: a secret now, no key (issue 14)
            self._log.append(s, ClientSecretIssued(client_id=client_id, by_user_id=by_user_id))
        return credentials

    def register_public_key(self, user: UserView, client_id: str, public_key: str) -> AppView:
        """Make ``public_key`` (PEM or JWK: :func:`portal._client_keys.parse_public_key`) the
        key an approved app authenticates with (``private_key_jwt``, RFC 7523), for a user of
        the app's organization; logged as ``client_key_registered`` (its ``kid`` only).

        The app's secret stops working at once (an app has one way to authenticate, so a
        leaked secret cannot outlive the move to a key); issuing a secret again later drops
        the key. Tokens already issued stay valid until they expire.
        """
        jwks = parse_public_key(public_key)
        with self._store.transaction() as s:
            app = self._app(s, client_id)
            if user.role != Role.PARTNER or app.organization_id != user.organization_id:
                raise PermissionDeniedError("only the app's organization manages its key")
            if app.status != AppStatus.APPROVED:
                raise InvalidTransitionError("a key is registered only for an approved app")
            app.jwks, app.secret_hash, app.updated_at = jwks, None, self._clock()
            kid = str(jwks["keys"][0]["kid"])
            self._log.append(
                s, ClientKeyRegistered(client_id=client_id, by_user_id=user.id, kid=kid)
            )
            return self._view(s, app)

    def get_app(self, client_id: str) -> AppView:
        with self._store.transaction() as s:
            return self._view(s, self._app(s, client_id))

    def list_apps(
        self, organization_id: int | None = None, status: str | None = None
    ) -> list[AppView]:
        """Partner apps, newest first, optionally of one organization or one status."""
        with self._store.transaction() as s:
            query = select(Client).where(Client.kind == AppKind.APP)
            if organization_id is not None:
                query = query.where(Client.organization_id == organization_id)
            if status is not None:
                query = query.where(Client.status == status)
            apps = s.scalars(query.order_by(Client.created_at.desc(), Client.id.desc())).all()
            return [self._view(s, app) for app in apps]

    def _app(self, s: Session, client_id: str) -> Client:
        app = s.scalar(select(Client).where(Client.client_id == client_id))
        if app is None:
            raise NotFoundError("no such app")
        return app

    def _view(self, s: Session, app: Client) -> AppView:
        org = s.get(Organization, app.organization_id) if app.organization_id else None
        return AppView.of(app, org)


def _require_steward(user: UserView) -> None:
    if user.role != Role.STEWARD:
        raise PermissionDeniedError("only a steward decides on apps")
