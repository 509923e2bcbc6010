"""Sign-in, partner and steward pages: CSRF, throttling, headers, the app lifecycle."""

from __future__ import annotations

from collections.abc import Callable

from tests.integration.portal.conftest import PASSWORD, Env, csrf_of, sign_in


def test_form_without_csrf_token_is_400(env: Env) -> None:
    response = env.client().post("/login", data={"username": "steward", "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF token missing" in response.get_data(as_text=True)


def test_form_with_a_wrong_csrf_token_is_400(env: Env) -> None:
    client = env.client()
    client.get("/login")
    response = client.post(
        "/login", data={"username": "steward", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 400 and "CSRF token invalid" in response.get_data(as_text=True)


def test_wrong_password_is_401_then_throttled_429(make_env: Callable[..., Env]) -> None:
    env = make_env(login_max_failures=3)
    client = env.client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    for _ in range(3):
        response = client.post(
            "/login", data={"username": "banker", "password": "wrong-wrong", "csrf_token": token}
        )
        assert response.status_code == 401
        assert "wrong username or password" in response.get_data(as_text=True)
    locked = client.post(
        "/login", data={"username": "banker", "password": PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == 429
    assert "too many failed sign-ins" in locked.get_data(as_text=True)
    env.clock.advance(301)  # the window passes
    ok = client.post(
        "/login", data={"username": "banker", "password": PASSWORD, "csrf_token": token}
    )
    assert ok.status_code == 302


def test_security_headers_and_cookie_flags(env: Env) -> None:
    response = env.client().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookies_when_configured(make_env: Callable[..., Env]) -> None:
    env = make_env(cookie_secure=True)
    cookie = env.client().get("/login").headers["Set-Cookie"]
    assert cookie.startswith("__Host-dw=") and "Secure" in cookie


def test_partner_registers_steward_approves_fewer_partner_sees_secret_once(env: Env) -> None:
    partner = env.client()
    sign_in(partner, "banker")
    page = partner.get("/partner").get_data(as_text=True)
    response = partner.post(
        "/partner/apps",
        data={
            "csrf_token": csrf_of(page),
            "name": "Loan desk",
            "scopes": ["identity:verify", "query:run"],
            "purposes": ["LOAN_ORIGINATION"],
            "justification": "verify loan applicants",
        },
    )
    assert response.status_code == 302
    (app,) = env.portal.admin.list_apps(organization_id=env.partner.organization_id)
    assert app.status == "PENDING"

    steward = env.client()
    sign_in(steward, "steward")
    page = steward.get("/steward").get_data(as_text=True)
    assert "Loan desk" in page and "verify loan applicants" in page
    response = steward.post(
        f"/steward/apps/{app.client_id}/approve",
        data={
            "csrf_token": csrf_of(page),
            "scopes": ["identity:verify"],
            "purposes": ["LOAN_ORIGINATION"],
        },
    )
    assert response.status_code == 302
    assert env.portal.admin.get_app(app.client_id).granted_scopes == ("identity:verify",)

    page = partner.get("/partner").get_data(as_text=True)
    shown = partner.post(
        f"/partner/apps/{app.client_id}/secret", data={"csrf_token": csrf_of(page)}
    ).get_data(as_text=True)
    assert 'id="client-secret"' in shown
    again = partner.get("/partner").get_data(as_text=True)
    assert 'id="client-secret"' not in again and "Rotate secret" in again


def test_partner_cannot_use_the_steward_page(env: Env) -> None:
    client = env.client()
    sign_in(client, "banker")
    assert client.get("/steward").status_code == 403
    page = client.get("/partner").get_data(as_text=True)
    app = env.portal.admin.register_app(env.partner, "x", ["audit:read"], ["RESEARCH"], "why")
    response = client.post(
        f"/steward/apps/{app.client_id}/approve", data={"csrf_token": csrf_of(page)}
    )
    assert response.status_code == 403
    assert env.portal.admin.get_app(app.client_id).status == "PENDING"


def test_steward_rejects_with_a_reason(env: Env) -> None:
    app = env.portal.admin.register_app(env.partner, "x", ["audit:read"], ["RESEARCH"], "why")
    client = env.client()
    sign_in(client, "steward")
    page = client.get("/steward").get_data(as_text=True)
    client.post(
        f"/steward/apps/{app.client_id}/reject",
        data={"csrf_token": csrf_of(page), "reason": "no research mandate"},
    )
    decided = env.portal.admin.get_app(app.client_id)
    assert decided.status == "REJECTED" and decided.decision_reason == "no research mandate"


def test_register_with_a_non_partner_scope_is_400(env: Env) -> None:
    client = env.client()
    sign_in(client, "banker")
    page = client.get("/partner").get_data(as_text=True)
    response = client.post(
        "/partner/apps",
        data={
            "csrf_token": csrf_of(page),
            "name": "greedy",
            "scopes": ["steward:admin"],
            "purposes": ["RESEARCH"],
            "justification": "please",
        },
    )
    assert response.status_code == 400
    assert "scope partners cannot have" in response.get_data(as_text=True)


def test_metadata_lists_the_endpoints(env: Env) -> None:
    body = env.client().get("/.well-known/oauth-authorization-server").get_json()
    assert body["token_endpoint"] == "http://127.0.0.1:8080/oauth/token"
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert "zone:revocations" not in body["scopes_supported"]
