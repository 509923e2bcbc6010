"""Browser (issue 14): the portal's pages work 390 px wide, a phone's width. Debian's chromium
(never `playwright install`) as a phone: a visit without a session lands on sign-in and comes
back; every page fits the screen (no sideways scrolling, every control inside it); a steward
approves an app with fewer scopes, narrows an approved app's grants and adds an organization,
all at that width."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal import PortalConfig, PortalServer, serve
from tests.support.chromium import ARGS, CHROMIUM

PASSWORD = "correct horse battery"
WIDTH = 390
PHONE: dict[str, Any] = {
    "viewport": {"width": WIDTH, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}

pytestmark = pytest.mark.browser

# Horizontal overflow of the document, and any visible control whose box leaves the screen.
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = document.documentElement.scrollWidth > width;
  const out = [...document.querySelectorAll('button, input, select, textarea, a, label')]
    .filter(e => e.offsetParent !== null && e.type !== 'hidden')
    .filter(e => {
      const r = e.getBoundingClientRect();
      return r.left < -1 || r.right > width + 1;
    })
    .map(e => e.outerHTML.slice(0, 80));
  return {wide, width, scroll: document.documentElement.scrollWidth, out};
}"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PortalServer]:
    running = serve(
        PortalConfig(state_dir=tmp_path / "portal", bind="127.0.0.1:0", cookie_secure=False)
    )
    admin = running.portal.admin
    steward = admin.create_steward("steward", PASSWORD)
    org = admin.create_organization("Demo Insurance Company of the Northern Provinces", "INSURER")
    partner = admin.create_partner_user(org, "underwriter", PASSWORD)
    old = admin.register_app(
        partner,
        "Pricing desk",
        ["query:submit", "query:run", "audit:read"],
        ["INSURANCE_UNDERWRITING", "RESEARCH"],
        "claims statistics for pricing",
    )
    admin.approve(steward, old.client_id)
    admin.register_app(
        partner,
        "Underwriting eligibility service with a rather long name",
        ["eligibility:check", "identity:verify", "compute:score", "audit:read"],
        ["INSURANCE_UNDERWRITING", "CLAIM_SETTLEMENT", "IDENTITY_VERIFICATION"],
        "Check applicants' coverage before underwriting; settle claims of covered care.",
    )
    running.start_in_thread()
    yield running
    running.shutdown()


def _fits(page: Any, what: str) -> None:
    got = page.evaluate(_OVERFLOW)
    assert got["width"] == WIDTH, got
    assert not got["wide"] and not got["out"], f"{what} does not fit {WIDTH} px: {got}"


def test_every_page_fits_a_phone_and_works_there(server: PortalServer, artifacts_dir: Path) -> None:
    # `make test` installs it; a missing browser is a broken setup, never a skip.
    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make chromium` (as root)"
    from playwright.sync_api import expect, sync_playwright

    shots = artifacts_dir / "screenshots"
    shots.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_context(**PHONE).new_page()
            page.goto(f"{server.url}/steward/organizations")
            expect(page).to_have_url(f"{server.url}/login?next=/steward/organizations")
            _fits(page, "/login")
            page.fill("input[name=username]", "steward")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{server.url}/steward/organizations")  # back where it was
            _fits(page, "/steward/organizations")
            page.fill("input[name=name]", "Provincial Health Office")
            page.select_option("select[name=kind]", "PUBLIC_BODY")
            page.click("text=Add organization")
            expect(page.locator("tr[data-org='provincial-health-office']")).to_contain_text(
                "public body"
            )
            _fits(page, "/steward/organizations after adding")

            page.goto(f"{server.url}/steward")
            _fits(page, "/steward")
            page.screenshot(path=str(shots / "steward-review-390px.png"), full_page=True)
            review = page.locator("article.review").first
            expect(review).to_contain_text("Asked by underwriter")
            expect(review).to_contain_text("Pricing desk")  # the organization's other app
            review.locator("input[value='compute:score']").uncheck()
            review.locator("button", has_text="Approve").click()
            approved = page.locator("tr[data-app^='Underwriting eligibility']")
            expect(approved.locator(".status")).to_have_text("approved")
            expect(approved).not_to_contain_text("compute:score")
            _fits(page, "/steward after approving")

            change = page.locator("tr[data-change='Pricing desk']")
            change.locator("summary").click()
            _fits(page, "/steward with a grants form open")
            change.locator("input[value='query:run']").uncheck()
            change.locator("button", has_text="Save grants").click()
            expect(page.locator(".notice")).to_contain_text("grants narrowed")
            expect(page.locator("tr[data-app='Pricing desk']")).not_to_contain_text("query:run")

            page.goto(f"{server.url}/steward/users")
            _fits(page, "/steward/users")
            page.screenshot(path=str(shots / "steward-users-390px.png"), full_page=True)

            partner = browser.new_context(**PHONE).new_page()
            partner.goto(f"{server.url}/partner")
            expect(partner).to_have_url(f"{server.url}/login?next=/partner")
            partner.fill("input[name=username]", "underwriter")
            partner.fill("input[name=password]", PASSWORD)
            partner.click("button[type=submit]")
            expect(partner.locator("h1")).to_have_text("My organization's apps")
            _fits(partner, "/partner")
        finally:
            browser.close()


def test_the_zone_backed_steward_pages_fit_a_phone(tmp_path: Path) -> None:
    """The pages that read the zone (queries to review, one query, model cards, the policy,
    the zone's and the portal's logs, usage) over the real stack of `dataward serve`."""
    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make chromium` (as root)"
    from playwright.sync_api import expect, sync_playwright

    from tests.support.review_stack import PASSWORD as STACK_PASSWORD
    from tests.support.review_stack import review_stack

    with review_stack(tmp_path) as stack:
        query_id = stack.submit()
        stack.add_steward("phone-steward")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_context(**PHONE).new_page()
                page.goto(f"{stack.url}/steward/queries/{query_id}")
                expect(page).to_have_url(f"{stack.url}/login?next=/steward/queries/{query_id}")
                page.fill("input[name=username]", "phone-steward")
                page.fill("input[name=password]", STACK_PASSWORD)
                page.click("button[type=submit]")
                expect(page.locator("#sql")).to_be_visible()
                _fits(page, "one query's review")
                for path in (
                    "/steward/queries",
                    "/steward/models",
                    "/steward/policy",
                    "/steward/audit",
                    "/steward/audit/portal",
                    "/steward/usage",
                ):
                    answer = page.goto(f"{stack.url}{path}")
                    assert answer is not None and answer.status == 200, path
                    _fits(page, path)
            finally:
                browser.close()
