"""Organizations: create (with a stable slug), list, suspend and resume.

An organization is a partner (BANK, INSURER, RESEARCH, PUBLIC_BODY) or the stewards' own
(STEWARD, created with the first steward). Its slug is the access token's ``org`` claim and the
partner a consent names (issue 14), so it is given once and never changes. Suspending a partner
organization stops it at once: its apps get no new tokens (``invalid_client``), its users
cannot sign in or refresh, and every live token of its apps and users is revoked through the
revocation feed; resuming lets them in again (revoked tokens stay revoked). Each change is a
portal-log entry with the organization's id only.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal._events import OrganizationCreated, OrganizationStatusChanged
from portal._models import AppKind, Client, Organization, OrgKind, OrgStatus, Role, User
from portal._revoke import revoke_client_tokens, revoke_user_tokens
from portal._service import Service
from portal._slugs import derive_slug, slug_problem
from portal._views import OrganizationSummary, OrganizationView, UserView
from portal.errors import (
    ConflictError,
    InvalidInputError,
    InvalidTransitionError,
    PermissionDeniedError,
    UnknownOrganizationError,
)

__all__ = ["PARTNER_KINDS", "Organizations", "find_organization", "require_operator"]

PARTNER_KINDS = frozenset({OrgKind.BANK, OrgKind.INSURER, OrgKind.RESEARCH, OrgKind.PUBLIC_BODY})
_KINDS_TEXT = "BANK, INSURER, RESEARCH or PUBLIC_BODY"


def require_operator(by: UserView | None) -> None:
    """``by`` None is the operator (the CLI, on the portal's host); otherwise a steward."""
    if by is not None and by.role != Role.STEWARD:
        raise PermissionDeniedError("only a steward manages organizations and users")


def find_organization(s: Session, slug: str) -> Organization:
    org = s.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise UnknownOrganizationError(f"no organization has the slug {slug!r}")
    return org


class Organizations(Service):
    """The organizations part of :class:`~portal.PortalAdmin`."""

    def create_organization(
        self, name: str, kind: str, *, slug: str | None = None
    ) -> OrganizationView:
        """A partner organization, ACTIVE. ``slug`` derived from ``name`` when not given.

        :class:`InvalidInputError` for an empty or over-long name, a kind that is not a
        partner's, a malformed slug; :class:`ConflictError` when the name or slug is taken.
        """
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInputError("the organization needs a name (at most 200 characters)")
        if kind not in PARTNER_KINDS:
            raise InvalidInputError(f"organization kind must be {_KINDS_TEXT}")
        if slug is not None:
            problem = slug_problem(slug)
            if problem:
                raise InvalidInputError(problem)
        with self._store.transaction() as s:
            return OrganizationView.of(self._add_org(s, name, kind, slug))

    def _add_org(self, s: Session, name: str, kind: str, slug: str | None = None) -> Organization:
        if s.scalar(select(Organization).where(Organization.name == name)) is not None:
            raise ConflictError("an organization with this name exists")
        taken = set(s.scalars(select(Organization.slug)))
        if slug is not None and slug in taken:
            raise ConflictError(f"an organization with the slug {slug!r} exists")
        org = Organization(
            name=name,
            slug=slug or derive_slug(name, taken),
            kind=kind,
            status=OrgStatus.ACTIVE,
            created_at=self._clock(),
        )
        s.add(org)
        s.flush()
        self._log.append(s, OrganizationCreated(organization_id=org.id, org_kind=kind))
        return org

    def get_organization(self, slug: str) -> OrganizationView:
        """:class:`UnknownOrganizationError` when no organization has ``slug``."""
        with self._store.transaction() as s:
            return OrganizationView.of(find_organization(s, slug))

    def list_organizations(self) -> list[OrganizationSummary]:
        """Every organization (the stewards' too), by slug, with its app and user counts."""
        with self._store.transaction() as s:
            apps = dict(
                s.execute(
                    select(Client.organization_id, func.count())
                    .where(Client.kind == AppKind.APP)
                    .group_by(Client.organization_id)
                ).all()
            )
            users = dict(
                s.execute(
                    select(User.organization_id, func.count()).group_by(User.organization_id)
                ).all()
            )
            return [
                OrganizationSummary(
                    id=org.id,
                    slug=org.slug,
                    name=org.name,
                    kind=org.kind,
                    status=org.status,
                    apps=apps.get(org.id, 0),
                    users=users.get(org.id, 0),
                    created_at=org.created_at,
                )
                for org in s.scalars(select(Organization).order_by(Organization.slug))
            ]

    def suspend_organization(self, slug: str, by: UserView | None = None) -> OrganizationView:
        """Suspend a partner organization and revoke its apps' and users' live tokens.

        :class:`InvalidTransitionError` when it is already suspended or is the stewards' own.
        """
        require_operator(by)
        with self._store.transaction() as s:
            org = find_organization(s, slug)
            if org.kind == OrgKind.STEWARD:
                raise InvalidTransitionError("the stewards' organization cannot be suspended")
            if org.status == OrgStatus.SUSPENDED:
                raise InvalidTransitionError(f"the organization {slug!r} is already suspended")
            self._set_status(s, org, OrgStatus.SUSPENDED, by)
            now = self._clock()
            apps = select(Client.client_id).where(Client.organization_id == org.id)
            for client_id in s.scalars(apps).all():
                revoke_client_tokens(s, self._log, client_id, "organization_suspended", now)
            members = select(User.id).where(User.organization_id == org.id)
            revoke_user_tokens(s, self._log, members, "organization_suspended", now)
            return OrganizationView.of(org)

    def resume_organization(self, slug: str, by: UserView | None = None) -> OrganizationView:
        """Make a suspended organization ACTIVE again (its revoked tokens stay revoked).

        :class:`InvalidTransitionError` when it is not suspended.
        """
        require_operator(by)
        with self._store.transaction() as s:
            org = find_organization(s, slug)
            if org.status != OrgStatus.SUSPENDED:
                raise InvalidTransitionError(f"the organization {slug!r} is not suspended")
            self._set_status(s, org, OrgStatus.ACTIVE, by)
            return OrganizationView.of(org)

    def _set_status(self, s: Session, org: Organization, status: str, by: UserView | None) -> None:
        org.status = status
        self._log.append(
            s,
            OrganizationStatusChanged(
                organization_id=org.id, status=status, by_user_id=by.id if by else None
            ),
        )
