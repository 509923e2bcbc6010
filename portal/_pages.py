"""Server-rendered pages: sign-in, partner, steward, and the OAuth consent page."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from dataward.access import PARTNER_SCOPES, Purpose
from portal._credential_pages import credentials_page
from portal._http_errors import status_for
from portal._models import AppStatus, Role
from portal._security import allow_form_target, csrf_token
from portal._signed_in import current_portal, current_user, require_role
from portal._views import UserView
from portal._zone_calls import read_policy
from portal.errors import AuthenticationError, LoginThrottledError

__all__ = ["pages"]

pages = Blueprint("pages", __name__)


_MAX_NEXT = 2048


def _safe_next(target: str | None) -> str | None:
    """``target`` when it is a path of this site, else None: never an open redirect.

    Browsers drop tabs and newlines from a URL and read a backslash as a slash, and werkzeug
    drops a tab from a Location header, so ``/\t/evil.example`` left as ``//evil.example``
    (another site) and a newline was a 500 (issue 14 review): any whitespace or control
    character, a backslash, ``//`` or anything with a scheme or host is refused (the sign-in
    then goes home)."""
    if not target or len(target) > _MAX_NEXT or "\\" in target:
        return None
    if any(ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _home_for(user: UserView) -> str:
    return url_for("pages.steward" if user.role == Role.STEWARD else "pages.partner")


@pages.get("/")
def index() -> Response:
    user = current_user()
    return redirect(_home_for(user) if user else url_for("pages.login"))


@pages.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next=next_url, error=None)
    try:
        user = current_portal().admin.authenticate(
            request.form.get("username", ""),
            request.form.get("password", ""),
            address=request.remote_addr or "unknown",
        )
    except (AuthenticationError, LoginThrottledError) as exc:
        return render_template("login.html", next=next_url, error=exc.public_message), status_for(
            exc
        )
    session.clear()  # a fresh session (and CSRF token) on sign-in: no fixation
    session["uid"] = user.id
    csrf_token()
    return redirect(next_url or _home_for(user))


@pages.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("pages.login"))


# -- partner ---------------------------------------------------------------------------
def _partner_page(user: UserView, **extra: Any) -> str:
    apps = current_portal().admin.list_apps(organization_id=user.organization_id)
    return render_template(
        "partner.html",
        user=user,
        apps=apps,
        scopes=sorted(s.value for s in PARTNER_SCOPES),
        purposes=[p.value for p in Purpose],
        **extra,
    )


@pages.get("/partner")
def partner() -> str:
    return _partner_page(require_role(Role.PARTNER))


@pages.post("/partner/apps")
def register_app() -> Response:
    user = require_role(Role.PARTNER)
    current_portal().admin.register_app(
        user,
        request.form.get("name", ""),
        request.form.getlist("scopes"),
        request.form.getlist("purposes"),
        request.form.get("justification", ""),
    )
    return redirect(url_for("pages.partner"))


@pages.post("/partner/apps/<client_id>/secret")
def issue_secret(client_id: str) -> str:
    """Shown in this response only (no redirect: the secret must never sit in a cookie)."""
    user = require_role(Role.PARTNER)
    credentials = current_portal().admin.issue_secret(user, client_id)
    return credentials_page(user, client_id, credentials=credentials)  # with how to connect


# -- steward ---------------------------------------------------------------------------
@pages.get("/steward")
def steward() -> str:
    """The apps to review, each explained (what every requested scope and purpose allows, who
    asked and when, the organization's kind and its other apps), and the apps decided, whose
    grants can be narrowed or widened."""
    user = require_role(Role.STEWARD)
    admin = current_portal().admin
    reviews = admin.app_reviews()
    return render_template(
        "steward.html",
        user=user,
        catalog=admin.catalog,
        pending=[r for r in reviews if r.app.status == AppStatus.PENDING],
        decided=[r for r in reviews if r.app.status != AppStatus.PENDING],
    )


@pages.get("/steward/policy")
def steward_policy() -> str:
    """The policy in force and its history, read from the zone with the steward's own token
    (read-only: policies are put in force with `dataward policy apply`)."""
    user = require_role(Role.STEWARD)
    return render_template(
        "steward_policy.html", user=user, page=read_policy(current_portal(), user)
    )


@pages.post("/steward/apps/<client_id>/<action>")
def decide(client_id: str, action: str) -> Response:
    user = require_role(Role.STEWARD)
    admin = current_portal().admin
    if action == "approve":
        admin.approve(
            user, client_id, request.form.getlist("scopes"), request.form.getlist("purposes")
        )
    elif action == "grants":
        before = admin.get_app(client_id)
        after = admin.change_grants(
            user, client_id, request.form.getlist("scopes"), request.form.getlist("purposes")
        )
        kept = set(before.granted_scopes) | set(before.granted_purposes)
        now = set(after.granted_scopes) | set(after.granted_purposes)
        if kept == now:
            flash(f"{after.name}: these were its grants already; nothing changed.")
        elif kept <= now:
            flash(f"{after.name}: grants widened and logged; its next token carries them.")
        else:
            flash(f"{after.name}: grants narrowed and logged; its live tokens are revoked.")
    elif action == "reject":
        admin.reject_app(user, client_id, request.form.get("reason", ""))
    elif action == "suspend":
        admin.suspend_app(user, client_id)
    elif action == "revoke":
        admin.revoke_app(user, client_id)
    elif action == "reinstate":
        admin.reinstate_app(user, client_id)
    return redirect(url_for("pages.steward"))


# -- OAuth consent (authorization code + PKCE) -----------------------------------------
@pages.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    server = current_app.extensions["dataward_oauth"]
    user = current_user()
    if user is None:
        return redirect(url_for("pages.login", next=request.full_path))
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        message = f"{error.error}: {error.description}"
        return render_template("error.html", user=user, status=400, message=message), 400
    if request.method == "GET":
        allow_form_target(grant.redirect_uri)
        return render_template(
            "consent.html",
            user=user,
            client=grant.client.row,
            scope=grant.request.payload.scope or "(default)",
            action=request.full_path,
        )
    approved = request.form.get("decision") == "approve"
    return server.create_authorization_response(grant=grant, grant_user=user if approved else None)
