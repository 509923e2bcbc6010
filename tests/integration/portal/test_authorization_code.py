"""Authorization code with PKCE (S256 only) and rotating refresh tokens."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.integration.portal.conftest import (
    REDIRECT,
    Env,
    authorization_code,
    pkce_pair,
    sign_in,
)


def _exchange(
    client: FlaskClient, client_id: str, code: str, verifier: str
) -> tuple[int, dict[str, Any]]:
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
    return response.status_code, response.get_json()


def _refresh(client: FlaskClient, client_id: str, refresh_token: str) -> tuple[int, dict[str, Any]]:
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
        },
    )
    return response.status_code, response.get_json()


def _active(env: Env, token: str) -> bool:
    zone = env.portal.admin.create_zone_client()
    body = (
        env.client()
        .post("/oauth/introspect", data={"token": token}, auth=(zone.client_id, zone.client_secret))
        .get_json()
    )
    return bool(body["active"])


def test_steward_signs_in_with_pkce_and_gets_a_steward_token(env: Env) -> None:
    client = env.client()
    sign_in(client, "steward")
    verifier, challenge = pkce_pair()
    code = authorization_code(
        client, env.sign_in_client, challenge, scope="steward:admin audit:read"
    )
    status, body = _exchange(client, env.sign_in_client, code, verifier)
    assert status == 200, body
    assert body["scope"] == "steward:admin audit:read" and body["refresh_token"]
    assert _active(env, body["access_token"])


def test_signed_out_user_is_sent_to_sign_in(env: Env) -> None:
    _, challenge = pkce_pair()
    response = env.client().get(
        f"/oauth/authorize?response_type=code&client_id={env.sign_in_client}"
        f"&redirect_uri={REDIRECT}&code_challenge={challenge}&code_challenge_method=S256"
    )
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_pkce_verifier_mismatch_is_invalid_grant(env: Env) -> None:
    client = env.client()
    sign_in(client, "steward")
    _, challenge = pkce_pair()
    code = authorization_code(client, env.sign_in_client, challenge)
    other_verifier, _ = pkce_pair()
    status, body = _exchange(client, env.sign_in_client, code, other_verifier)
    assert status == 400
    assert body == {"error": "invalid_grant", "error_description": "Code challenge failed."}


def test_plain_pkce_is_refused(env: Env) -> None:
    client = env.client()
    sign_in(client, "steward")
    response = client.get(
        f"/oauth/authorize?response_type=code&client_id={env.sign_in_client}"
        f"&redirect_uri={REDIRECT}&code_challenge={'a' * 50}&code_challenge_method=plain"
    )
    assert response.status_code == 400
    assert "invalid_request" in response.get_data(as_text=True)
    assert "plain" in response.get_data(as_text=True)


def test_missing_pkce_is_refused(env: Env) -> None:
    client = env.client()
    sign_in(client, "steward")
    response = client.get(
        f"/oauth/authorize?response_type=code&client_id={env.sign_in_client}"
        f"&redirect_uri={REDIRECT}"
    )
    assert response.status_code == 400 and "invalid_request" in response.get_data(as_text=True)


def test_reused_code_is_invalid_grant_and_revokes_the_first_tokens(env: Env) -> None:
    client = env.client()
    sign_in(client, "steward")
    verifier, challenge = pkce_pair()
    code = authorization_code(client, env.sign_in_client, challenge)
    status, first = _exchange(client, env.sign_in_client, code, verifier)
    assert status == 200
    status, again = _exchange(client, env.sign_in_client, code, verifier)
    assert status == 400
    assert again == {"error": "invalid_grant", "error_description": "Invalid 'code' in request."}
    assert not _active(env, first["access_token"])


def test_partner_user_cannot_obtain_steward_scope(env: Env) -> None:
    client = env.client()
    sign_in(client, "banker")
    _, challenge = pkce_pair()
    query = (
        f"/oauth/authorize?response_type=code&client_id={env.sign_in_client}"
        f"&redirect_uri={REDIRECT}&scope=steward:admin&state=s"
        f"&code_challenge={challenge}&code_challenge_method=S256"
    )
    from tests.integration.portal.conftest import csrf_of

    page = client.get(query)
    response = client.post(
        query, data={"csrf_token": csrf_of(page.get_data(as_text=True)), "decision": "approve"}
    )
    assert response.status_code == 302
    assert "error=invalid_scope" in response.headers["Location"]


def test_refresh_rotates_and_reuse_revokes_the_family(env: Env) -> None:
    client = env.client()
    sign_in(client, "steward")
    verifier, challenge = pkce_pair()
    code = authorization_code(client, env.sign_in_client, challenge)
    _, first = _exchange(client, env.sign_in_client, code, verifier)
    status, second = _refresh(client, env.sign_in_client, first["refresh_token"])
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    assert _active(env, second["access_token"])
    status, reused = _refresh(client, env.sign_in_client, first["refresh_token"])
    assert status == 400 and reused["error"] == "invalid_grant"
    # The whole family is gone: the second access token and refresh token too.
    assert not _active(env, second["access_token"])
    status, after = _refresh(client, env.sign_in_client, second["refresh_token"])
    assert status == 400 and after["error"] == "invalid_grant"


def test_refresh_cannot_widen_scope(env: Env) -> None:
    client = env.client()
    sign_in(client, "steward")
    verifier, challenge = pkce_pair()
    code = authorization_code(client, env.sign_in_client, challenge, scope="audit:read")
    _, first = _exchange(client, env.sign_in_client, code, verifier)
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": env.sign_in_client,
            "scope": "audit:read steward:admin",
        },
    )
    assert response.get_json()["error"] == "invalid_scope"
