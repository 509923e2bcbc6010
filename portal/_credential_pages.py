"""A partner app's credentials page (issue 14): everything needed to connect, in one place.

``GET /partner/apps/<client_id>``, for the signed-in partner users of the app's organization
(anyone else: 403; an unknown app: 404): the client id, the token URL, the zone's gRPC target,
the zone's checkpoint key and its name (what ``audit_key`` pins), and a copy-paste Python
snippet (:func:`portal._connection.python_snippet`) that reads the secret from the environment
-- the page never prints a secret except once, right after it was issued (``POST
/partner/apps/<client_id>/secret`` renders this page with it, never redirecting: the secret
must not sit in a cookie or a URL).

``POST /partner/apps/<client_id>/key`` registers the app's public key (PEM or JWK) for
``private_key_jwt`` (RFC 7523): from then on the app signs an assertion with its private key
instead of sending a secret, and the snippet reads the key file.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from portal._connection import connection_details, python_snippet
from portal._http_errors import status_for
from portal._models import Role
from portal._signed_in import current_portal, require_role
from portal._views import ClientCredentials, UserView
from portal.errors import InvalidInputError, PermissionDeniedError

__all__ = ["credential_pages", "credentials_page"]

credential_pages = Blueprint("credentials", __name__)


def credentials_page(
    user: UserView,
    client_id: str,
    *,
    credentials: ClientCredentials | None = None,
    key_error: str | None = None,
) -> str:
    """The page of ``client_id`` for ``user``, with a just-issued secret if given."""
    portal = current_portal()
    app = portal.admin.get_app(client_id)  # NotFoundError: 404
    if user.role != Role.PARTNER or app.organization_id != user.organization_id:
        raise PermissionDeniedError("only the app's organization sees its credentials")
    details = connection_details(portal)
    snippet = python_snippet(
        details,
        client_id=app.client_id,
        scopes=app.granted_scopes,
        purposes=app.granted_purposes,
        private_key=app.key_id is not None,
    )
    return render_template(
        "partner_app.html",
        user=user,
        app=app,
        details=details,
        snippet=snippet,
        credentials=credentials,
        key_error=key_error,
    )


@credential_pages.get("/partner/apps/<client_id>")
def app_credentials(client_id: str) -> str:
    return credentials_page(require_role(Role.PARTNER), client_id)


@credential_pages.post("/partner/apps/<client_id>/key")
def register_key(client_id: str) -> Response | tuple[str, int]:
    """Register the app's public key (private_key_jwt); a refusal re-renders the page with
    the reason and its status (400 for a key the portal does not take)."""
    user = require_role(Role.PARTNER)
    try:
        app = current_portal().admin.register_public_key(
            user, client_id, request.form.get("public_key", "")
        )
    except InvalidInputError as error:
        return credentials_page(user, client_id, key_error=error.public_message), status_for(error)
    flash(f"Registered the public key {app.key_id}: the app now authenticates with it.")
    return redirect(url_for("credentials.app_credentials", client_id=client_id))
