"""A partner app's credentials page (issue 14): everything needed to connect, in one place.

``GET /partner/apps/<client_id>``, for the signed-in partner users of the app's organization
(anyone else: 403; an unknown app: 404): the client id, the token URL, the zone's gRPC target,
the zone's checkpoint key and its name (what ``audit_key`` pins), and a copy-paste Python
snippet (:func:`portal._connection.python_snippet`) that reads the secret from the environment
-- the page never prints a secret except once, right after it was issued (``POST
/partner/apps/<client_id>/secret`` renders this page with it, never redirecting: the secret
must not sit in a cookie or a URL).
"""

from __future__ import annotations

from flask import Blueprint, render_template

from portal._connection import connection_details, python_snippet
from portal._models import Role
from portal._signed_in import current_portal, require_role
from portal._views import ClientCredentials, UserView
from portal.errors import PermissionDeniedError

__all__ = ["credential_pages", "credentials_page"]

credential_pages = Blueprint("credentials", __name__)


def credentials_page(
    user: UserView, client_id: str, *, credentials: ClientCredentials | None = None
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
        private_key=False,
    )
    return render_template(
        "partner_app.html",
        user=user,
        app=app,
        details=details,
        snippet=snippet,
        credentials=credentials,
    )


@credential_pages.get("/partner/apps/<client_id>")
def app_credentials(client_id: str) -> str:
    return credentials_page(require_role(Role.PARTNER), client_id)
