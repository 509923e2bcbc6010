"""Accounts and the app lifecycle over the portal database; every change is a log entry.

The web pages and the launcher's demo both call :class:`PortalAdmin`; it checks who may do
what (a steward decides, a partner user registers for their own organization).

App lifecycle::

    PENDING --approve--> APPROVED --suspend--> SUSPENDED --reinstate--> APPROVED
       |                    |                     |
       +--reject--> REJECTED +------revoke--------+--> REVOKED (final)
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dataward.access import PARTNER_SCOPES, Purpose, Scope
from portal._events import (
    AppDecided,
    AppRegistered,
    ClientSecretIssued,
    OrganizationCreated,
    SignIn,
    SignInFailed,
    UserCreated,
)
from portal._log import PortalLog
from portal._models import (
    AppKind,
    AppStatus,
    Client,
    LoginFailure,
    Organization,
    OrgKind,
    Role,
    User,
)
from portal._passwords import hash_password, password_problem, secret_digest, verify_password
from portal._revoke import revoke_client_tokens
from portal._store import Store
from portal._throttle import login_failures_by_address, login_failures_by_username
from portal._views import AppView, ClientCredentials, OrganizationView, UserView
from portal.config import PortalConfig
from portal.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    InvalidTransitionError,
    LoginThrottledError,
    NotFoundError,
    PermissionDeniedError,
)

__all__ = ["ROLE_SCOPES", "STEWARD_ORGANIZATION", "PortalAdmin"]

STEWARD_ORGANIZATION = "Data stewards"
PARTNER_KINDS = frozenset({OrgKind.BANK, OrgKind.INSURER, OrgKind.RESEARCH})
# Scopes a signed-in person may obtain through the authorization-code grant, by role.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    Role.STEWARD: frozenset({Scope.STEWARD_ADMIN, Scope.AUDIT_READ}),
    Role.PARTNER: frozenset({Scope.AUDIT_READ}),
}


def _new_client_id() -> str:
    return "dw_" + secrets.token_urlsafe(18)


class PortalAdmin:
    """Accounts, organizations and apps. Methods run one transaction each."""

    def __init__(
        self, store: Store, log: PortalLog, config: PortalConfig, clock: Callable[[], float]
    ) -> None:
        self._store = store
        self._log = log
        self._config = config
        self._clock = clock

    # -- organizations and users -------------------------------------------------------
    def create_organization(self, name: str, kind: str) -> OrganizationView:
        name = name.strip()
        if not name:
            raise InvalidInputError("the organization needs a name")
        if kind not in PARTNER_KINDS:
            raise InvalidInputError("organization kind must be BANK, INSURER or RESEARCH")
        with self._store.transaction() as s:
            org = self._add_org(s, name, kind)
            return OrganizationView.of(org)

    def _add_org(self, s: Session, name: str, kind: str) -> Organization:
        if s.scalar(select(Organization).where(Organization.name == name)) is not None:
            raise ConflictError("an organization with this name exists")
        org = Organization(name=name, kind=kind, created_at=self._clock())
        s.add(org)
        s.flush()
        self._log.append(s, OrganizationCreated(organization_id=org.id, org_kind=kind))
        return org

    def create_steward(self, username: str, password: str) -> UserView:
        with self._store.transaction() as s:
            org = s.scalar(select(Organization).where(Organization.kind == OrgKind.STEWARD))
            if org is None:
                org = self._add_org(s, STEWARD_ORGANIZATION, OrgKind.STEWARD)
            return self._add_user(s, org, username, password, Role.STEWARD)

    def create_partner_user(
        self, org: OrganizationView | int, username: str, password: str
    ) -> UserView:
        org_id = org if isinstance(org, int) else org.id
        with self._store.transaction() as s:
            row = s.get(Organization, org_id)
            if row is None or row.kind not in PARTNER_KINDS:
                raise NotFoundError("no such partner organization")
            return self._add_user(s, row, username, password, Role.PARTNER)

    def _add_user(
        self, s: Session, org: Organization, username: str, password: str, role: str
    ) -> UserView:
        username = username.strip()
        if not username or len(username) > 100:
            raise InvalidInputError("the username must be 1 to 100 characters")
        problem = password_problem(password)
        if problem:
            raise InvalidInputError(problem)
        if s.scalar(select(User).where(User.username == username)) is not None:
            raise ConflictError("this username is taken")
        user = User(
            username=username,
            password_hash=hash_password(password),
            role=role,
            organization_id=org.id,
            created_at=self._clock(),
        )
        s.add(user)
        s.flush()
        self._log.append(s, UserCreated(user_id=user.id, role=role, organization_id=org.id))
        return UserView.of(user, org)

    def get_user(self, user_id: int) -> UserView | None:
        with self._store.transaction() as s:
            user = s.get(User, user_id)
            if user is None:
                return None
            org = s.get(Organization, user.organization_id)
            assert org is not None
            return UserView.of(user, org)

    def authenticate(self, username: str, password: str, address: str | None = None) -> UserView:
        """Check a password; throttled per username (``login_max_failures`` per window) and,
        when ``address`` is given, per client address (``login_max_failures_per_address``)."""
        now = self._clock()
        window = self._config.login_failure_window_seconds
        with self._store.transaction() as s:
            user = s.scalar(select(User).where(User.username == username))
            message: str | None = None
            if (
                address is not None
                and login_failures_by_address(s, address, now - window)
                >= self._config.login_max_failures_per_address
            ):
                message = "too many failed sign-ins from this address; try again later"
            elif (
                login_failures_by_username(s, username, now - window)
                >= self._config.login_max_failures
            ):
                message = "too many failed sign-ins for this account; try again later"
            if message is not None:
                # no password check while throttled; raised after the commit so it is logged
                self._log.append(s, SignInFailed(user_id=user.id if user else None, throttled=True))
                failed = True
            elif user is None or not verify_password(user.password_hash, password):
                s.add(LoginFailure(username=username, address=address, at=now))
                self._log.append(
                    s, SignInFailed(user_id=user.id if user else None, throttled=False)
                )
                failed = True
            else:
                s.execute(delete(LoginFailure).where(LoginFailure.username == username))
                self._log.append(s, SignIn(user_id=user.id, role=user.role))
                org = s.get(Organization, user.organization_id)
                assert org is not None
                failed = False
                view = UserView.of(user, org)
        if message is not None:
            raise LoginThrottledError(message, retry_after_seconds=window)
        if failed:  # raised after the commit so the failure is counted
            raise AuthenticationError("wrong username or password")
        return view

    # -- apps --------------------------------------------------------------------------
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
        scope_list = _check_scopes(scopes)
        purpose_list = _check_purposes(purposes)
        now = self._clock()
        with self._store.transaction() as s:
            app = Client(
                client_id=_new_client_id(),
                kind=AppKind.APP,
                name=name,
                organization_id=user.organization_id,
                registered_by=user.id,
                status=AppStatus.PENDING,
                requested_scopes=scope_list,
                requested_purposes=purpose_list,
                granted_scopes=[],
                granted_purposes=[],
                justification=justification,
                redirect_uris=[],
                created_at=now,
                updated_at=now,
            )
            s.add(app)
            s.flush()
            self._log.append(
                s,
                AppRegistered(
                    client_id=app.client_id,
                    app_kind=app.kind,
                    organization_id=user.organization_id,
                    by_user_id=user.id,
                    scopes=tuple(scope_list),
                    purposes=tuple(purpose_list),
                ),
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
            granted = _check_scopes(app.requested_scopes if scopes is None else scopes)
            granted_p = _check_purposes(app.requested_purposes if purposes is None else purposes)
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
        secret = secrets.token_urlsafe(32)
        with self._store.transaction() as s:
            app = self._app(s, client_id)
            if app.status != AppStatus.APPROVED:
                raise InvalidTransitionError("credentials exist only for an approved app")
            app.secret_hash, app.secret_issued_at = secret_digest(secret), self._clock()
            self._log.append(s, ClientSecretIssued(client_id=client_id, by_user_id=by_user_id))
        return ClientCredentials(client_id, secret)

    def create_zone_client(self, name: str = "zone") -> ClientCredentials:
        """The zone's internal client (scope ``zone:revocations``): reads the revocation
        feed and introspects tokens. Returns its id and secret, shown once."""
        with self._store.transaction() as s:
            return self._add_zone_client(s, name)

    def _add_zone_client(self, s: Session, name: str) -> ClientCredentials:
        secret = secrets.token_urlsafe(32)
        app = self._add_client(s, AppKind.ZONE, name, [Scope.ZONE_REVOCATIONS.value], [])
        app.secret_hash, app.secret_issued_at = secret_digest(secret), self._clock()
        return ClientCredentials(app.client_id, secret)

    def replace_zone_client(self, name: str = "zone") -> ClientCredentials:
        """A new zone client, and every earlier one revoked, in one transaction.

        ``dataward serve`` calls this at each start instead of storing the secret: earlier
        zone clients become REVOKED (an ``app_decided`` portal event each, their secret
        erased) and their tokens are revoked (``token_revoked``, reason
        ``zone_client_replaced``), so at most one zone secret works at any time.
        """
        now = self._clock()
        with self._store.transaction() as s:
            earlier = s.scalars(
                select(Client).where(
                    Client.kind == AppKind.ZONE, Client.status != AppStatus.REVOKED
                )
            ).all()
            for old in earlier:
                old.status, old.updated_at, old.secret_hash = AppStatus.REVOKED, now, None
                self._log.append(
                    s,
                    AppDecided(
                        client_id=old.client_id,
                        status=AppStatus.REVOKED,
                        by_user_id=None,
                        scopes=tuple(old.granted_scopes),
                        purposes=(),
                    ),
                )
                revoke_client_tokens(s, self._log, old.client_id, "zone_client_replaced", now)
            return self._add_zone_client(s, name)

    def create_sign_in_client(self, name: str, redirect_uris: Sequence[str]) -> str:
        """A public client people sign in through (authorization code + PKCE S256)."""
        if not redirect_uris:
            raise InvalidInputError("a sign-in client needs at least one redirect URI")
        scopes = sorted(ROLE_SCOPES[Role.STEWARD] | ROLE_SCOPES[Role.PARTNER])
        with self._store.transaction() as s:
            return self._add_client(s, AppKind.SIGN_IN, name, scopes, list(redirect_uris)).client_id

    def _add_client(
        self, s: Session, kind: str, name: str, scopes: list[str], redirect_uris: list[str]
    ) -> Client:
        now = self._clock()
        app = Client(
            client_id=_new_client_id(),
            kind=kind,
            name=name,
            organization_id=None,
            status=AppStatus.APPROVED,
            requested_scopes=scopes,
            requested_purposes=[],
            granted_scopes=scopes,
            granted_purposes=[],
            justification="internal",
            redirect_uris=redirect_uris,
            created_at=now,
            updated_at=now,
        )
        s.add(app)
        s.flush()
        self._log.append(
            s,
            AppRegistered(
                client_id=app.client_id,
                app_kind=kind,
                organization_id=None,
                by_user_id=None,
                scopes=tuple(scopes),
                purposes=(),
            ),
        )
        return app

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


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    values = sorted(set(scopes))
    if not values:
        raise InvalidInputError("choose at least one scope")
    allowed = {s.value for s in PARTNER_SCOPES}
    if any(v not in allowed for v in values):
        raise InvalidInputError("unknown scope, or a scope partners cannot have")
    return values


def _check_purposes(purposes: Iterable[str]) -> list[str]:
    values = sorted(set(purposes))
    if not values:
        raise InvalidInputError("choose at least one purpose")
    known = {p.value for p in Purpose}
    if any(v not in known for v in values):
        raise InvalidInputError("unknown purpose")
    return values
