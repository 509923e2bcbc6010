"""``GET /healthz``: whether this portal can do its work now (issue 14).

200 ``{"status": "ok"}`` when its database answers a read of the revocation table (the feed
every zone polls, and the store of every token check) and it holds a signing key to publish;
otherwise 503 ``{"status": "unavailable", "problem": "database" | "signing_key"}``. Public and
unauthenticated, as a load balancer's probe is: it says nothing but these words, never an
error's text. Never cached.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import func, select

from portal._models import Revocation
from portal._portal import Portal

__all__ = ["health"]

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> tuple[Response, int]:
    portal: Portal = current_app.extensions["dataward_portal"]
    problem = ""
    try:
        with portal.store.transaction() as s:
            s.scalar(select(func.max(Revocation.id)))
    except Exception:  # any failure of the store is "database": its text stays out
        problem = "database"
    if not problem and not portal.keys.public_jwks(portal.clock()).get("keys"):
        problem = "signing_key"
    body = {"status": "unavailable", "problem": problem} if problem else {"status": "ok"}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 503 if problem else 200
