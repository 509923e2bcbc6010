"""The steward's review page (issue 14): what each grant means, who asked and when, the
organization's kind and other apps; grants not built refused; grants changed after approval,
logged with before and after; a visit without a session sent to sign-in."""

from __future__ import annotations

import dataclasses
import json
import re

from flask.testing import FlaskClient
from markupsafe import escape

from portal import PortalAdmin, create_app
from portal._catalog import CATALOG, Catalog
from tests.integration.portal.conftest import PASSWORD, Env, csrf_of, sign_in


def _steward(env: Env) -> tuple[FlaskClient, str]:
    client = env.client()
    sign_in(client, "steward")
    page = client.get("/steward")
    assert page.status_code == 200
    return client, page.get_data(as_text=True)


def _leaves(env: Env, kind: str) -> list[dict[str, object]]:
    leaves = [json.loads(e.leaf) for e in env.portal.export_log().entries]
    return [leaf for leaf in leaves if leaf["kind"] == kind]


def _review_of(page: str, name: str) -> str:
    match = re.search(rf'<article class="review" data-app="{name}">(.*?)</article>', page, re.S)
    assert match, f"no review of {name}"
    return match.group(1)


def test_review_explains_each_grant_and_says_who_asked_when_and_the_others(env: Env) -> None:
    first = env.portal.admin.register_app(
        env.partner, "Old desk", ["audit:read"], ["RESEARCH"], "receipts"
    )
    env.portal.admin.approve(env.steward, first.client_id)
    env.portal.admin.register_app(
        env.partner,
        "Loan desk",
        ["identity:verify", "compute:score"],
        ["LOAN_ORIGINATION"],
        "verify loan applicants",
    )
    _, page = _steward(env)
    review = _review_of(page, "Loan desk")
    assert 'class="requested-by">banker<' in review
    asked = env.portal.admin.app_reviews(status="PENDING")[0].asked_at
    assert f"{asked:%Y-%m-%d %H:%M} UTC" in review
    assert ">bank</span>" in review  # the organization's kind
    assert "organization suspended" not in review
    assert 'data-other="Old desk"' in review and "approved" in review
    for value in ("identity:verify", "compute:score", "LOAN_ORIGINATION"):
        entry = CATALOG.scope(value) or CATALOG.purpose(value)
        assert entry is not None and escape(entry.sentence) in review
    run = CATALOG.scope("query:run")
    assert run is not None and escape(run.sentence) not in review  # only what was asked for
    assert 'id="catalog"' in page and escape(run.sentence) in page
    env.portal.admin.suspend_organization("demo-bank")
    _, page = _steward(env)
    assert "organization suspended" in _review_of(page, "Loan desk")


def _with_catalog(env: Env, catalog: Catalog) -> Env:
    """The same portal state behind an app whose admin has ``catalog``."""
    admin = PortalAdmin(
        env.portal.store, env.portal.log, env.portal.config, env.clock, catalog=catalog
    )
    portal = dataclasses.replace(env.portal, admin=admin)
    return dataclasses.replace(env, portal=portal, app=create_app(portal.config, portal=portal))


def test_a_feature_not_built_is_shown_as_such_and_refused_at_post(env: Env) -> None:
    app = env.portal.admin.register_app(
        env.partner, "Scorer", ["compute:score", "audit:read"], ["LOAN_ORIGINATION"], "scores"
    )
    unbuilt = tuple(
        dataclasses.replace(e, built=False) if e.value == "compute:score" else e
        for e in CATALOG.scopes
    )
    env = _with_catalog(env, Catalog(unbuilt, CATALOG.purposes))
    client, page = _steward(env)
    review = _review_of(page, "Scorer")
    box = re.search(r'<input type="checkbox" name="scopes" value="compute:score"[^>]*>', review)
    assert box and "disabled" in box.group(0) and "checked" not in box.group(0)
    assert "not built yet: cannot be granted" in review
    refused = client.post(
        f"/steward/apps/{app.client_id}/approve",
        data={
            "csrf_token": csrf_of(page),
            "scopes": ["compute:score", "audit:read"],
            "purposes": ["LOAN_ORIGINATION"],
        },
    )
    assert refused.status_code == 400
    assert "compute:score is not built yet" in refused.get_data(as_text=True)
    assert env.portal.admin.get_app(app.client_id).status == "PENDING"
    ok = client.post(
        f"/steward/apps/{app.client_id}/approve",
        data={
            "csrf_token": csrf_of(page),
            "scopes": ["audit:read"],
            "purposes": ["LOAN_ORIGINATION"],
        },
    )
    assert ok.status_code == 302
    assert env.portal.admin.get_app(app.client_id).granted_scopes == ("audit:read",)
    partner = env.client()
    sign_in(partner, "banker")
    registered = partner.post(
        "/partner/apps",
        data={
            "csrf_token": csrf_of(partner.get("/partner").get_data(as_text=True)),
            "name": "Another",
            "scopes": ["compute:score"],
            "purposes": ["LOAN_ORIGINATION"],
            "justification": "why",
        },
    )
    assert registered.status_code == 400
    assert len(env.portal.admin.list_apps(organization_id=env.partner.organization_id)) == 1


def _token(env: Env, client_id: str, secret: str) -> str:
    response = env.client().post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    token: str = response.get_json()["access_token"]
    return token


def _revoked_jtis(env: Env) -> int:
    return len(_leaves(env, "token_revoked"))


def test_grants_narrowed_then_widened_are_logged_with_before_and_after(env: Env) -> None:
    creds = env.approved_app(["eligibility:check", "identity:verify"])
    _token(env, creds.client_id, creds.client_secret)
    client, page = _steward(env)
    assert f'data-change="{env.portal.admin.get_app(creds.client_id).name}"' in page
    url = f"/steward/apps/{creds.client_id}/grants"
    narrowed = client.post(
        url,
        data={
            "csrf_token": csrf_of(page),
            "scopes": ["identity:verify"],
            "purposes": ["LOAN_ORIGINATION"],
        },
    )
    assert narrowed.status_code == 302
    assert "grants narrowed" in client.get("/steward").get_data(as_text=True)
    assert env.portal.admin.get_app(creds.client_id).granted_scopes == ("identity:verify",)
    (change,) = _leaves(env, "grants_changed")
    assert change["scopes_before"] == ["eligibility:check", "identity:verify"]
    assert change["scopes_after"] == ["identity:verify"]
    assert change["purposes_before"] == change["purposes_after"] == ["LOAN_ORIGINATION"]
    assert change["by_user_id"] == env.steward.id and change["client_id"] == creds.client_id
    revoked = [
        leaf for leaf in _leaves(env, "token_revoked") if leaf["reason"] == "grants_narrowed"
    ]
    assert len(revoked) == 1  # the live token carried the wider grant
    scope = (
        env.client()
        .post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(creds.client_id, creds.client_secret),
        )
        .get_json()["scope"]
    )
    assert scope == "identity:verify"

    before = _revoked_jtis(env)
    widened = client.post(
        url,
        data={
            "csrf_token": csrf_of(page),
            "scopes": ["eligibility:check", "identity:verify"],
            "purposes": ["LOAN_ORIGINATION"],
        },
    )
    assert widened.status_code == 302
    assert "grants widened" in client.get("/steward").get_data(as_text=True)
    assert _revoked_jtis(env) == before  # a wider grant needs no revocation
    latest = _leaves(env, "grants_changed")[-1]
    assert latest["scopes_before"] == ["identity:verify"]
    assert latest["scopes_after"] == ["eligibility:check", "identity:verify"]

    same = client.post(
        url,
        data={
            "csrf_token": csrf_of(page),
            "scopes": ["eligibility:check", "identity:verify"],
            "purposes": ["LOAN_ORIGINATION"],
        },
    )
    assert same.status_code == 302 and len(_leaves(env, "grants_changed")) == 2
    assert "nothing changed" in client.get("/steward").get_data(as_text=True)


def test_grant_changes_are_refused_beyond_the_request_or_the_status(env: Env) -> None:
    creds = env.approved_app(["identity:verify"])
    pending = env.portal.admin.register_app(
        env.partner, "Waiting", ["audit:read"], ["RESEARCH"], "why"
    )
    client, page = _steward(env)
    token = csrf_of(page)
    cases = [
        (
            creds.client_id,
            ["identity:verify", "query:run"],
            ["LOAN_ORIGINATION"],
            400,
            "only scopes the app requested",
        ),
        (
            creds.client_id,
            ["identity:verify"],
            ["RESEARCH"],
            400,
            "only purposes the app requested",
        ),
        (creds.client_id, [], ["LOAN_ORIGINATION"], 400, "choose at least one scope"),
        (
            creds.client_id,
            ["steward:admin"],
            ["LOAN_ORIGINATION"],
            400,
            "scope partners cannot have",
        ),
        (pending.client_id, ["audit:read"], ["RESEARCH"], 409, "only an approved or suspended app"),
        ("cl_nosuchapp", ["audit:read"], ["RESEARCH"], 404, "no such app"),
    ]
    for client_id, scopes, purposes, status, words in cases:
        answer = client.post(
            f"/steward/apps/{client_id}/grants",
            data={"csrf_token": token, "scopes": scopes, "purposes": purposes},
        )
        assert answer.status_code == status, (client_id, scopes, purposes)
        assert words in answer.get_data(as_text=True)
    assert _leaves(env, "grants_changed") == []
    partner = env.client()
    sign_in(partner, "banker")
    answer = partner.post(
        f"/steward/apps/{creds.client_id}/grants",
        data={
            "csrf_token": csrf_of(partner.get("/partner").get_data(as_text=True)),
            "scopes": ["identity:verify"],
            "purposes": ["LOAN_ORIGINATION"],
        },
    )
    assert answer.status_code == 403


def test_a_visit_without_a_session_is_sent_to_sign_in_and_back(env: Env) -> None:
    client = env.client()
    for path in ("/steward", "/partner", "/steward/policy", "/steward/queries?page=abc"):
        answer = client.get(path)
        assert answer.status_code == 302, path
        location = answer.headers["Location"]
        assert location.startswith("/login?next=")
    answer = client.get("/steward/queries?page=abc")
    assert answer.headers["Location"] == "/login?next=/steward/queries?page%3Dabc"
    login = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'name="next" value="/steward/queries?page=abc"' in login
    back = client.post(
        "/login",
        data={
            "username": "steward",
            "password": PASSWORD,
            "csrf_token": csrf_of(login),
            "next": "/steward",
        },
    )
    assert back.status_code == 302 and back.headers["Location"] == "/steward"
    partner = env.client()
    sign_in(partner, "banker")
    assert partner.get("/steward").status_code == 403  # signed in, wrong role: no redirect
