"""The steward's organization and user pages (issue 14): what the CLI's `portal org` and
`portal user` do, through the real portal, each change a portal-log event, each refusal its
HTTP status, no password anywhere but the form."""

from __future__ import annotations

import json

from flask.testing import FlaskClient

from portal._account_pages import KIND_WORDS
from portal._orgs import PARTNER_KINDS
from tests.integration.portal.conftest import PASSWORD, Env, csrf_of, sign_in

NEW_PASSWORD = "a brand new passphrase"


def _steward(env: Env, path: str = "/steward/organizations") -> tuple[FlaskClient, str]:
    client = env.client()
    sign_in(client, "steward")
    page = client.get(path)
    assert page.status_code == 200
    return client, page.get_data(as_text=True)


def _kinds(env: Env) -> list[str]:
    return [json.loads(e.leaf)["kind"] for e in env.portal.export_log().entries]


def test_the_form_offers_exactly_the_partner_kinds() -> None:
    assert set(KIND_WORDS) == PARTNER_KINDS


def test_steward_creates_suspends_and_resumes_an_organization(env: Env) -> None:
    client, page = _steward(env)
    assert 'data-org="demo-bank"' in page
    created = client.post(
        "/steward/organizations",
        data={"csrf_token": csrf_of(page), "name": "Acme Health Office", "kind": "PUBLIC_BODY"},
    )
    assert created.status_code == 302
    page = client.get("/steward/organizations").get_data(as_text=True)
    assert "its slug is acme-health-office" in page and 'data-org="acme-health-office"' in page
    org = env.portal.admin.get_organization("acme-health-office")
    assert org.kind == "PUBLIC_BODY" and org.status == "ACTIVE"

    suspended = client.post(
        "/steward/organizations/demo-bank/suspend", data={"csrf_token": csrf_of(page)}
    )
    assert suspended.status_code == 302
    assert env.portal.admin.get_organization("demo-bank").status == "SUSPENDED"
    partner = env.client()
    login = partner.get("/login").get_data(as_text=True)
    refused = partner.post(
        "/login", data={"username": "banker", "password": PASSWORD, "csrf_token": csrf_of(login)}
    )
    assert refused.status_code == 401  # its users cannot sign in
    page = client.get("/steward/organizations").get_data(as_text=True)
    assert "Resume" in page
    resumed = client.post(
        "/steward/organizations/demo-bank/resume", data={"csrf_token": csrf_of(page)}
    )
    assert resumed.status_code == 302
    assert env.portal.admin.get_organization("demo-bank").status == "ACTIVE"
    leaves = [json.loads(e.leaf) for e in env.portal.export_log().entries]
    changes = [leaf for leaf in leaves if leaf["kind"] == "organization_status_changed"]
    assert [c["status"] for c in changes] == ["SUSPENDED", "ACTIVE"]
    assert all(c["by_user_id"] == env.steward.id for c in changes)


def test_organization_refusals_keep_their_status(env: Env) -> None:
    client, page = _steward(env)
    token = csrf_of(page)
    cases = [
        ({"name": "", "kind": "BANK"}, 400, "needs a name"),
        ({"name": "X Bank", "kind": "STEWARD"}, 400, "kind must be"),
        ({"name": "X Bank", "kind": "BANK", "slug": "Not A Slug"}, 400, "the slug must be"),
        ({"name": "Demo Bank", "kind": "BANK"}, 409, "with this name exists"),
        (
            {"name": "Other Bank", "kind": "BANK", "slug": "demo-bank"},
            409,
            "slug &#39;demo-bank&#39; exists",
        ),
    ]
    for form, status, words in cases:
        answer = client.post("/steward/organizations", data={"csrf_token": token, **form})
        assert answer.status_code == status, form
        assert words in answer.get_data(as_text=True)
        assert 'href="/steward/organizations">Back' in answer.get_data(as_text=True)
    steward_org = env.steward.org_slug
    for path, status in (
        ("/steward/organizations/no-such-org/suspend", 404),
        ("/steward/organizations/demo-bank/resume", 409),  # not suspended
        (f"/steward/organizations/{steward_org}/suspend", 409),  # the stewards' own
    ):
        assert client.post(path, data={"csrf_token": token}).status_code == status, path
    assert "organization_status_changed" not in _kinds(env)


def test_steward_creates_lists_and_disables_users(env: Env) -> None:
    client, page = _steward(env, "/steward/users")
    assert 'data-user="banker"' in page and 'data-user="steward"' in page
    created = client.post(
        "/steward/users",
        data={
            "csrf_token": csrf_of(page),
            "username": "loans-officer",
            "role": "PARTNER",
            "org": "demo-bank",
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert created.status_code == 302
    page = client.get("/steward/users?org=demo-bank").get_data(as_text=True)
    assert 'data-user="loans-officer"' in page and 'data-user="steward"' not in page
    assert NEW_PASSWORD not in page
    officer = env.client()
    sign_in(officer, "loans-officer", NEW_PASSWORD)
    assert officer.get("/partner").status_code == 200

    second = client.post(
        "/steward/users",
        data={
            "csrf_token": csrf_of(page),
            "username": "second-steward",
            "role": "STEWARD",
            "org": "demo-bank",  # ignored: a steward is of the stewards' organization
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert second.status_code == 302
    made = next(u for u in env.portal.admin.list_users() if u.username == "second-steward")
    assert made.role == "STEWARD" and made.org_slug == env.steward.org_slug

    disabled = client.post(
        "/steward/users/disable", data={"csrf_token": csrf_of(page), "username": "loans-officer"}
    )
    assert disabled.status_code == 302
    assert officer.get("/partner").status_code == 302  # the session ended: back to sign-in
    page = client.get("/steward/users").get_data(as_text=True)
    assert "Disabled loans-officer" in page
    kinds = _kinds(env)
    assert "user_created" in kinds and "user_disabled" in kinds
    blob = b"".join(e.leaf for e in env.portal.export_log().entries)
    assert NEW_PASSWORD.encode() not in blob and b"loans-officer" not in blob


def test_user_refusals_keep_their_status_and_never_echo_the_password(env: Env) -> None:
    client, page = _steward(env, "/steward/users")
    token = csrf_of(page)
    base = {"username": "newbie", "role": "PARTNER", "org": "demo-bank"}
    cases = [
        ({**base, "password": NEW_PASSWORD, "confirm": "something else"}, 400, "differ"),
        ({**base, "password": "short", "confirm": "short"}, 400, "password"),
        (
            {**base, "org": "no-such-org", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
            404,
            "no-such-org",
        ),
        (
            {**base, "username": "banker", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
            409,
            "taken",
        ),
        ({**base, "role": "ADMIN", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, 400, "role"),
    ]
    for form, status, words in cases:
        answer = client.post("/steward/users", data={"csrf_token": token, **form})
        text = answer.get_data(as_text=True)
        assert answer.status_code == status, form
        assert words in text and NEW_PASSWORD not in text and "something else" not in text
    for username, status in (("nobody", 404), ("steward", 409)):  # unknown; one's own account
        answer = client.post(
            "/steward/users/disable", data={"csrf_token": token, "username": username}
        )
        assert answer.status_code == status, username
    assert client.get("/steward/users?org=no-such-org").status_code == 404
    assert "newbie" not in {u.username for u in env.portal.admin.list_users()}


def test_partners_are_refused_and_anonymous_visits_sent_to_sign_in(env: Env) -> None:
    partner = env.client()
    sign_in(partner, "banker")
    token = csrf_of(partner.get("/partner").get_data(as_text=True))
    for path in ("/steward/organizations", "/steward/users"):
        assert partner.get(path).status_code == 403
        away = env.client().get(path)
        assert away.status_code == 302 and away.headers["Location"] == f"/login?next={path}"
    posts = [
        ("/steward/organizations", {"name": "Mine", "kind": "BANK"}),
        ("/steward/organizations/demo-bank/suspend", {}),
        ("/steward/users/disable", {"username": "steward"}),
        (
            "/steward/users",
            {
                "username": "x1",
                "org": "demo-bank",
                "password": NEW_PASSWORD,
                "confirm": NEW_PASSWORD,
            },
        ),
    ]
    for path, form in posts:
        assert partner.post(path, data={"csrf_token": token, **form}).status_code == 403, path
    assert env.portal.admin.get_organization("demo-bank").status == "ACTIVE"
    assert len(env.portal.admin.list_organizations()) == 2
