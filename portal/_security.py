"""CSRF tokens for every form and the security headers of every response.

CSRF: one random token per session (``secrets.token_urlsafe``), a hidden field in every form,
compared with ``hmac.compare_digest``. The OAuth endpoints a client calls with its own
credentials (token, introspection, revocation, the revocation feed) carry no cookies' authority
and are exempt; the consent form at ``/oauth/authorize`` is not.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, g, request, session

from portal.errors import CsrfError

__all__ = ["csrf_token", "install_security"]

_EXEMPT = frozenset({"/oauth/token", "/oauth/introspect", "/oauth/revoke"})


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _check_csrf() -> None:
    if request.method != "POST" or request.path in _EXEMPT:
        return
    sent = request.form.get("csrf_token")
    if not sent:
        raise CsrfError("CSRF token missing")
    expected = session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise CsrfError("CSRF token invalid")


def allow_form_target(url: str) -> None:
    """Let this response's forms redirect to ``url``'s origin (the OAuth consent page)."""
    parts = urlsplit(url)
    if parts.scheme in {"http", "https"} and parts.netloc:
        g.form_action_extra = f"{parts.scheme}://{parts.netloc}"


def _headers(response: Response, hsts: bool) -> Response:
    form_action = "'self'"
    extra = g.get("form_action_extra")
    if extra:
        form_action += f" {extra}"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    if hsts:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def install_security(app: Flask, cookie_secure: bool) -> None:
    app.config.update(
        SESSION_COOKIE_SECURE=cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        # Lax, not Strict: Strict drops the session when a client redirects to /oauth/authorize.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="__Host-dw" if cookie_secure else "dw",
    )
    app.before_request(_check_csrf)
    app.after_request(lambda response: _headers(response, cookie_secure))
    app.jinja_env.globals["csrf_token"] = csrf_token
