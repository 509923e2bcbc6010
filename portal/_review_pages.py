"""The steward's review pages: the pending submissions, one submission's analysis, and the
approve and reject forms (issue 11, "Steward review").

Signed-in stewards only (anyone else: 403, as on every steward page). Every page and form
reads or writes the zone through :mod:`portal._review` with the steward's own token; the
portal keeps nothing of a query. The forms carry the portal's CSRF token (checked before any
route runs). A refusal of the zone keeps its meaning as an HTTP status (see
:func:`portal._zone_calls.zone_error`) and is shown in the zone's words with a link back.
"""

from __future__ import annotations

import datetime as dt
import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from portal._http_errors import status_for
from portal._models import Role
from portal._portal import Portal
from portal._review import approve_query, get_query_review, list_pending_queries, reject_query
from portal._review_forms import (
    MODES,
    conditions_from_form,
    default_conditions,
    reason_from_form,
)
from portal._signed_in import current_portal, require_role
from portal._views import AppView, UserView
from portal.errors import (
    NotFoundError,
    PortalError,
    ZoneInvalidArgumentError,
    ZoneRefusedError,
)

__all__ = ["review_pages"]

review_pages = Blueprint("review", __name__)

# As QueryService issues them: `qry_` and 24 URL-safe characters. Anything else is no query
# (and never reaches the zone or a log).
_QUERY_ID = re.compile(r"qry_[A-Za-z0-9_-]{24}")
_PENDING = "PENDING_REVIEW"
# The zone's names of the fields (ErrorInfo metadata "field") as the forms name them.
_FORM_FIELDS = {
    "conditions.mode": "mode",
    "conditions.epsilon": "epsilon",
    "conditions.expires_at": "expires_on",
    "conditions.max_runs": "max_runs",
    "reason": "reason",
}


def _today() -> dt.date:
    return dt.datetime.fromtimestamp(current_portal().clock(), dt.UTC).date()


def _checked(query_id: str) -> str:
    if not _QUERY_ID.fullmatch(query_id):
        raise NotFoundError("no such query")
    return query_id


def _apps_by_id(portal: Portal) -> dict[str, AppView]:
    """The portal's own record of the partner apps, to name who submitted a query (the zone
    knows an organization by its number and an app by its client id)."""
    return {app.client_id: app for app in portal.admin.list_apps()}


def _refused(error: PortalError, user: UserView, query_id: str) -> tuple[str, int]:
    status = status_for(error)
    message = error.public_message
    if isinstance(error, ZoneInvalidArgumentError) and error.field in _FORM_FIELDS:
        message = f"{_FORM_FIELDS[error.field]}: {message}"  # the field as the form names it
    page = render_template(
        "error.html",
        user=user,
        message=message,
        status=status,
        reason=error.reason if isinstance(error, ZoneRefusedError) else "",
        back=url_for("review.query", query_id=query_id),
    )
    return page, status


@review_pages.get("/steward/queries")
def queries() -> str:
    """The submissions awaiting review: organization, view, purpose, when, the rule failed."""
    user = require_role(Role.STEWARD)
    portal = current_portal()
    page = list_pending_queries(portal, user, request.args.get("page", ""))
    return render_template("steward_queries.html", user=user, page=page, apps=_apps_by_id(portal))


@review_pages.get("/steward/queries/<query_id>")
def query(query_id: str) -> str:
    user = require_role(Role.STEWARD)
    portal = current_portal()
    review = get_query_review(portal, user, _checked(query_id))
    return render_template(
        "steward_query.html",
        user=user,
        review=review,
        app=_apps_by_id(portal).get(review.client_id),
        defaults=default_conditions(review.default_mode, review.default_epsilon, _today()),
        modes=MODES,
        pending=review.status == _PENDING,
        approved_by_me=review.approved_by(user),
    )


@review_pages.post("/steward/queries/<query_id>/approve")
def approve(query_id: str) -> Response | tuple[str, int]:
    user = require_role(Role.STEWARD)
    query_id = _checked(query_id)
    try:
        conditions = conditions_from_form(request.form, _today())
        decision = approve_query(current_portal(), user, query_id, conditions)
    except PortalError as error:
        return _refused(error, user, query_id)
    if decision.status == _PENDING:
        flash(
            f"Your approval is recorded ({decision.approvals} of {decision.approvals_needed}): "
            "a second steward must approve before it can run."
        )
        return redirect(url_for("review.query", query_id=query_id))
    flash(f"Approved {query_id}: the partner may run it under your conditions.")
    return redirect(url_for("review.queries"))


@review_pages.post("/steward/queries/<query_id>/reject")
def reject(query_id: str) -> Response | tuple[str, int]:
    user = require_role(Role.STEWARD)
    query_id = _checked(query_id)
    try:
        reject_query(current_portal(), user, query_id, reason_from_form(request.form))
    except PortalError as error:
        return _refused(error, user, query_id)
    flash(f"Rejected {query_id}: the partner sees your reason.")
    return redirect(url_for("review.queries"))
