"""The auditor's page (issue 12): the partners' model cards waiting for an attestation, and
the form that attaches one.

Signed-in stewards only (anyone else: 403, as on every steward page). The auditor signs a
card FILE offline -- ``dataward compute sign-model`` recomputes the card's digest from the file
the partner handed over and prints it beside the declared fields -- and pastes the
attestation JSON it writes here; the page shows each waiting card's digest so the two can be
compared. The zone verifies the signature over the card it stores with the auditor's key in
the policy in force, and a refusal is shown in the zone's words (e.g. MODEL_NOT_ATTESTED
naming SIGNATURE, EXPIRED or AUDITOR_UNKNOWN) with its HTTP status. The form carries the
portal's CSRF token (checked before any route runs).
"""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dataward.client import CardFileInvalid, parse_attestation
from dataward.compute import MAX_MODEL_VERSION, MODEL_ID
from portal._cards import attest_model, list_waiting_cards
from portal._http_errors import status_for
from portal._models import Role
from portal._signed_in import current_portal, require_role
from portal._views import UserView
from portal.errors import InvalidInputError, PortalError, ZoneRefusedError

__all__ = ["card_pages"]

card_pages = Blueprint("cards", __name__)

# An organization as the zone names it (the `org` claim): the partner-name rule.
_ORGANIZATION = re.compile(r"(?!(?:[^0-9]*[0-9]){7})[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SIGN_COMMAND = "dataward compute sign-model --card CARD.json --key AUDITOR-KEY.pem --auditor NAME"


def _refused(error: PortalError, user: UserView) -> tuple[str, int]:
    status = status_for(error)
    page = render_template(
        "error.html",
        user=user,
        message=error.public_message,
        status=status,
        reason=error.reason if isinstance(error, ZoneRefusedError) else "",
        back=url_for("cards.models"),
    )
    return page, status


@card_pages.get("/steward/models")
def models() -> str:
    """The model cards waiting for an auditor's attestation, oldest first."""
    user = require_role(Role.STEWARD)
    cards = list_waiting_cards(current_portal(), user)
    return render_template("steward_models.html", user=user, cards=cards, command=SIGN_COMMAND)


def _target() -> tuple[str, str, int]:
    organization = request.form.get("organization", "")
    model_id = request.form.get("model_id", "")
    version = request.form.get("version", "")
    if not _ORGANIZATION.fullmatch(organization):
        raise InvalidInputError("organization: not an organization of the zone")
    if not MODEL_ID.fullmatch(model_id):
        raise InvalidInputError("model_id: 1..64 characters of a-z 0-9 _ . -")
    if not version.isdigit() or not 1 <= int(version) <= MAX_MODEL_VERSION:
        raise InvalidInputError(f"version: 1..{MAX_MODEL_VERSION}")
    return organization, model_id, int(version)


@card_pages.post("/steward/models/attest")
def attest() -> Response | tuple[str, int]:
    """Attach the pasted attestation to the card the form names."""
    user = require_role(Role.STEWARD)
    try:
        organization, model_id, version = _target()
        try:
            attestation = parse_attestation(request.form.get("attestation", ""))
        except CardFileInvalid as exc:
            raise InvalidInputError(f"attestation: {exc}") from None
        attest_model(
            current_portal(),
            user,
            organization=organization,
            model_id=model_id,
            version=version,
            attestation=attestation,
        )
    except PortalError as error:
        return _refused(error, user)
    flash(
        f"Attested {model_id} version {version} of organization {organization}: "
        f"scorable while {attestation.auditor}'s signature holds."
    )
    return redirect(url_for("cards.models"))
