"""Browser (issue 14): the partner's credentials page at a phone's width (390 px). Debian's
chromium as a phone: "How to connect" from the app list, "Get credentials" shows the secret
once beside the token URL, gRPC target, zone key and snippet, everything fits the screen
(the key line and the snippet wrap), and the public-key form registers a key. Screenshot:
``ARTIFACTS/screenshots/credentials-390.png``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dataward.transparency import verifier_key
from portal import PortalConfig, PortalServer, serve, write_zone_target
from tests.support.chromium import ARGS, CHROMIUM

PASSWORD = "correct horse battery"
WIDTH = 390
PHONE: dict[str, Any] = {
    "viewport": {"width": WIDTH, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
ZONE_LINE = verifier_key(
    "dataward-zone-zone-5f2a9c0d1e3b4a67", Ed25519PrivateKey.generate().public_key()
)

pytestmark = pytest.mark.browser

_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = document.documentElement.scrollWidth > width;
  const out = [...document.querySelectorAll('button, input, select, textarea, a, label, pre, code')]
    .filter(e => e.offsetParent !== null && e.type !== 'hidden')
    .filter(e => {
      const r = e.getBoundingClientRect();
      return r.left < -1 || r.right > width + 1;
    })
    .map(e => e.outerHTML.slice(0, 80));
  return {wide, width, out};
}"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PortalServer]:
    running = serve(
        PortalConfig(state_dir=tmp_path / "portal", bind="127.0.0.1:0", cookie_secure=False)
    )
    admin = running.portal.admin
    steward = admin.create_steward("steward", PASSWORD)
    org = admin.create_organization("Demo Bank of the Northern Provinces", "BANK")
    partner = admin.create_partner_user(org, "banker", PASSWORD)
    app = admin.register_app(
        partner, "Loan desk", ["eligibility:check"], ["LOAN_ORIGINATION"], "loan applicants"
    )
    admin.approve(steward, app.client_id)
    write_zone_target(running.portal.config.state_dir, "zone.example:50051", None, ZONE_LINE)
    running.start_in_thread()
    yield running
    running.shutdown()


def _fits(page: Any, what: str) -> None:
    got = page.evaluate(_OVERFLOW)
    assert got["width"] == WIDTH, got
    assert not got["wide"] and not got["out"], f"{what} does not fit {WIDTH} px: {got}"


def test_the_credentials_page_works_on_a_phone(server: PortalServer, artifacts_dir: Path) -> None:
    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make chromium` (as root)"
    from playwright.sync_api import expect, sync_playwright

    shots = artifacts_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    public = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_context(**PHONE).new_page()
            page.goto(f"{server.url}/login")
            page.fill("input[name=username]", "banker")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.locator("tr[data-app='Loan desk'] a.connect").click()
            expect(page.locator("#grpc-target")).to_have_text("zone.example:50051")
            expect(page.locator("#zone-public-key")).to_have_text(ZONE_LINE)
            _fits(page, "the credentials page")
            page.locator("button", has_text="Get credentials").click()
            secret = page.locator("#client-secret").inner_text()
            assert len(secret) >= 40
            expect(page.locator("#token-url")).to_have_text(f"{server.url}/oauth/token")
            expect(page.locator("#snippet")).to_contain_text("Client.from_issuer")
            assert secret not in page.locator("#snippet").inner_text()
            _fits(page, "the credentials page with the secret")
            page.screenshot(path=str(shots / "credentials-390.png"), full_page=True)

            page.fill("textarea[name=public_key]", public)
            page.click("text=Register public key")
            expect(page.locator(".notice")).to_contain_text("Registered the public key")
            expect(page.locator("#auth-method")).to_contain_text("private_key_jwt")
            expect(page.locator("#snippet")).to_contain_text("private_key=")
            _fits(page, "the credentials page with a key")
        finally:
            browser.close()
