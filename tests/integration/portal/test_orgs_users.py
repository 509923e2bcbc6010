"""Organizations (slug, suspend, resume) and users (create, list, disable), issue 14.

A real portal (SQLite, Flask test client): suspending an organization stops its apps' tokens
and its users' sign-ins at once and revokes live tokens through the revocation feed;
disabling a user likewise for that user. Every change is a portal-log event.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from portal.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    InvalidTransitionError,
    PermissionDeniedError,
    UnknownOrganizationError,
    UnknownUserError,
)
from tests.integration.portal.conftest import (
    PASSWORD,
    REDIRECT,
    Env,
    authorization_code,
    csrf_of,
    pkce_pair,
    sign_in,
)


def _events(env: Env) -> list[dict[str, Any]]:
    return [json.loads(e.leaf) for e in env.portal.export_log().entries]


def _token(env: Env, client_id: str, secret: str) -> tuple[int, dict[str, Any]]:
    response = env.client().post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    return response.status_code, response.get_json()


def _feed(env: Env) -> list[str]:
    zone = env.portal.admin.create_zone_client()
    body = (
        env.client()
        .get("/oauth/revocations?since=0", auth=(zone.client_id, zone.client_secret))
        .get_json()
    )
    return [r["jti"] for r in body["revoked"]]


def _jti(token: str) -> str:
    from portal._tokens import read_claims

    return str(read_claims(token)["jti"])


def _login(client: FlaskClient, username: str) -> tuple[int, str]:
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(page)}
    )
    return response.status_code, response.get_data(as_text=True)


def _signed_in_tokens(env: Env, username: str) -> tuple[FlaskClient, dict[str, Any]]:
    client = env.client()
    sign_in(client, username)
    verifier, challenge = pkce_pair()
    code = authorization_code(client, env.sign_in_client, challenge)
    body = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": env.sign_in_client,
            "code_verifier": verifier,
        },
    ).get_json()
    assert "refresh_token" in body, body
    return client, body


def _refresh(client: FlaskClient, env: Env, refresh_token: str) -> tuple[int, dict[str, Any]]:
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": env.sign_in_client,
        },
    )
    return response.status_code, response.get_json()


def test_organizations_get_a_slug_from_their_name_or_the_one_given(env: Env) -> None:
    admin = env.portal.admin
    derived = admin.create_organization("Zürich Versicherung AG", "INSURER")
    given = admin.create_organization("Statistics Office", "PUBLIC_BODY", slug="stats")
    assert (derived.slug, derived.status) == ("zurich-versicherung-ag", "ACTIVE")
    assert (given.slug, given.kind) == ("stats", "PUBLIC_BODY")
    assert admin.get_organization("stats") == given
    rows = {o.slug: o for o in admin.list_organizations()}
    assert set(rows) == {"data-stewards", "demo-bank", "stats", "zurich-versicherung-ag"}
    assert (rows["demo-bank"].users, rows["demo-bank"].apps) == (1, 0)
    env.approved_app()
    assert {o.slug: o.apps for o in admin.list_organizations()}["demo-bank"] == 1
    created = [e for e in _events(env) if e["kind"] == "organization_created"]
    assert {e["organization_id"] for e in created} >= {derived.id, given.id}
    assert "Statistics" not in json.dumps(created)  # ids only, never the name


@pytest.mark.parametrize(
    ("name", "kind", "slug", "error", "message"),
    [
        ("", "BANK", None, InvalidInputError, "needs a name"),
        ("x" * 201, "BANK", None, InvalidInputError, "at most 200"),
        ("Acme", "STEWARD", None, InvalidInputError, "PUBLIC_BODY"),
        ("Acme", "CASINO", None, InvalidInputError, "kind must be"),
        ("Acme", "BANK", "Acme", InvalidInputError, "slug must be"),
        ("Acme", "BANK", "a", InvalidInputError, "slug must be"),
        ("Demo Bank", "BANK", None, ConflictError, "name exists"),
        ("Other Bank", "BANK", "demo-bank", ConflictError, "slug 'demo-bank' exists"),
    ],
)
def test_bad_organizations_are_refused_precisely(
    env: Env, name: str, kind: str, slug: str | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        env.portal.admin.create_organization(name, kind, slug=slug)


def test_a_suspended_organization_gets_no_tokens_and_its_live_ones_are_revoked(env: Env) -> None:
    admin = env.portal.admin
    creds = env.approved_app()
    status, body = _token(env, creds.client_id, creds.client_secret)
    assert status == 200
    _, user_tokens = _signed_in_tokens(env, "banker")
    suspended = admin.suspend_organization("demo-bank")
    assert suspended.status == "SUSPENDED"
    status, refused = _token(env, creds.client_id, creds.client_secret)
    assert status == 401 and refused["error"] == "invalid_client"
    assert refused["error_description"] == "The organization is suspended."
    feed = _feed(env)
    assert _jti(body["access_token"]) in feed and _jti(user_tokens["access_token"]) in feed
    code, page = _login(env.client(), "banker")
    assert code == 401 and "organization is suspended" in page
    status, refreshed = _refresh(env.client(), env, user_tokens["refresh_token"])
    assert status == 400 and refreshed["error"] == "invalid_grant"
    assert admin.get_user(env.partner.id) is None  # a session of theirs ends too
    with pytest.raises(InvalidTransitionError, match="already suspended"):
        admin.suspend_organization("demo-bank")
    admin.resume_organization("demo-bank")
    assert _token(env, creds.client_id, creds.client_secret)[0] == 200
    assert _login(env.client(), "banker")[0] == 302
    with pytest.raises(InvalidTransitionError, match="not suspended"):
        admin.resume_organization("demo-bank")
    changes = [e for e in _events(env) if e["kind"] == "organization_status_changed"]
    assert [(e["status"], e["by_user_id"]) for e in changes] == [
        ("SUSPENDED", None),
        ("ACTIVE", None),
    ]
    reasons = {e["reason"] for e in _events(env) if e["kind"] == "token_revoked"}
    assert reasons == {"organization_suspended"}


def test_suspending_is_refused_precisely(env: Env) -> None:
    admin = env.portal.admin
    with pytest.raises(UnknownOrganizationError, match="no organization has the slug 'nope'"):
        admin.suspend_organization("nope")
    with pytest.raises(UnknownOrganizationError):
        admin.resume_organization("nope")
    with pytest.raises(InvalidTransitionError, match="stewards' organization"):
        admin.suspend_organization("data-stewards")
    with pytest.raises(PermissionDeniedError, match="only a steward"):
        admin.suspend_organization("demo-bank", by=env.partner)
    assert admin.suspend_organization("demo-bank", by=env.steward).status == "SUSPENDED"
    last = [e for e in _events(env) if e["kind"] == "organization_status_changed"][-1]
    assert last["by_user_id"] == env.steward.id


def test_users_are_created_in_an_organization_by_slug_and_listed(env: Env) -> None:
    admin = env.portal.admin
    admin.create_organization("Statistics Office", "PUBLIC_BODY", slug="stats")
    analyst = admin.create_user("analyst", PASSWORD, org="stats")
    assert (analyst.role, analyst.org_slug, analyst.org_name) == (
        "PARTNER",
        "stats",
        "Statistics Office",
    )
    second = admin.create_user("steward2", PASSWORD, org=None, role="steward")
    assert (second.role, second.org_slug) == ("STEWARD", "data-stewards")
    assert (
        admin.create_user("steward3", PASSWORD, org="data-stewards", role="STEWARD").role
        == "STEWARD"
    )
    assert [u.username for u in admin.list_users()] == [
        "analyst",
        "banker",
        "steward",
        "steward2",
        "steward3",
    ]
    assert [u.username for u in admin.list_users(org="stats")] == ["analyst"]
    assert _login(env.client(), "analyst")[0] == 302


@pytest.mark.parametrize(
    ("username", "password", "org", "role", "error", "message"),
    [
        ("u1", PASSWORD, "nope", "partner", UnknownOrganizationError, "slug 'nope'"),
        ("u1", PASSWORD, None, "partner", InvalidInputError, "needs an organization"),
        ("u1", PASSWORD, "demo-bank", "steward", InvalidInputError, "BANK organization"),
        ("u1", PASSWORD, "data-stewards", "partner", InvalidInputError, "STEWARD organization"),
        ("u1", PASSWORD, "demo-bank", "admin", InvalidInputError, "partner or steward"),
        ("u1", "short", "demo-bank", "partner", InvalidInputError, "at least"),
        ("", PASSWORD, "demo-bank", "partner", InvalidInputError, "1 to 100"),
        ("banker", PASSWORD, "demo-bank", "partner", ConflictError, "taken"),
    ],
)
def test_bad_users_are_refused_precisely(
    env: Env,
    username: str,
    password: str,
    org: str | None,
    role: str,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        env.portal.admin.create_user(username, password, org=org, role=role)


def test_no_user_joins_a_suspended_organization(env: Env) -> None:
    env.portal.admin.suspend_organization("demo-bank")
    with pytest.raises(InvalidTransitionError, match="suspended"):
        env.portal.admin.create_user("late", PASSWORD, org="demo-bank")


def test_a_disabled_user_cannot_sign_in_or_refresh_and_their_tokens_are_revoked(env: Env) -> None:
    admin = env.portal.admin
    _, tokens = _signed_in_tokens(env, "banker")
    disabled = admin.disable_user("banker")
    assert disabled.disabled and [u.disabled for u in admin.list_users(org="demo-bank")] == [True]
    assert _jti(tokens["access_token"]) in _feed(env)
    status, refreshed = _refresh(env.client(), env, tokens["refresh_token"])
    assert status == 400 and refreshed["error"] == "invalid_grant"
    code, page = _login(env.client(), "banker")
    assert code == 401 and "this account is disabled" in page
    with pytest.raises(AuthenticationError, match="wrong username or password"):
        admin.authenticate("banker", "not the password")  # state shown only with the password
    assert admin.get_user(env.partner.id) is None
    events = _events(env)
    (event,) = [e for e in events if e["kind"] == "user_disabled"]
    assert event == {"kind": "user_disabled", "at": event["at"], "user_id": env.partner.id} | {
        "by_user_id": None
    }
    assert "banker" not in json.dumps(events)  # never a username in the log


def test_disabling_is_refused_precisely(env: Env) -> None:
    admin = env.portal.admin
    with pytest.raises(UnknownUserError, match="no user has the username 'nobody'"):
        admin.disable_user("nobody")
    with pytest.raises(PermissionDeniedError):
        admin.disable_user("steward", by=env.partner)
    with pytest.raises(InvalidTransitionError, match="their own account"):
        admin.disable_user("steward", by=env.steward)
    admin.disable_user("banker", by=env.steward)
    with pytest.raises(InvalidTransitionError, match="already disabled"):
        admin.disable_user("banker")
