"""Introspection (RFC 7662), revocation (RFC 7009) and the zone's revocation feed."""

from __future__ import annotations

from tests.integration.portal.conftest import Env


def _access_token(env: Env) -> tuple[str, str, str]:
    creds = env.approved_app()
    body = (
        env.client()
        .post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(creds.client_id, creds.client_secret),
        )
        .get_json()
    )
    return creds.client_id, creds.client_secret, body["access_token"]


def _introspect(env: Env, token: str, auth: tuple[str, str]) -> dict[str, object]:
    response = env.client().post("/oauth/introspect", data={"token": token}, auth=auth)
    assert response.status_code == 200
    body: dict[str, object] = response.get_json()
    return body


def test_active_token_introspects_with_its_claims(env: Env) -> None:
    cid, secret, token = _access_token(env)
    body = _introspect(env, token, (cid, secret))
    assert body["active"] is True and body["client_id"] == cid and body["jti"]


def test_introspection_requires_client_authentication(env: Env) -> None:
    _, _, token = _access_token(env)
    response = env.client().post("/oauth/introspect", data={"token": token})
    assert response.status_code in {400, 401}
    assert response.get_json()["error"] == "invalid_client"


def test_expired_token_is_inactive(env: Env) -> None:
    cid, secret, token = _access_token(env)
    env.clock.advance(601)
    assert _introspect(env, token, (cid, secret)) == {"active": False}


def test_revoked_token_is_inactive(env: Env) -> None:
    cid, secret, token = _access_token(env)
    response = env.client().post("/oauth/revoke", data={"token": token}, auth=(cid, secret))
    assert response.status_code == 200
    assert _introspect(env, token, (cid, secret)) == {"active": False}


def test_revocation_requires_client_authentication(env: Env) -> None:
    _, _, token = _access_token(env)
    response = env.client().post("/oauth/revoke", data={"token": token})
    assert response.get_json()["error"] == "invalid_client"


def test_another_clients_token_cannot_be_revoked(env: Env) -> None:
    _, _, token = _access_token(env)
    other = env.approved_app()
    response = env.client().post(
        "/oauth/revoke", data={"token": token}, auth=(other.client_id, other.client_secret)
    )
    assert response.get_json()["error"] == "invalid_grant"


def test_forged_token_is_inactive(env: Env) -> None:
    cid, secret, token = _access_token(env)
    head, payload, _sig = token.split(".")
    assert _introspect(env, f"{head}.{payload}.AAAA", (cid, secret)) == {"active": False}


def test_revocation_feed_lists_every_revoked_jti(env: Env) -> None:
    zone = env.portal.admin.create_zone_client()
    feed = env.client().get("/oauth/revocations?since=0", auth=(zone.client_id, zone.client_secret))
    assert feed.status_code == 200 and feed.get_json() == {"cursor": 0, "revoked": []}
    cid, secret, token = _access_token(env)
    jti = _introspect(env, token, (cid, secret))["jti"]
    env.portal.admin.revoke_app(env.steward, cid)  # revoking the app revokes its tokens
    body = (
        env.client()
        .get("/oauth/revocations?since=0", auth=(zone.client_id, zone.client_secret))
        .get_json()
    )
    assert [r["jti"] for r in body["revoked"]] == [jti] and body["cursor"] >= 1
    later = (
        env.client()
        .get(
            f"/oauth/revocations?since={body['cursor']}", auth=(zone.client_id, zone.client_secret)
        )
        .get_json()
    )
    assert later == {"cursor": body["cursor"], "revoked": []}
    # The zone (resource server) may introspect any token.
    assert _introspect(env, token, (zone.client_id, zone.client_secret)) == {"active": False}


def test_revocation_feed_needs_the_zone_scope(env: Env) -> None:
    partner = env.approved_app()
    response = env.client().get(
        "/oauth/revocations?since=0", auth=(partner.client_id, partner.client_secret)
    )
    assert response.status_code == 403 and response.get_json()["error"] == "insufficient_scope"
    anonymous = env.client().get("/oauth/revocations?since=0")
    assert anonymous.status_code == 401 and anonymous.get_json()["error"] == "invalid_client"


def test_revocation_feed_rejects_a_bad_cursor(env: Env) -> None:
    zone = env.portal.admin.create_zone_client()
    response = env.client().get(
        "/oauth/revocations?since=-1", auth=(zone.client_id, zone.client_secret)
    )
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_suspending_an_app_revokes_its_tokens(env: Env) -> None:
    cid, _secret, token = _access_token(env)
    zone = env.portal.admin.create_zone_client()
    env.portal.admin.suspend_app(env.steward, cid)
    assert _introspect(env, token, (zone.client_id, zone.client_secret)) == {"active": False}
