"""The steward's read-only policy page over HTTP from the real portal (issue 10).

`dataward serve`'s real stack: the portal in its own process, the zone's gRPC API, the zone's
policy store. The page reads StewardService.GetPolicy with a token the portal mints for the
signed-in steward; the zone verifies it against the portal's JWKS and logs the read under it.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from enclave.audit import RequestReceived
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from enclave.release import Caller
from launcher._wiring import Serving, start_serving
from launcher.settings import Secret, load_settings
from policies import default_policy_text
from portal import Portal, PortalConfig, create_app
from tests.support.zone_source import make_source

MASTER = b"portal-policy-page-master-key-012345"
PASSWORD = "correct horse battery staple 1"
EVIL = "<script>alert(1)</script>"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Serving]:
    zone_dir = tmp_path / "zone"
    init_zone(zone_dir, MASTER)
    ingest(zone_dir, make_source(12).write(tmp_path / "src"), open_keyring(zone_dir, MASTER))
    settings = load_settings(
        overrides={
            "zone": {"dir": zone_dir},
            "portal": {"bind": "127.0.0.1:0", "cookie_secure": False},
            "grpc": {"bind": "127.0.0.1:0"},
            "audit": {"sqlite_synchronous": "NORMAL"},
        },
        environ={},
    )
    settings = dataclasses.replace(
        settings, zone=dataclasses.replace(settings.zone, master_key=Secret(MASTER))
    )
    serving = start_serving(settings)
    try:
        yield serving
    finally:
        serving.stop()


def _signed_in(serving: Serving, username: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{serving.portal_url}/login", timeout=10)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    done = session.post(
        f"{serving.portal_url}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": match.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    assert done.status_code == 302, done.text
    return session


def test_the_steward_sees_the_policy_in_force_its_views_grants_and_history(
    served: Serving,
) -> None:
    served.admin.create_steward("steward", PASSWORD)
    session = _signed_in(served, "steward")
    empty = session.get(f"{served.portal_url}/steward/policy", timeout=30)
    assert empty.status_code == 200, empty.text
    assert "No policy applied: every query is refused." in empty.text

    document = default_policy_text().replace(
        "organization: demo-insurer", f'organization: "{EVIL}"', 1
    )
    applied = served.core.policies.apply(document, Caller("cli", "operator"), "p.yaml")
    page = session.get(f"{served.portal_url}/steward/policy", timeout=30)
    assert page.status_code == 200, page.text
    body = page.text
    assert f'<code class="version">{applied.version}</code>' in body
    assert applied.applied_at.strftime("%Y-%m-%d %H:%M:%S") in body
    assert "cli of operator (#1)" in body
    assert '<tr data-view="claims_analysis">' in body and "exact" in body
    assert "enrolment_analysis" in body
    # every value from the zone is escaped (Jinja autoescape): a grant's organization too
    assert EVIL not in body and html.escape(EVIL, quote=False) in body
    assert body.count(applied.version) >= 2  # in force, and the history's one row
    # linked from the steward page
    assert "/steward/policy" in session.get(f"{served.portal_url}/steward", timeout=10).text
    # the zone logged each read, under the portal's steward-pages client: no shared credential
    reads = [
        e.event
        for e in served.core.audit.tail(served.core.audit.size)
        if isinstance(e.event, RequestReceived) and e.event.method == "StewardService/GetPolicy"
    ]
    assert len(reads) == 2
    client = served.admin.steward_pages_client()
    assert {r.client_id for r in reads} == {client}


def test_only_stewards_see_the_page(served: Serving) -> None:
    admin = served.admin
    org = admin.create_organization("Acme Insurance", "INSURER")
    admin.create_partner_user(org, "acme", PASSWORD)
    anonymous = requests.get(
        f"{served.portal_url}/steward/policy", allow_redirects=False, timeout=10
    )
    assert anonymous.status_code == 302  # to sign-in (issue 14)
    partner = _signed_in(served, "acme")
    assert partner.get(f"{served.portal_url}/steward/policy", timeout=10).status_code == 403


def test_a_portal_without_a_serving_zone_says_so(tmp_path: Path) -> None:
    config = PortalConfig(state_dir=tmp_path / "portal", cookie_secure=False)
    portal = Portal.open(config)
    try:
        portal.admin.create_steward("steward", PASSWORD)
        client = create_app(config, portal=portal).test_client()
        page = client.get("/login").get_data(as_text=True)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match
        client.post(
            "/login",
            data={"username": "steward", "password": PASSWORD, "csrf_token": match.group(1)},
        )
        answer = client.get("/steward/policy")
        assert answer.status_code == 503
        assert "not reachable" in answer.get_data(as_text=True)
        assert "Traceback" not in answer.get_data(as_text=True)
    finally:
        portal.close()
