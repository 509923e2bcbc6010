"""The portal's organizations as the launcher's zone-side commands see them (issue 14).

Partners are named by their organization's slug -- the access token's ``org`` claim -- so
``consent grant --partner SLUG`` must name an ACTIVE partner organization of this zone's
portal (``ZONE/portal``): any other string would record a consent that can never match a
call. And "who checked me" answers show the organization's name for its slug. Both read the
portal's database through :func:`portal.read_organizations`: read-only, no portal key.
"""

from __future__ import annotations

from launcher._verify import PORTAL_DIR
from launcher.settings import Settings
from portal import OrganizationView, PortalError, read_organizations

__all__ = ["UnknownPartnerError", "organization_names", "require_partner"]

_PARTNER_KINDS = frozenset({"BANK", "INSURER", "RESEARCH", "PUBLIC_BODY"})


class UnknownPartnerError(Exception):
    """``--partner`` names no ACTIVE partner organization in the zone's portal (exit 65)."""


def _organizations(settings: Settings) -> tuple[OrganizationView, ...]:
    return read_organizations(settings.zone.dir / PORTAL_DIR, settings.portal.database_url)


def require_partner(settings: Settings, slug: str) -> OrganizationView:
    """The ACTIVE partner organization with ``slug``, or :class:`UnknownPartnerError`."""
    found = {o.slug: o for o in _organizations(settings)}.get(slug)
    if found is None or found.kind not in _PARTNER_KINDS:
        raise UnknownPartnerError(
            f"no partner organization has the slug {slug!r} in this zone's portal "
            "(see `dataward portal org list`; create it with `dataward portal org create`)"
        )
    if found.status != "ACTIVE":
        raise UnknownPartnerError(f"the partner organization {slug!r} is suspended")
    return found


def organization_names(settings: Settings) -> dict[str, str]:
    """Each organization's name by slug; empty when the zone has no portal database or it
    cannot be read (the names only label lines: the slugs are shown instead)."""
    try:
        return {o.slug: o.name for o in _organizations(settings)}
    except PortalError:
        return {}
