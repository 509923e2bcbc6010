"""Throttles: sign-in per username and per client address; client authentication per client_id."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.integration.portal.conftest import PASSWORD, Env, csrf_of


def _login(client: FlaskClient, username: str, password: str, address: str) -> TestResponse:
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def test_a_guess_spread_across_usernames_from_one_address_is_throttled(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(login_max_failures=5, login_max_failures_per_address=3)
    client = env.client()
    for username in ("banker", "steward", "nobody"):  # one failure per username: under 5
        response = _login(client, username, "wrong-wrong", "10.0.0.1")
        assert response.status_code == 401
        assert "wrong username or password" in response.get_data(as_text=True)

    locked = _login(client, "steward", PASSWORD, "10.0.0.1")  # even the right password
    assert locked.status_code == 429
    assert "too many failed sign-ins from this address; try again later" in locked.get_data(
        as_text=True
    )
    assert _login(env.client(), "steward", PASSWORD, "10.0.0.2").status_code == 302

    env.clock.advance(301)  # the window passes
    assert _login(env.client(), "banker", PASSWORD, "10.0.0.1").status_code == 302


def test_the_per_username_limit_holds_across_addresses(make_env: Callable[..., Env]) -> None:
    env = make_env(login_max_failures=2, login_max_failures_per_address=20)
    client = env.client()
    for address in ("10.0.0.1", "10.0.0.2"):
        assert _login(client, "banker", "wrong-wrong", address).status_code == 401
    locked = _login(client, "banker", PASSWORD, "10.0.0.3")  # a fresh address, same account
    assert locked.status_code == 429
    assert "too many failed sign-ins for this account; try again later" in locked.get_data(
        as_text=True
    )
    assert _login(env.client(), "steward", PASSWORD, "10.0.0.3").status_code == 302


def test_a_throttled_attempt_is_in_the_portal_log(make_env: Callable[..., Env]) -> None:
    env = make_env(login_max_failures=1)
    client = env.client()
    assert _login(client, "banker", "wrong-wrong", "10.0.0.1").status_code == 401
    assert _login(client, "banker", PASSWORD, "10.0.0.1").status_code == 429
    leaves = [json.loads(e.leaf) for e in env.portal.export_log().entries]
    failed = [leaf for leaf in leaves if leaf["kind"] == "sign_in_failed"]
    assert [leaf["throttled"] for leaf in failed] == [False, True]
    assert b"10.0.0.1" not in b"".join(e.leaf for e in env.portal.export_log().entries)


def _token(client: FlaskClient, client_id: str, secret: str) -> TestResponse:
    return client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )


def test_repeated_invalid_client_for_one_client_id_is_429_slow_down(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(client_auth_max_failures=3, client_auth_failure_window_seconds=60)
    creds, other = env.approved_app(), env.approved_app()
    client = env.client()
    assert _token(client, creds.client_id, "wrong").get_json()["error"] == "invalid_client"
    posted = client.post(  # client_secret_post failures count too
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": "wrong",
        },
    )
    assert posted.status_code == 401 and posted.get_json()["error"] == "invalid_client"
    assert _token(client, creds.client_id, "wrong").status_code == 401

    slowed = _token(client, creds.client_id, creds.client_secret)  # even the right secret
    assert slowed.status_code == 429
    assert slowed.get_json() == {
        "error": "slow_down",
        "error_description": "Too many failed client authentications for this client_id; "
        "try again later.",
    }
    assert slowed.headers["Retry-After"] == "60"
    introspect = client.post(  # every endpoint that authenticates the client
        "/oauth/introspect", data={"token": "x"}, auth=(creds.client_id, creds.client_secret)
    )
    assert introspect.status_code == 429
    assert _token(client, other.client_id, other.client_secret).status_code == 200

    # A client_id is not secret: failing on purpose from one address must not lock the app
    # out for its owner elsewhere.
    elsewhere = env.client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    assert _token(elsewhere, creds.client_id, creds.client_secret).status_code == 200

    env.clock.advance(61)
    assert _token(client, creds.client_id, creds.client_secret).status_code == 200


def test_unknown_client_ids_are_throttled_and_suspended_apps_are_not_counted(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(client_auth_max_failures=2)
    client = env.client()
    for _ in range(2):
        assert _token(client, "dw_no_such_app", "guess").status_code == 401
    assert _token(client, "dw_no_such_app", "guess").status_code == 429

    creds = env.approved_app()
    env.portal.admin.suspend_app(env.steward, creds.client_id)
    for _ in range(3):  # refused because suspended, not because of a wrong secret
        response = _token(client, creds.client_id, creds.client_secret)
        assert response.status_code == 401
        assert response.get_json()["error_description"] == "The app is suspended."
    env.portal.admin.reinstate_app(env.steward, creds.client_id)
    assert _token(client, creds.client_id, creds.client_secret).status_code == 200
