"""The steward's audit pages over HTTP from `dataward serve`'s real stack (issue 14).

The portal in its own process reads the zone's log from the zone's AuditService with a token
it mints for the signed-in steward (steward:admin audit:read); the zone verifies it against
the portal's JWKS. One stack for the module: a partner app registered, approved and calling
the zone once (refused: no consent), then the pages read as steward, partner and nobody.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import pytest
import requests

from dataward.client import Client, ClientCredentialsTokenSource, ConsentRequired
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from launcher._wiring import Serving, start_serving
from launcher.settings import Secret, load_settings
from tests.support.zone_source import make_source

MASTER = b"portal-audit-pages-master-key-0123456"
PASSWORD = "correct horse battery staple 1"
UW = "INSURANCE_UNDERWRITING"
EVIL = "<script>alert(1)</script>"


@dataclasses.dataclass(frozen=True)
class World:
    serving: Serving
    client_id: str
    org_slug: str
    org_id: int

    @property
    def url(self) -> str:
        return self.serving.portal_url


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("audit-pages")
    zone_dir = tmp / "zone"
    source = make_source(12)
    init_zone(zone_dir, MASTER)
    ingest(zone_dir, source.write(tmp / "src"), open_keyring(zone_dir, MASTER))
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
        admin = serving.admin
        org = admin.create_organization("Acme Insurance", "INSURER")
        steward = admin.create_steward("steward", PASSWORD)
        partner = admin.create_partner_user(org, "acme", PASSWORD)
        app = admin.register_app(partner, EVIL, ["eligibility:check"], [UW], "pricing")
        creds = admin.approve_app(steward, app.client_id)
        tokens = ClientCredentialsTokenSource(
            f"{serving.portal_url}/oauth/token",
            creds.client_id,
            creds.client_secret,
            "eligibility:check",
        )
        person = source.column("persons", "id_number")[0]
        with (
            Client(f"127.0.0.1:{serving.api.port}", tokens) as client,
            pytest.raises(ConsentRequired),
        ):
            client.check_eligibility(person, "OUTPATIENT", UW)
        yield World(serving, creds.client_id, org.slug, org.id)
    finally:
        serving.stop()


def signed_in(world: World, username: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{world.url}/login", timeout=10)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    done = session.post(
        f"{world.url}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": match.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    assert done.status_code == 302, done.text
    return session


def rows(page: str, client_id: str) -> list[str]:
    return re.findall(
        rf'<tr data-kind="request_received" data-client="{client_id}".*?</tr>', page, re.S
    )


def test_the_steward_sees_the_partners_call_with_its_decision(world: World) -> None:
    page = signed_in(world, "steward").get(f"{world.url}/steward/audit", timeout=30)
    assert page.status_code == 200, page.text
    (row,) = rows(page.text, world.client_id)
    assert "EligibilityService/Check" in row and "insurance_underwriting" in row
    assert 'class="decision deny"' in row and "CONSENT_REQUIRED" in row
    assert "Acme Insurance" in row and "about a person" in row
    # The partner's app name is shown escaped, never as markup.
    assert EVIL not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in row


def test_filters_by_organization_app_method_and_date(world: World) -> None:
    steward = signed_in(world, "steward")

    def found(**args: str) -> int:
        page = steward.get(f"{world.url}/steward/audit", params=args, timeout=30)
        assert page.status_code == 200, page.text
        return len(rows(page.text, world.client_id))

    first = steward.get(f"{world.url}/steward/audit", timeout=30).text
    (org,) = set(re.findall(rf'data-client="{world.client_id}" data-org="([^"]+)"', first))
    assert org == world.org_slug  # the token's org claim
    assert found(org=org) == 1
    assert found(app=world.client_id, method="EligibilityService/Check") == 1
    assert found(method="IdentityService/Verify") == 0
    assert found(org="someone-else") == 0
    assert found(**{"from": "2999-01-01"}) == 0
    assert found(**{"from": "2000-01-01", "to": "2999-12-31"}) == 1
    # A page token reads below its leaf: the page below the next leaf holds the call, and
    # it is the log's last page (no link to older entries).
    (leaf,) = re.findall(
        rf'data-client="{world.client_id}" data-org="[^"]+" data-leaf="(\d+)"', first
    )
    below = steward.get(
        f"{world.url}/steward/audit", params={"page": str(int(leaf) + 1)}, timeout=30
    )
    assert len(rows(below.text, world.client_id)) == 1 and 'id="older"' not in below.text


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"from": "yesterday"}, "from"),
        ({"org": "a b"}, "organization"),
        ({"page": "not-a-token"}, "page_token"),
        ({"from": "2026-02-02", "to": "2026-01-01"}, "to_time"),
    ],
)
def test_a_filter_out_of_its_format_is_400_naming_it(
    world: World, args: dict[str, str], named: str
) -> None:
    page = signed_in(world, "steward").get(f"{world.url}/steward/audit", params=args, timeout=30)
    assert page.status_code == 400, page.text
    assert named in page.text


def test_the_portal_log_shows_the_apps_lifecycle_newest_first(world: World) -> None:
    steward = signed_in(world, "steward")
    page = steward.get(f"{world.url}/steward/audit/portal", timeout=30)
    assert page.status_code == 200, page.text
    kinds = re.findall(r'<tr data-kind="([a-z_]+)">', page.text)
    assert {"app_registered", "app_decided", "token_issued", "sign_in"} <= set(kinds)
    assert kinds[0] == "sign_in"  # this very sign-in is the newest leaf... or a token after it
    only = steward.get(
        f"{world.url}/steward/audit/portal", params={"kind": "app_decided"}, timeout=30
    )
    assert set(re.findall(r'<tr data-kind="([a-z_]+)">', only.text)) == {"app_decided"}
    bad = steward.get(f"{world.url}/steward/audit/portal", params={"before": "x"}, timeout=30)
    assert bad.status_code == 400


def test_usage_shows_calls_per_day_and_refusals_by_reason(world: World) -> None:
    page = signed_in(world, "steward").get(f"{world.url}/steward/usage", timeout=30)
    assert page.status_code == 200, page.text
    (app,) = re.findall(
        rf'<article class="review" data-client="{world.client_id}">.*?</article>', page.text, re.S
    )
    assert '<span class="calls">1</span> calls, <span class="refused">1</span> refused' in app
    assert "CONSENT_REQUIRED" in app
    bad = signed_in(world, "steward").get(
        f"{world.url}/steward/usage", params={"from": "2020-01-01", "to": "2026-01-01"}, timeout=30
    )
    assert bad.status_code == 400 and "from_time" in bad.text


@pytest.mark.parametrize("path", ["/steward/audit", "/steward/audit/portal", "/steward/usage"])
def test_only_a_steward_sees_them(world: World, path: str) -> None:
    nobody = requests.get(f"{world.url}{path}", allow_redirects=False, timeout=10)
    assert nobody.status_code == 302
    assert nobody.headers["Location"].startswith("/login?next=") and "data-kind" not in nobody.text
    partner = signed_in(world, "acme").get(f"{world.url}{path}", allow_redirects=False, timeout=10)
    assert partner.status_code == 403 and "data-kind" not in partner.text
