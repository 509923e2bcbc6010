"""The token endpoint: client credentials and its errors, with the Flask test client."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.integration.portal.conftest import Env


def _token(env: Env, client_id: str, secret: str, **data: str) -> tuple[int, dict[str, object]]:
    response = env.client().post(
        "/oauth/token", data={"grant_type": "client_credentials", **data}, auth=(client_id, secret)
    )
    return response.status_code, response.get_json()


def test_client_credentials_issue_an_rfc9068_jwt(env: Env) -> None:
    creds = env.approved_app()
    status, body = _token(env, creds.client_id, creds.client_secret, scope="identity:verify")
    assert status == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["scope"] == "identity:verify"
    jwks = KeySet.import_key_set(env.client().get("/.well-known/jwks.json").get_json())
    decoded = jwt.decode(str(body["access_token"]), jwks, algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt" and decoded.header["kid"]
    claims = decoded.claims
    assert claims["iss"] == "http://127.0.0.1:8080" and claims["aud"] == "dataward-zone"
    assert claims["sub"] == creds.client_id == claims["client_id"]
    assert claims["scope"] == "identity:verify"
    assert claims["org_kind"] == "BANK" and claims["org"] == "demo-bank" == env.partner.org_slug
    assert claims["org_name"] == "Demo Bank"
    assert claims["purposes"] == ["LOAN_ORIGINATION"]
    assert claims["exp"] - claims["iat"] == 600 and claims["jti"]


def test_no_scope_asked_means_every_granted_scope(env: Env) -> None:
    creds = env.approved_app()
    _, body = _token(env, creds.client_id, creds.client_secret)
    assert body["scope"] == "eligibility:check identity:verify"


def test_wrong_secret_is_invalid_client(env: Env) -> None:
    creds = env.approved_app()
    status, body = _token(env, creds.client_id, "not-the-secret")
    assert status == 401 and body["error"] == "invalid_client"


def test_unknown_client_is_invalid_client(env: Env) -> None:
    status, body = _token(env, "dw_nobody", "whatever")
    assert status == 401 and body["error"] == "invalid_client"


def test_ungranted_scope_is_invalid_scope_not_dropped(env: Env) -> None:
    creds = env.approved_app(scopes=["identity:verify"])
    status, body = _token(
        env, creds.client_id, creds.client_secret, scope="identity:verify query:run"
    )
    assert status == 400 and body["error"] == "invalid_scope"


def test_unknown_scope_is_invalid_scope(env: Env) -> None:
    creds = env.approved_app()
    status, body = _token(env, creds.client_id, creds.client_secret, scope="root:everything")
    assert status == 400 and body["error"] == "invalid_scope"


def test_unsupported_grant_type(env: Env) -> None:
    creds = env.approved_app()
    response = env.client().post(
        "/oauth/token",
        data={"grant_type": "password", "username": "u", "password": "p"},
        auth=(creds.client_id, creds.client_secret),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"


def test_suspended_app_is_refused_with_a_description(env: Env) -> None:
    creds = env.approved_app()
    env.portal.admin.suspend_app(env.steward, creds.client_id)
    status, body = _token(env, creds.client_id, creds.client_secret)
    assert status == 401
    assert body == {"error": "invalid_client", "error_description": "The app is suspended."}


def test_rotated_secret_replaces_the_old_one(env: Env) -> None:
    creds = env.approved_app()
    new = env.portal.admin.issue_secret(env.partner, creds.client_id)
    assert _token(env, creds.client_id, creds.client_secret)[0] == 401
    assert _token(env, new.client_id, new.client_secret)[0] == 200


def test_pending_app_cannot_get_tokens(env: Env) -> None:
    app = env.portal.admin.register_app(env.partner, "p", ["audit:read"], ["RESEARCH"], "why")
    # A pending app has no secret at all: any secret fails.
    status, body = _token(env, app.client_id, "guess")
    assert status == 401 and body["error"] == "invalid_client"
