"""The OAuth 2.0 authorization server: Authlib's Flask integration with the portal's rules.

- client credentials (RFC 6749 4.4) for partner apps, authenticated with their secret or,
  once they registered a public key, with ``private_key_jwt`` (RFC 7523; see
  ``portal._private_key_jwt``: aud the token endpoint, exp at most 5 minutes ahead, each
  jti once); authorization code (4.1) with PKCE
  S256 only (RFC 7636; ``plain`` or no challenge is ``invalid_request``) for people signing in;
  refresh tokens rotated on use, a reused one revokes its whole family (RFC 9700 4.14.2);
- a scope beyond the client's grant is ``invalid_scope`` (Authlib would drop it silently);
- a suspended, revoked or unapproved app, or an app of a suspended organization, fails
  client authentication (``invalid_client``);
- revocation (RFC 7009) and introspection (RFC 7662) need client authentication;
- failed client authentications are counted per presented ``client_id`` and client address:
  past ``client_auth_max_failures`` within ``client_auth_failure_window_seconds`` every
  endpoint that authenticates clients answers that client_id from that address with ``429``
  and
  ``{"error": "slow_down", "error_description": ...}`` plus ``Retry-After`` (the RFC 6749
  error format, with RFC 8628's ``slow_down`` code and RFC 6585's 429), even for the right
  secret, until the window passes; the same app from another address is unaffected (a
  client_id is not secret, so anyone could otherwise lock an app out). A suspended app's
  refusal is not counted (not a guess).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, ClassVar

import flask
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy import select, update

from dataward.access import Scope
from portal._accounts import ROLE_SCOPES
from portal._admin import PortalAdmin
from portal._events import TokenIssued
from portal._keys import KeyRing
from portal._log import PortalLog
from portal._models import AppKind, AuthorizationCode, Client, Organization, Token
from portal._passwords import check_secret, secret_digest
from portal._private_key_jwt import PrivateKeyJwt, assertion_subject
from portal._revoke import revoke_family, revoke_token
from portal._store import Store
from portal._throttle import client_auth_failures, record_client_auth_failure
from portal._tokens import (
    PRIVATE_KEY_JWT,
    ClientAdapter,
    JwtTokenGenerator,
    TokenAdapter,
    read_claims,
    verify_own,
)
from portal._views import OrganizationView, UserView

__all__ = ["OAuthContext", "build_authorization_server"]


class OAuthContext:
    """What the grants and endpoints need, reachable as ``server.ctx``."""

    def __init__(
        self,
        *,
        store: Store,
        log: PortalLog,
        keys: KeyRing,
        admin: PortalAdmin,
        clock: Callable[[], float],
        code_ttl: int,
        refresh_ttl: int,
        client_auth_max_failures: int,
        client_auth_window: int,
    ) -> None:
        self.store, self.log, self.keys, self.admin = store, log, keys, admin
        self.clock, self.code_ttl, self.refresh_ttl = clock, code_ttl, refresh_ttl
        self.client_auth_max_failures = client_auth_max_failures
        self.client_auth_window = client_auth_window

    def client_auth_throttled(self, client_id: str, address: str) -> bool:
        since = self.clock() - self.client_auth_window
        with self.store.transaction() as s:
            failures = client_auth_failures(s, client_id, address, since)
            return failures >= self.client_auth_max_failures

    def count_client_auth_failure(self, client_id: str, address: str) -> None:
        with self.store.transaction() as s:
            record_client_auth_failure(s, client_id, address, self.clock(), self.client_auth_window)

    def query_client(self, client_id: str) -> ClientAdapter | None:
        with self.store.transaction() as s:
            row = s.scalar(select(Client).where(Client.client_id == client_id))
            if row is None:
                return None
            org = s.get(Organization, row.organization_id) if row.organization_id else None
            return ClientAdapter(row, OrganizationView.of(org) if org else None, check_secret)

    def find_token(self, token: str, hint: str | None) -> TokenAdapter | None:
        """The stored issuance of an access token (a JWT we signed) or a refresh token."""
        now = self.clock()
        with self.store.transaction() as s:
            if token.count(".") == 2 and hint != "refresh_token":
                claims = verify_own(self.keys, token, now)
                if claims is None:
                    return None
                row = s.scalar(select(Token).where(Token.jti == str(claims.get("jti"))))
                return TokenAdapter(row, False, now) if row else None
            row = s.scalar(select(Token).where(Token.refresh_hash == secret_digest(token)))
            return TokenAdapter(row, True, now) if row else None


class _Server(AuthorizationServer):  # type: ignore[misc]
    ctx: OAuthContext

    def query_client(self, client_id: str) -> ClientAdapter | None:
        return self.ctx.query_client(client_id)

    def authenticate_client(self, request: Any, methods: Any, endpoint: str = "token") -> Any:
        client_id = _presented_client_id(request)
        address = flask.request.remote_addr or "-"
        if client_id and self.ctx.client_auth_throttled(client_id, address):
            raise SlowDownError(self.ctx.client_auth_window)
        try:
            client: ClientAdapter = super().authenticate_client(request, methods, endpoint)
        except InvalidClientError:
            if client_id:
                self.ctx.count_client_auth_failure(client_id, address)
            raise
        if not client.active:
            what = "organization" if client.org_suspended else "app"
            status = "suspended" if client.org_suspended else client.row.status.lower()
            raise InvalidClientError(status_code=401, description=f"The {what} is {status}.")
        return client

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        ctx = self.ctx
        claims = read_claims(token["access_token"])
        user: UserView | None = request.user
        now = ctx.clock()
        with ctx.store.transaction() as s:
            if request.refresh_token is not None:
                family = request.refresh_token.row.family_id
            else:
                family = secrets.token_urlsafe(16)
                if request.authorization_code is not None:
                    s.execute(
                        update(AuthorizationCode)
                        .where(AuthorizationCode.id == request.authorization_code.id)
                        .values(family_id=family)
                    )
            refresh = token.get("refresh_token")
            s.add(
                Token(
                    jti=claims["jti"],
                    client_id=request.client.client_id,
                    user_id=user.id if user else None,
                    scope=claims["scope"],
                    issued_at=now,
                    expires_at=float(claims["exp"]),
                    revoked=False,
                    refresh_hash=secret_digest(refresh) if refresh else None,
                    refresh_expires_at=now + ctx.refresh_ttl if refresh else None,
                    refresh_used=False,
                    refresh_revoked=False,
                    family_id=family,
                )
            )
            ctx.log.append(
                s,
                TokenIssued(
                    jti=claims["jti"],
                    client_id=request.client.client_id,
                    user_id=user.id if user else None,
                    grant_type=request.payload.grant_type,
                    scope=claims["scope"],
                    exp=int(claims["exp"]),
                    with_refresh_token=bool(refresh),
                ),
            )


class SlowDownError(OAuth2Error):  # type: ignore[misc]
    """Too many failed client authentications for one client_id (see the module docstring)."""

    error = "slow_down"
    status_code = 429

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            description="Too many failed client authentications for this client_id; "
            "try again later.",
            status_code=429,
        )
        self.retry_after_seconds = retry_after_seconds

    def get_headers(self) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = super().get_headers()
        return [*headers, ("Retry-After", str(self.retry_after_seconds))]


def _presented_client_id(request: Any) -> str | None:
    """The client_id a request claims (HTTP Basic first, then the form, then a private_key_jwt
    assertion's ``sub``), before checking it."""
    basic_id, _ = extract_basic_authorization(request.headers)
    presented = (
        basic_id
        or request.payload.client_id
        or assertion_subject(request.form.get("client_assertion"))
    )
    return str(presented) if presented else None


def _refuse_ungranted(scope: str | None, allowed: set[str], **kw: Any) -> None:
    requested = set(scope_to_list(scope) or [])
    if not requested <= allowed:
        raise InvalidScopeError(
            description="The requested scope exceeds what was granted to this client.", **kw
        )


class _ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
        "client_secret_basic",
        "client_secret_post",
        PRIVATE_KEY_JWT,  # issue 14: RFC 7523, the app's registered key
    ]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        _refuse_ungranted(self.request.payload.scope, set(self.request.client.row.granted_scopes))


class _PkceS256Only(CodeChallenge):  # type: ignore[misc]
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE (S256) is required.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256; 'plain' is refused.")
        super().validate_code_challenge(grant, redirect_uri)


class _AuthorizationCode(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    def validate_authorization_request(self) -> Any:
        redirect_uri = super().validate_authorization_request()
        _refuse_ungranted(
            self.request.payload.scope,
            set(self.request.client.row.granted_scopes),
            redirect_uri=redirect_uri,
            state=self.request.payload.state,
        )
        return redirect_uri

    def create_authorization_response(self, redirect_uri: str, grant_user: Any) -> Any:
        if grant_user is not None:
            role_scopes = set(ROLE_SCOPES[grant_user.role])
            _refuse_ungranted(
                self.request.payload.scope,
                role_scopes,
                redirect_uri=redirect_uri,
                state=self.request.payload.state,
            )
        return super().create_authorization_response(redirect_uri, grant_user)

    def save_authorization_code(self, code: str, request: Any) -> None:
        ctx: OAuthContext = self.server.ctx
        data = request.payload.data
        user: UserView = request.user
        scope = request.payload.scope or " ".join(
            sorted(ROLE_SCOPES[user.role] & set(request.client.row.granted_scopes))
        )
        with ctx.store.transaction() as s:
            s.add(
                AuthorizationCode(
                    code_hash=secret_digest(code),
                    client_id=request.client.client_id,
                    user_id=user.id,
                    redirect_uri=request.payload.redirect_uri or "",
                    scope=scope,
                    code_challenge=data["code_challenge"],
                    code_challenge_method="S256",
                    expires_at=ctx.clock() + ctx.code_ttl,
                    used=False,
                )
            )

    def query_authorization_code(self, code: str, client: ClientAdapter) -> Any:
        """Claim the code atomically: a second presentation is invalid_grant and revokes
        the tokens the first one bought (RFC 6749 4.1.2)."""
        ctx: OAuthContext = self.server.ctx
        now = ctx.clock()
        with ctx.store.transaction() as s:
            row = s.scalar(
                select(AuthorizationCode).where(
                    AuthorizationCode.code_hash == secret_digest(code),
                    AuthorizationCode.client_id == client.client_id,
                )
            )
            if row is None:
                return None
            claimed = s.execute(
                update(AuthorizationCode)
                .where(AuthorizationCode.id == row.id, AuthorizationCode.used.is_(False))
                .values(used=True)
            ).rowcount  # type: ignore[attr-defined]
            if not claimed:
                if row.family_id:
                    revoke_family(s, ctx.log, row.family_id, "code_reuse", now)
                return None
            if row.expires_at <= now:
                return None
            return _CodeAdapter(row)

    def delete_authorization_code(self, authorization_code: Any) -> None:
        pass  # already claimed (marked used) in query_authorization_code

    def authenticate_user(self, authorization_code: Any) -> UserView | None:
        ctx: OAuthContext = self.server.ctx
        return ctx.admin.get_user(authorization_code.row.user_id)


class _CodeAdapter:
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.id = row.id
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> None:
        return None

    def get_auth_time(self) -> None:
        return None


class _RefreshToken(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> TokenAdapter | None:
        ctx: OAuthContext = self.server.ctx
        now = ctx.clock()
        with ctx.store.transaction() as s:
            row = s.scalar(select(Token).where(Token.refresh_hash == secret_digest(refresh_token)))
            if row is None:
                return None
            if row.refresh_used:  # a rotated token presented again: the family is compromised
                revoke_family(s, ctx.log, row.family_id, "refresh_reuse", now)
                return None
            token = TokenAdapter(row, True, now)
            return None if token.is_revoked() or token.is_expired() else token

    def authenticate_user(self, refresh_token: TokenAdapter) -> UserView | None:
        ctx: OAuthContext = self.server.ctx
        user_id = refresh_token.row.user_id
        return ctx.admin.get_user(user_id) if user_id is not None else None

    def revoke_old_credential(self, refresh_token: TokenAdapter) -> None:
        ctx: OAuthContext = self.server.ctx
        with ctx.store.transaction() as s:
            claimed = s.execute(
                update(Token)
                .where(Token.id == refresh_token.row.id, Token.refresh_used.is_(False))
                .values(refresh_used=True)
            ).rowcount  # type: ignore[attr-defined]
            if not claimed:  # lost a race with a concurrent use of the same refresh token
                revoke_family(s, ctx.log, refresh_token.row.family_id, "refresh_reuse", ctx.clock())


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = [
        "client_secret_basic",
        "client_secret_post",
        PRIVATE_KEY_JWT,  # aud: the token endpoint here too (one audience per server)
    ]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return self.server.ctx.find_token(token_string, token_type_hint)

    def revoke_token(self, token: TokenAdapter, request: Any) -> None:
        ctx: OAuthContext = self.server.ctx
        now = ctx.clock()
        with ctx.store.transaction() as s:
            row = s.get(Token, token.row.id)
            assert row is not None
            if token.is_refresh:  # RFC 7009 2.1: the grant's access tokens go too
                revoke_family(s, ctx.log, row.family_id, "rfc7009", now)
            else:
                revoke_token(s, ctx.log, row, "rfc7009", now)


class _Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = [
        "client_secret_basic",
        "client_secret_post",
        PRIVATE_KEY_JWT,  # aud: the token endpoint here too (one audience per server)
    ]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return self.server.ctx.find_token(token_string, token_type_hint)

    def check_permission(self, token: TokenAdapter, client: ClientAdapter, request: Any) -> bool:
        # The token's own client, or the zone (the resource server).
        return token.check_client(client) or client.row.kind == AppKind.ZONE

    def introspect_token(self, token: TokenAdapter) -> dict[str, Any]:
        row = token.row
        body: dict[str, Any] = {
            "active": True,
            "client_id": row.client_id,
            "scope": row.scope,
            "token_type": "refresh_token" if token.is_refresh else "Bearer",
            "iat": int(row.issued_at),
            "exp": int((row.refresh_expires_at or 0) if token.is_refresh else row.expires_at),
        }
        if not token.is_refresh:
            body["jti"] = row.jti
        body["sub"] = f"user:{row.user_id}" if row.user_id is not None else row.client_id
        return body


def build_authorization_server(
    app: Any, ctx: OAuthContext, issuer: Callable[[], str], audience: str, access_ttl: int
) -> Any:
    """The Authlib server bound to ``app``, with the portal's grants and endpoints."""
    app.config["OAUTH2_SCOPES_SUPPORTED"] = [s.value for s in Scope]
    server = _Server(app)
    server.ctx = ctx
    server.register_client_auth_method(
        PRIVATE_KEY_JWT, PrivateKeyJwt(ctx.store, lambda: f"{issuer()}/oauth/token", ctx.clock)
    )
    server.register_token_generator(
        "default", JwtTokenGenerator(ctx.keys, issuer, audience, access_ttl, ctx.clock)
    )
    server.register_grant(_ClientCredentials)
    server.register_grant(_AuthorizationCode, [_PkceS256Only(required=True)])
    server.register_grant(_RefreshToken)
    server.register_endpoint(_Revocation)
    server.register_endpoint(_Introspection)
    return server
