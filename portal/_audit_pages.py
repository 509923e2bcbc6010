"""The steward's audit pages (issue 14): ``/steward/audit`` (the zone's log, filterable by
organization, app, method and date, paged), ``/steward/audit/portal`` (the portal's own log)
and ``/steward/usage`` (per app: calls per day, refusals by reason).

Signed-in stewards only, as every steward page. The zone's log is read from the zone's
``AuditService`` with the steward's own token (:mod:`portal._audit_view`); a refusal of the
zone keeps its meaning as an HTTP status (a filter out of its format: 400 naming the field).
GET forms only: nothing here changes anything.
"""

from __future__ import annotations

import re

from flask import Blueprint, render_template, request

from portal._audit_view import (
    AuditFilter,
    UsageFilter,
    read_portal_log,
    read_usage,
    read_zone_log,
)
from portal._models import Role
from portal._portal import Portal
from portal._signed_in import current_portal, require_role
from portal.errors import InvalidInputError

__all__ = ["audit_pages"]

audit_pages = Blueprint("audit", __name__)

_CURSOR = re.compile(r"[1-9][0-9]{0,18}")
# The methods a partner calls, for the filter's list (the zone takes any method name).
METHODS = (
    "EligibilityService/Check",
    "EligibilityService/CheckBatch",
    "IdentityService/Verify",
    "ComputeService/CreditBand",
    "ComputeService/PaillierScore",
    "ComputeService/CkksBatchScore",
    "ComputeService/EncryptedFaceMatch",
    "QueryService/Submit",
    "QueryService/Run",
    "AuditService/GetReceipt",
)


def _names(portal: Portal) -> tuple[dict[str, str], dict[str, str]]:
    """client id -> app name, organization slug -> name (what the portal knows to show)."""
    apps = {a.client_id: a.name for a in portal.admin.list_apps()}
    orgs = {o.slug: o.name for o in portal.admin.list_organizations()}
    return apps, orgs


def _shown_names(portal: Portal) -> dict[str, str]:
    """An organization's name by what the zone's entries name it: its slug (the token's
    ``org`` claim), and its database id, which tokens named before slugs (issue 14)."""
    named: dict[str, str] = {}
    for o in portal.admin.list_organizations():
        named[str(o.id)] = named[o.slug] = o.name
    return named


@audit_pages.get("/steward/audit")
def zone_log() -> str:
    """One page of the zone's log, newest first, with the filter form."""
    user = require_role(Role.STEWARD)
    portal = current_portal()
    flt = AuditFilter.from_args(request.args.to_dict())
    apps, orgs = _names(portal)
    page = read_zone_log(portal, user, flt, apps)
    return render_template(
        "steward_audit.html",
        user=user,
        flt=flt,
        page=page,
        apps=apps,
        orgs=orgs,
        org_names=_shown_names(portal),
        methods=METHODS,
        next_args=flt.query(page=page.next_page_token) if page.next_page_token else None,
    )


@audit_pages.get("/steward/audit/portal")
def portal_log() -> str:
    """The portal's own log (sign-ins, apps' lifecycle, tokens), newest first."""
    user = require_role(Role.STEWARD)
    before_text = request.args.get("before", "")
    if before_text and not _CURSOR.fullmatch(before_text):
        raise InvalidInputError("before: not a position a previous page gave")
    kind = request.args.get("kind", "")
    if kind and not re.fullmatch(r"[a-z_]{1,40}", kind):
        raise InvalidInputError("kind: an event kind as sign_in")
    page = read_portal_log(
        current_portal(), before=int(before_text) if before_text else None, kind=kind
    )
    return render_template("steward_portal_log.html", user=user, page=page, kind=kind)


@audit_pages.get("/steward/usage")
def usage() -> str:
    """Per app: calls per day and refusals by reason, over a window (default 30 days)."""
    user = require_role(Role.STEWARD)
    portal = current_portal()
    flt = UsageFilter.from_args(request.args.to_dict())
    apps, orgs = _names(portal)
    usage_page = read_usage(portal, user, flt, apps)
    return render_template(
        "steward_usage.html",
        user=user,
        flt=flt,
        window=(usage_page.first, usage_page.last),
        truncated=usage_page.truncated,
        rows=usage_page.rows,
        orgs=orgs,
        org_names=_shown_names(portal),
    )
