"""Who is signed in, for the page blueprints: the portal of this app and the session's user."""

from __future__ import annotations

from flask import abort, current_app, g, redirect, request, session, url_for

from portal._portal import Portal
from portal._views import UserView
from portal.errors import PermissionDeniedError

__all__ = ["current_portal", "current_user", "require_role"]


def current_portal() -> Portal:
    portal: Portal = current_app.extensions["dataward_portal"]
    return portal


def current_user() -> UserView | None:
    if "user" not in g:
        uid = session.get("uid")
        g.user = current_portal().admin.get_user(uid) if isinstance(uid, int) else None
    user: UserView | None = g.user
    return user


def require_role(role: str) -> UserView:
    """The signed-in user if they have ``role``. Nobody signed in: a redirect (302) to the
    sign-in page, which comes back to this page after it (``next``, for a GET; a form posted
    without a session is not replayed). Someone with another role (a partner on a steward
    page) is :class:`PermissionDeniedError` (403)."""
    user = current_user()
    if user is None:
        back = request.full_path.removesuffix("?") if request.method == "GET" else None
        abort(redirect(url_for("pages.login", next=back)))
    if user.role != role:
        raise PermissionDeniedError("sign in with an account that may see this page")
    return user
