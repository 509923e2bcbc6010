"""The steward's organization and user pages: what ``dataward portal org`` and ``portal user``
do, in the browser (issue 14).

``/steward/organizations`` lists every organization (slug, name, kind, status, its apps and
users), creates a partner organization (a slug derived from the name unless given) and
suspends or resumes one; ``/steward/users`` lists users (of one organization with ``?org=``),
creates a partner user or a steward with an initial password, and disables one. Every change
goes through :class:`~portal.PortalAdmin` with the signed-in steward as ``by``, so it is the
same portal-log event as from the CLI, and every refusal keeps its HTTP status (400 bad input,
404 unknown slug or username, 409 taken or already so). Signed-in stewards only (a visit
without a session is sent to sign-in; a partner gets 403). A password is read from the form
only, compared with its confirmation, never echoed, flashed or logged.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from portal._http_errors import status_for
from portal._models import OrgKind, Role
from portal._signed_in import current_portal, current_user, require_role
from portal.errors import InvalidInputError, PortalError

__all__ = ["KIND_WORDS", "account_pages"]

account_pages = Blueprint("accounts", __name__)

# Partner kinds in the order the form offers them, with the words a steward reads (a test
# holds them to the partner kinds the admin API accepts).
KIND_WORDS = {
    OrgKind.INSURER: "insurer",
    OrgKind.BANK: "bank",
    OrgKind.RESEARCH: "research body",
    OrgKind.PUBLIC_BODY: "public body",
}


@account_pages.errorhandler(PortalError)
def _refused(error: PortalError) -> tuple[str, int]:
    """A refusal in the admin API's words, with its status and a link back to the list."""
    status = status_for(error)
    back = url_for(
        "accounts.users" if request.path.startswith("/steward/users") else "accounts.organizations"
    )
    page = render_template(
        "error.html", user=current_user(), message=error.public_message, status=status, back=back
    )
    return page, status


@account_pages.get("/steward/organizations")
def organizations() -> str:
    user = require_role(Role.STEWARD)
    return render_template(
        "steward_orgs.html",
        user=user,
        organizations=current_portal().admin.list_organizations(),
        kinds=KIND_WORDS,
    )


@account_pages.post("/steward/organizations")
def create_organization() -> Response:
    require_role(Role.STEWARD)
    slug = request.form.get("slug", "").strip()
    org = current_portal().admin.create_organization(
        request.form.get("name", ""), request.form.get("kind", ""), slug=slug or None
    )
    flash(f"Created {org.name}: its slug is {org.slug} (stable: consents and tokens name it).")
    return redirect(url_for("accounts.organizations"))


@account_pages.post("/steward/organizations/<slug>/<action>")
def organization_status(slug: str, action: str) -> Response:
    user = require_role(Role.STEWARD)
    admin = current_portal().admin
    if action == "suspend":
        org = admin.suspend_organization(slug, by=user)
        flash(
            f"Suspended {org.name}: its apps get no tokens, its users cannot sign in, and "
            "their live tokens are revoked."
        )
    elif action == "resume":
        org = admin.resume_organization(slug, by=user)
        flash(f"Resumed {org.name}: its apps and users may sign in again.")
    return redirect(url_for("accounts.organizations"))


@account_pages.get("/steward/users")
def users() -> str:
    user = require_role(Role.STEWARD)
    admin = current_portal().admin
    org = request.args.get("org") or None
    organizations = admin.list_organizations()
    return render_template(
        "steward_users.html",
        user=user,
        users=admin.list_users(org),  # an unknown slug: 404
        org=org,
        organizations=organizations,
        partner_orgs=[
            o for o in organizations if o.kind != OrgKind.STEWARD and o.status == "ACTIVE"
        ],
    )


@account_pages.post("/steward/users")
def create_user() -> Response:
    require_role(Role.STEWARD)
    password = request.form.get("password", "")
    if password != request.form.get("confirm", ""):
        raise InvalidInputError("password: the two passwords differ")
    role = request.form.get("role", Role.PARTNER)
    org = request.form.get("org", "").strip() or None
    created = current_portal().admin.create_user(
        request.form.get("username", ""),
        password,
        org=None if role == Role.STEWARD else org,
        role=role,
    )
    flash(f"Created {created.role.lower()} {created.username} of {created.org_name}.")
    return redirect(url_for("accounts.users"))


@account_pages.post("/steward/users/disable")
def disable_user() -> Response:
    user = require_role(Role.STEWARD)
    disabled = current_portal().admin.disable_user(request.form.get("username", ""), by=user)
    flash(f"Disabled {disabled.username}: they cannot sign in, their live tokens are revoked.")
    return redirect(url_for("accounts.users"))
