"""``create_app``: the Flask application over one :class:`Portal`."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy import func, select
from werkzeug.middleware.proxy_fix import ProxyFix

from dataward.access import Scope
from portal._account_pages import account_pages
from portal._audit_pages import audit_pages
from portal._card_pages import card_pages
from portal._client_keys import ALGORITHMS as KEY_ALGORITHMS
from portal._connection import connection_details, metadata_fields
from portal._credential_pages import credential_pages
from portal._health import health
from portal._http_errors import status_for
from portal._keys import LOG_PUBLIC_KEY_FILE
from portal._models import Revocation
from portal._oauth import OAuthContext, build_authorization_server
from portal._pages import pages
from portal._portal import Portal
from portal._review_pages import review_pages
from portal._security import install_security
from portal.config import PortalConfig
from portal.errors import PortalError

__all__ = ["create_app"]

_MAX_FEED = 10_000


def create_app(config: PortalConfig, *, portal: Portal | None = None) -> Flask:
    """The portal's WSGI app. Opens (and migrates) the portal state unless ``portal`` is given."""
    portal = portal or Portal.open(config)
    app = Flask(__name__)
    app.secret_key = portal.session_secret
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    install_security(app, config.cookie_secure)
    ctx = OAuthContext(
        store=portal.store,
        log=portal.log,
        keys=portal.keys,
        admin=portal.admin,
        clock=portal.clock,
        code_ttl=config.authorization_code_ttl_seconds,
        refresh_ttl=config.refresh_token_ttl_seconds,
        client_auth_max_failures=config.client_auth_max_failures,
        client_auth_window=config.client_auth_failure_window_seconds,
    )
    server = build_authorization_server(
        app, ctx, portal.issuer, config.audience, config.access_token_ttl_seconds
    )
    app.extensions["dataward_portal"] = portal
    app.extensions["dataward_oauth"] = server
    app.register_blueprint(pages)
    app.register_blueprint(review_pages)
    app.register_blueprint(card_pages)
    app.register_blueprint(health)
    app.register_blueprint(credential_pages)
    app.register_blueprint(account_pages)
    app.register_blueprint(audit_pages)
    if config.trusted_proxies:
        # X-Forwarded-For only, and only the last `trusted_proxies` entries (those our own
        # proxies appended): anything further left is what the client chose to send, so it must
        # not become the address the throttles count by. Host and scheme are not taken from
        # headers either: the issuer is configured, never inferred.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=config.trusted_proxies, x_proto=0, x_host=0, x_port=0, x_prefix=0
        )

    @app.errorhandler(PortalError)
    def _portal_error(error: PortalError) -> tuple[str, int]:
        status = status_for(error)
        return render_template("error.html", message=error.public_message, status=status), status

    @app.get("/.well-known/jwks.json")
    def jwks() -> Response:
        response = jsonify(portal.keys.public_jwks(portal.clock()))
        response.headers["Cache-Control"] = "public, max-age=60"
        return response

    @app.get("/.well-known/portal-log-key")
    def portal_log_key() -> Response:
        """The Ed25519 key (PEM) that signs the portal log's checkpoints."""
        pem = (config.state_dir / LOG_PUBLIC_KEY_FILE).read_bytes()
        return Response(pem, mimetype="application/x-pem-file")

    @app.get("/.well-known/portal-log-checkpoint")
    def portal_log_checkpoint() -> Response:
        """The newest signed checkpoint of the portal log (C2SP signed note)."""
        portal.checkpoint()
        return Response(portal.latest_checkpoint() or "", mimetype="text/plain")

    @app.get("/.well-known/oauth-authorization-server")
    def metadata() -> Response:
        iss = portal.issuer()
        return jsonify(
            {  # RFC 8414, and (§2) where the zone is: dataward_grpc_target and the zone key
                **metadata_fields(connection_details(portal)),
                "issuer": iss,
                "authorization_endpoint": f"{iss}/oauth/authorize",
                "token_endpoint": f"{iss}/oauth/token",
                "jwks_uri": f"{iss}/.well-known/jwks.json",
                "introspection_endpoint": f"{iss}/oauth/introspect",
                "revocation_endpoint": f"{iss}/oauth/revoke",
                "scopes_supported": [s.value for s in Scope if s != Scope.ZONE_REVOCATIONS],
                "response_types_supported": ["code"],
                "grant_types_supported": [
                    "authorization_code",
                    "client_credentials",
                    "refresh_token",
                ],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "private_key_jwt",
                    "none",
                ],
                "token_endpoint_auth_signing_alg_values_supported": list(KEY_ALGORITHMS),
                "introspection_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "private_key_jwt",
                ],
                "revocation_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "private_key_jwt",
                ],
            }
        )

    @app.post("/oauth/token")
    def token() -> Any:
        return server.create_token_response()

    @app.post("/oauth/introspect")
    def introspect() -> Any:
        return server.create_endpoint_response("introspection")

    @app.post("/oauth/revoke")
    def revoke() -> Any:
        return server.create_endpoint_response("revocation")

    @app.get("/oauth/revocations")
    def revocations() -> Any:
        """The revocation feed for the zone: jti revoked after ``since`` (a cursor)."""
        from authlib.oauth2.rfc6749.errors import OAuth2Error

        try:
            client = server.authenticate_client(
                server.create_oauth2_request(None), ["client_secret_basic"], "revocations"
            )
        except OAuth2Error as error:
            return server.handle_error_response(None, error)
        if Scope.ZONE_REVOCATIONS.value not in client.row.granted_scopes:
            return jsonify(
                {"error": "insufficient_scope", "error_description": "requires zone:revocations"}
            ), 403
        raw = request.args.get("since", "0")
        if not raw.isdigit():
            return jsonify(
                {
                    "error": "invalid_request",
                    "error_description": "'since' must be a non-negative integer",
                }
            ), 400
        since = int(raw)
        now = portal.clock()
        with portal.store.transaction() as s:
            rows = s.scalars(
                select(Revocation)
                .where(Revocation.id > since)
                .order_by(Revocation.id)
                .limit(_MAX_FEED)
            ).all()
            cursor = rows[-1].id if rows else max(since, 0)
            if not rows:
                cursor = min(cursor, s.scalar(select(func.max(Revocation.id))) or 0)
        return jsonify(
            {
                "cursor": cursor,
                "revoked": [
                    {"jti": r.jti, "exp": r.expires_at} for r in rows if r.expires_at > now
                ],
            }
        )

    return app
