"""Accounts: organizations, their users, and signing in (throttled per username and address).

A steward belongs to the one steward organization, created with the first steward; a partner
user to a partner organization (a bank, an insurer, a research body).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dataward.access import Scope
from portal._events import OrganizationCreated, SignIn, SignInFailed, UserCreated
from portal._models import LoginFailure, Organization, OrgKind, OrgStatus, Role, User
from portal._passwords import hash_password, password_problem, verify_password
from portal._service import Service
from portal._slugs import derive_slug
from portal._throttle import login_failures_by_address, login_failures_by_username
from portal._views import OrganizationView, UserView
from portal.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    LoginThrottledError,
    NotFoundError,
)

__all__ = ["PARTNER_KINDS", "ROLE_SCOPES", "STEWARD_ORGANIZATION", "Accounts"]

STEWARD_ORGANIZATION = "Data stewards"
PARTNER_KINDS = frozenset({OrgKind.BANK, OrgKind.INSURER, OrgKind.RESEARCH, OrgKind.PUBLIC_BODY})
# Scopes a signed-in person may obtain through the authorization-code grant, by role.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    Role.STEWARD: frozenset({Scope.STEWARD_ADMIN, Scope.AUDIT_READ}),
    Role.PARTNER: frozenset({Scope.AUDIT_READ}),
}


class Accounts(Service):
    """Organizations and users; :meth:`authenticate` checks a password."""

    def create_organization(self, name: str, kind: str) -> OrganizationView:
        name = name.strip()
        if not name:
            raise InvalidInputError("the organization needs a name")
        if kind not in PARTNER_KINDS:
            raise InvalidInputError(
                "organization kind must be BANK, INSURER, RESEARCH or PUBLIC_BODY"
            )
        with self._store.transaction() as s:
            org = self._add_org(s, name, kind)
            return OrganizationView.of(org)

    def _add_org(self, s: Session, name: str, kind: str) -> Organization:
        if s.scalar(select(Organization).where(Organization.name == name)) is not None:
            raise ConflictError("an organization with this name exists")
        taken = set(s.scalars(select(Organization.slug)))
        org = Organization(
            name=name,
            slug=derive_slug(name, taken),
            kind=kind,
            status=OrgStatus.ACTIVE,
            created_at=self._clock(),
        )
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
