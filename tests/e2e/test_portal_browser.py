"""Browser: a partner registers an app, a steward approves it, the partner sees the
credentials once. Drives Debian's chromium (never `playwright install`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portal import PortalConfig, PortalServer, serve
from tests.support.chromium import ARGS, CHROMIUM

PASSWORD = "correct horse battery"

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PortalServer]:
    running = serve(
        PortalConfig(state_dir=tmp_path / "portal", bind="127.0.0.1:0", cookie_secure=False)
    )
    admin = running.portal.admin
    admin.create_steward("steward", PASSWORD)
    org = admin.create_organization("Demo Bank", "BANK")
    admin.create_partner_user(org, "banker", PASSWORD)
    running.start_in_thread()
    yield running
    running.shutdown()


def test_register_approve_and_see_credentials_once(server: PortalServer, tmp_path: Path) -> None:
    # `make test` installs it; a missing browser is a broken setup, never a skip.
    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make chromium` (as root)"
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            partner = browser.new_context().new_page()
            partner.goto(f"{server.url}/login")
            partner.fill("input[name=username]", "banker")
            partner.fill("input[name=password]", PASSWORD)
            partner.click("button[type=submit]")
            expect(partner.locator("h1")).to_have_text("My organization's apps")
            partner.fill("input[name=name]", "Loan desk")
            partner.check("input[value='identity:verify']")
            partner.check("input[value='eligibility:check']")
            partner.check("input[value='LOAN_ORIGINATION']")
            partner.fill("textarea[name=justification]", "Verify outpatient-loan applicants")
            partner.click("text=Submit for review")
            expect(partner.locator("tr[data-app='Loan desk'] .status")).to_have_text("pending")

            steward = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
            steward.goto(f"{server.url}/login")
            steward.fill("input[name=username]", "steward")
            steward.fill("input[name=password]", PASSWORD)
            steward.click("button[type=submit]")
            review = steward.locator("article[data-app='Loan desk']")
            expect(review).to_contain_text("Verify outpatient-loan applicants")
            review.locator("input[value='eligibility:check']").uncheck()  # grant fewer
            steward.screenshot(path=str(tmp_path / "steward.png"), full_page=True)
            review.locator("button", has_text="Approve").click()
            row = steward.locator("tr[data-app='Loan desk']")
            expect(row.locator(".status")).to_have_text("approved")
            expect(row).not_to_contain_text("eligibility:check")

            partner.reload()
            partner.locator("tr[data-app='Loan desk'] button", has_text="Get credentials").click()
            secret = partner.locator("#client-secret").inner_text()
            assert len(secret) >= 40
            partner.goto(f"{server.url}/partner")  # a fresh load: the secret is gone
            expect(partner.locator("#client-secret")).to_have_count(0)
            assert secret not in partner.content()
            expect(partner.locator("tr[data-app='Loan desk'] button")).to_have_text("Rotate secret")
        finally:
            browser.close()
