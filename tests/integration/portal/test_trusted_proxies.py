"""Behind reverse proxies the per-address throttles key on the client address the configured
number of trusted proxies reports, and on nothing an untrusted hop wrote (issue 8, item 12).

``X-Forwarded-For`` is "client, proxy1, proxy2, ..." with each proxy appending the address it
saw; only the last ``trusted_proxies`` entries were written by our own proxies, so anything
further left is whatever the client chose to send.
"""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.integration.portal.conftest import PASSWORD, Env, csrf_of

PROXY = "10.0.0.254"  # the socket peer: our reverse proxy


def _login(client: FlaskClient, password: str, forwarded_for: str | None) -> TestResponse:
    token = csrf_of(client.get("/login").get_data(as_text=True))
    environ = {"REMOTE_ADDR": PROXY}
    if forwarded_for is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post(
        "/login",
        data={"username": "banker", "password": password, "csrf_token": token},
        environ_base=environ,
    )


def _throttled(env: Env, forwarded_for: str | None) -> bool:
    response = _login(env.client(), PASSWORD, forwarded_for)
    assert response.status_code in (302, 429), response.status_code
    return response.status_code == 429


def _env(make_env: Callable[..., Env], trusted_proxies: int) -> Env:
    # The per-username limit is out of reach: only the per-address one can lock.
    return make_env(
        trusted_proxies=trusted_proxies, login_max_failures=100, login_max_failures_per_address=2
    )


def test_one_trusted_proxy_keys_on_the_hop_it_appended(make_env: Callable[..., Env]) -> None:
    env = _env(make_env, trusted_proxies=1)
    client = env.client()
    # The attacker varies what it sends as X-Forwarded-For; our proxy appends the real peer.
    for spoofed in ("1.1.1.1", "2.2.2.2, 3.3.3.3"):
        response = _login(client, "wrong-wrong", f"{spoofed}, 203.0.113.7")
        assert response.status_code == 401

    assert _throttled(env, "9.9.9.9, 203.0.113.7")  # a fresh spoofed prefix does not help
    assert _throttled(env, "203.0.113.7")
    assert not _throttled(env, "198.51.100.9")  # another client behind the same proxy
    assert not _throttled(env, "203.0.113.7, 198.51.100.9")  # its left entry is not trusted


def test_two_trusted_proxies_key_on_the_second_hop_from_the_right(
    make_env: Callable[..., Env],
) -> None:
    env = _env(make_env, trusted_proxies=2)
    client = env.client()
    for spoofed in ("1.1.1.1", "2.2.2.2"):
        assert _login(client, "wrong-wrong", f"{spoofed}, 203.0.113.7, 10.1.1.1").status_code == 401
    assert _throttled(env, "203.0.113.7, 10.1.1.2")  # the same client via another edge proxy
    assert not _throttled(env, "198.51.100.9, 10.1.1.1")


def test_with_no_trusted_proxy_the_header_is_ignored(make_env: Callable[..., Env]) -> None:
    env = _env(make_env, trusted_proxies=0)
    client = env.client()
    for forged in ("203.0.113.1", "203.0.113.2"):  # a different "client" each time
        assert _login(client, "wrong-wrong", forged).status_code == 401
    # Both failures counted against the socket peer, whatever the header said.
    assert _throttled(env, "198.51.100.9")
    assert _throttled(env, None)


def test_the_default_trusts_no_proxy(make_env: Callable[..., Env]) -> None:
    env = make_env(login_max_failures=100, login_max_failures_per_address=2)
    client = env.client()
    for forged in ("203.0.113.1", "203.0.113.2"):
        assert _login(client, "wrong-wrong", forged).status_code == 401
    assert _throttled(env, "198.51.100.9")


def test_client_authentication_failures_key_on_the_trusted_hop(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(trusted_proxies=1, client_auth_max_failures=2)
    creds = env.approved_app()
    client = env.client()

    def token(secret: str, forwarded_for: str) -> int:
        response = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(creds.client_id, secret),
            environ_base={"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": forwarded_for},
        )
        return response.status_code

    assert token("wrong", "1.1.1.1, 203.0.113.7") == 401
    assert token("wrong", "2.2.2.2, 203.0.113.7") == 401
    assert token(creds.client_secret, "3.3.3.3, 203.0.113.7") == 429
    assert token(creds.client_secret, "198.51.100.9") == 200  # the owner, elsewhere
