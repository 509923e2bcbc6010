"""Accounts: users of the organizations, and signing in (throttled per username and address).

A steward belongs to the one steward organization, created with the first steward; a partner
user to a partner organization (a bank, an insurer, a research body, a public body). A
disabled user, or a user of a suspended organization, cannot sign in, and their sessions,
authorization codes and refresh tokens are no longer honoured (:meth:`Accounts.get_user`
answers None for them); disabling a user also revokes their live tokens.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dataward.access import Scope
from portal._events import SignIn, SignInFailed, UserCreated, UserDisabled
from portal._models import LoginFailure, Organization, OrgKind, OrgStatus, Role, User
from portal._orgs import PARTNER_KINDS, Organizations, find_organization, require_operator
from portal._passwords import hash_password, password_problem, verify_password
from portal._revoke import revoke_user_tokens
from portal._throttle import login_failures_by_address, login_failures_by_username
from portal._views import OrganizationView, UserView
from portal.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    InvalidTransitionError,
    LoginThrottledError,
    NotFoundError,
    UnknownUserError,
)

__all__ = ["PARTNER_KINDS", "ROLE_SCOPES", "STEWARD_ORGANIZATION", "Accounts"]

STEWARD_ORGANIZATION = "Data stewards"
# Scopes a signed-in person may obtain through the authorization-code grant, by role.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    Role.STEWARD: frozenset({Scope.STEWARD_ADMIN, Scope.AUDIT_READ}),
    Role.PARTNER: frozenset({Scope.AUDIT_READ}),
}


class Accounts(Organizations):
    """Organizations and users; :meth:`authenticate` checks a password."""

    def create_steward(self, username: str, password: str) -> UserView:
        with self._store.transaction() as s:
            return self._add_user(s, self._steward_org(s), username, password, Role.STEWARD)

    def _steward_org(self, s: Session) -> Organization:
        org = s.scalar(select(Organization).where(Organization.kind == OrgKind.STEWARD))
        return org or self._add_org(s, STEWARD_ORGANIZATION, OrgKind.STEWARD)

    def create_partner_user(
        self, org: OrganizationView | int, username: str, password: str
    ) -> UserView:
        org_id = org if isinstance(org, int) else org.id
        with self._store.transaction() as s:
            row = s.get(Organization, org_id)
            if row is None or row.kind not in PARTNER_KINDS:
                raise NotFoundError("no such partner organization")
            return self._add_user(s, row, username, password, Role.PARTNER)

    def create_user(
        self, username: str, password: str, *, org: str | None, role: str = Role.PARTNER
    ) -> UserView:
        """A user of the organization with slug ``org``: a PARTNER of a partner organization
        or a STEWARD of the stewards' (``org`` None: the stewards', created if need be).

        :class:`UnknownOrganizationError` for an unknown slug; :class:`InvalidInputError` for
        a role that does not fit the organization, a bad username or a weak password;
        :class:`InvalidTransitionError` for a suspended organization; :class:`ConflictError`
        when the username is taken.
        """
        role = role.upper()
        if role not in {Role.PARTNER, Role.STEWARD}:
            raise InvalidInputError("the role must be partner or steward")
        with self._store.transaction() as s:
            if org is None:
                if role != Role.STEWARD:
                    raise InvalidInputError("a partner user needs an organization (its slug)")
                row = self._steward_org(s)
            else:
                row = find_organization(s, org)
            if (role == Role.STEWARD) != (row.kind == OrgKind.STEWARD):
                raise InvalidInputError(
                    "a steward belongs to the stewards' organization, a partner user to a "
                    f"partner organization: {org!r} is a {row.kind} organization"
                )
            if row.status != OrgStatus.ACTIVE:
                raise InvalidTransitionError(f"the organization {org!r} is suspended")
            return self._add_user(s, row, username, password, role)

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
            disabled=False,
        )
        s.add(user)
        s.flush()
        self._log.append(s, UserCreated(user_id=user.id, role=role, organization_id=org.id))
        return UserView.of(user, org)

    def list_users(self, org: str | None = None) -> list[UserView]:
        """Every user (disabled ones too), by username; of one organization when ``org`` (a
        slug) is given (:class:`UnknownOrganizationError` when no organization has it)."""
        with self._store.transaction() as s:
            query = select(User, Organization).join(
                Organization, User.organization_id == Organization.id
            )
            if org is not None:
                query = query.where(User.organization_id == find_organization(s, org).id)
            rows = s.execute(query.order_by(User.username)).all()
            return [UserView.of(user, organization) for user, organization in rows]

    def disable_user(self, username: str, by: UserView | None = None) -> UserView:
        """Disable a user for good: no sign-in, live tokens revoked, sessions ended.

        :class:`UnknownUserError` for an unknown username; :class:`InvalidTransitionError`
        when already disabled, or when a steward would disable themselves.
        """
        require_operator(by)
        with self._store.transaction() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise UnknownUserError(f"no user has the username {username!r}")
            if user.disabled:
                raise InvalidTransitionError(f"the user {username!r} is already disabled")
            if by is not None and by.id == user.id:
                raise InvalidTransitionError("a steward cannot disable their own account")
            user.disabled = True
            self._log.append(s, UserDisabled(user_id=user.id, by_user_id=by.id if by else None))
            revoke_user_tokens(
                s,
                self._log,
                select(User.id).where(User.id == user.id),
                "user_disabled",
                self._clock(),
            )
            org = s.get(Organization, user.organization_id)
            assert org is not None
            return UserView.of(user, org)

    def get_user(self, user_id: int) -> UserView | None:
        """The user if they may act: None when there is no such user, they are disabled, or
        their organization is suspended (a session or refresh token of theirs then fails)."""
        with self._store.transaction() as s:
            user = s.get(User, user_id)
            if user is None or user.disabled:
                return None
            org = s.get(Organization, user.organization_id)
            assert org is not None
            return UserView.of(user, org) if org.status == OrgStatus.ACTIVE else None

    def authenticate(self, username: str, password: str, address: str | None = None) -> UserView:
        """Check a password; throttled per username (``login_max_failures`` per window) and,
        when ``address`` is given, per client address (``login_max_failures_per_address``).

        The right password of a disabled user, or of a user of a suspended organization, is
        :class:`AuthenticationError` naming which (only someone with the password learns it).
        """
        now = self._clock()
        window = self._config.login_failure_window_seconds
        refused: str | None = None
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
                org = s.get(Organization, user.organization_id)
                assert org is not None
                if user.disabled:
                    refused = "this account is disabled"
                elif org.status != OrgStatus.ACTIVE:
                    refused = "this account's organization is suspended"
                if refused is not None:
                    self._log.append(s, SignInFailed(user_id=user.id, throttled=False))
                    failed = True
                else:
                    s.execute(delete(LoginFailure).where(LoginFailure.username == username))
                    self._log.append(s, SignIn(user_id=user.id, role=user.role))
                    failed = False
                    view = UserView.of(user, org)
        if message is not None:
            raise LoginThrottledError(message, retry_after_seconds=window)
        if refused is not None:
            raise AuthenticationError(refused)
        if failed:  # raised after the commit so the failure is counted
            raise AuthenticationError("wrong username or password")
        return view
