"""Browser (issue 14): a partner onboarded end to end, nobody writing Python.

The real stack of `dataward serve` (portal process, zone gRPC API, SQLite stores), Debian's
chromium (never `playwright install`). The operator creates the steward, the organization and
its partner user with the `dataward` CLI; the partner registers an app in the portal; the
steward reads the review page and approves with narrowed scopes and purposes; the partner gets
the credentials and connection details, and makes a first gRPC call from what the page shows
(`Client.from_issuer`); the steward finds that call in the audit view. Screenshots of the
review page, the credentials page and the audit view are saved to
``ARTIFACTS/screenshots`` (``--artifacts``, default ``.artifacts``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dataward.client import (
    Client,
    ClientCredentialsTokenSource,
    ConsentRequired,
    PermissionDenied,
    TokenError,
    load_named_public_key,
)
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from launcher._wiring import Serving, start_serving
from launcher.settings import load_settings
from tests.support.chromium import ARGS, CHROMIUM
from tests.support.zone_source import make_source

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
MASTER = "onboarding-browser-master-key-0123456789"
PORTAL_KEY = "onboarding-browser-portal-key-0123456789"
# What the operator's shell holds: the two keys, nothing else of the caller's environment.
ENV = {"PATH": os.defpath, "DATAWARD_MASTER_KEY": MASTER, "DATAWARD_PORTAL_KEY": PORTAL_KEY}
STEWARD_PASSWORD = "steward correct horse battery"
PARTNER_PASSWORD = "partner correct horse battery"
UW = "INSURANCE_UNDERWRITING"
APP = "Underwriting desk"
SLUG = "acme-insurance"


@dataclass(frozen=True)
class Stack:
    serving: Serving
    zone: Path
    person: str  # an enrolled, active person of the registry
    other: str  # another, who gave no consent

    @property
    def url(self) -> str:
        return self.serving.portal_url


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    zone = tmp_path / "zone"
    source = make_source(12)
    init_zone(zone, MASTER.encode())
    ingest(zone, source.write(tmp_path / "src"), open_keyring(zone, MASTER.encode()))
    settings = load_settings(
        overrides={
            "zone": {"dir": zone},
            "portal": {"bind": "127.0.0.1:0", "cookie_secure": False},
            "grpc": {"bind": "127.0.0.1:0"},
            "audit": {"sqlite_synchronous": "NORMAL"},
        },
        environ=ENV,
    )
    serving = start_serving(settings)
    try:
        ids = source.column("persons", "id_number")
        yield Stack(serving, zone, ids[0], ids[1])
    finally:
        serving.stop()


def operator(stack: Stack, *args: str, stdin: str = "") -> str:
    """One `dataward` command as the operator types it; its stdout (exit 0 asserted)."""
    done = subprocess.run(
        [sys.executable, "-m", "launcher", *args],
        cwd=ROOT,
        env=ENV,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def claims_of(token: str) -> dict[str, object]:
    """An access token's claims (read, not verified: the zone does that)."""
    body = token.split(".")[1]
    parsed: dict[str, object] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return parsed


def test_a_partner_is_onboarded_and_its_first_call_is_in_the_audit_view(
    stack: Stack, artifacts_dir: Path
) -> None:
    # `make test` installs it; a missing browser is a broken setup, never a skip.
    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make chromium` (as root)"
    from playwright.sync_api import Page, expect, sync_playwright

    shots = artifacts_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    zone = ("--zone", str(stack.zone))

    # -- the operator: a steward, the organization, its partner user (CLI only) ---------------
    operator(
        stack,
        "portal",
        *zone,
        "create-steward",
        "--username",
        "steward",
        stdin=STEWARD_PASSWORD + "\n",
    )
    created = operator(
        stack,
        "portal",
        *zone,
        "org",
        "create",
        "--name",
        "Acme Insurance",
        "--kind",
        "INSURER",
        "--slug",
        SLUG,
    )
    assert created == f"organization {SLUG} created (INSURER, Acme Insurance)\n"
    created = operator(
        stack,
        "portal",
        *zone,
        "user",
        "create",
        "--username",
        "acme",
        "--org",
        SLUG,
        "--role",
        "partner",
        stdin=PARTNER_PASSWORD + "\n",
    )
    assert created == f"partner user acme created in {SLUG}\n"
    orgs = operator(stack, "portal", *zone, "org", "list")
    assert SLUG in orgs and "Acme Insurance" in orgs

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:

            def signed_in(username: str, password: str) -> Page:
                page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                page.goto(f"{stack.url}/login")
                page.fill("input[name=username]", username)
                page.fill("input[name=password]", password)
                page.click("button[type=submit]")
                return page

            # -- the partner registers an app, asking more than it will get ------------------
            partner = signed_in("acme", PARTNER_PASSWORD)
            partner.fill("input[name=name]", APP)
            for scope in ("eligibility:check", "identity:verify", "audit:read"):
                partner.check(f"input[name=scopes][value='{scope}']")
            for purpose in (UW, "CLAIM_SETTLEMENT"):
                partner.check(f"input[name=purposes][value='{purpose}']")
            partner.fill("textarea[name=justification]", "Price outpatient cover for applicants")
            partner.click("text=Submit for review")
            expect(partner.locator(f"tr[data-app='{APP}'] .status")).to_have_text("pending")

            # -- the steward reads the review and approves it narrowed ------------------------
            steward = signed_in("steward", STEWARD_PASSWORD)
            steward.goto(f"{stack.url}/steward")
            review = steward.locator(f"article.review[data-app='{APP}']")
            expect(review).to_contain_text("Acme Insurance")
            expect(review.locator(".org-kind")).to_have_text("insurer")
            expect(review.locator(".requested-by")).to_have_text("acme")
            expect(review.locator("[data-grant='identity:verify'] .sentence")).not_to_be_empty()
            review.locator("input[name=scopes][value='identity:verify']").uncheck()
            review.locator("input[name=purposes][value='CLAIM_SETTLEMENT']").uncheck()
            steward.screenshot(path=str(shots / "steward-review.png"), full_page=True)
            review.locator("button", has_text="Approve").click()
            expect(steward.locator(f"article.review[data-app='{APP}']")).to_have_count(0)

            # -- the partner sees what was granted, its credentials and how to connect --------
            partner.reload()
            row = partner.locator(f"tr[data-app='{APP}']")
            expect(row.locator(".status")).to_have_text("approved")
            expect(row).not_to_contain_text("identity:verify")
            expect(row).not_to_contain_text("claim_settlement")
            row.locator("button", has_text="Get credentials").click()
            client_id = partner.locator("#client-id").inner_text().strip()
            secret = partner.locator("#client-secret").inner_text().strip()
            expect(partner.locator("#token-url")).to_have_text(f"{stack.url}/oauth/token")
            target = f"127.0.0.1:{stack.serving.api.port}"
            expect(partner.locator("#grpc-target")).to_have_text(target)
            expect(partner.locator("#zone-key-name")).to_have_text(stack.serving.core.key_name)
            expect(partner.locator("#snippet")).to_contain_text("Client.from_issuer")
            expect(partner.locator("#snippet")).to_contain_text(client_id)
            assert secret not in partner.locator("#snippet").inner_text()
            partner.screenshot(path=str(shots / "credentials.png"), full_page=True)

            # -- a person consents (operator), the partner makes its first call ---------------
            # Pinned as the page's snippet pins it: the zone key line the page shows.
            zone_key = load_named_public_key(
                partner.locator("#zone-public-key").inner_text().strip().encode()
            )
            assert zone_key[0] == stack.serving.core.key_name
            client = Client.from_issuer(
                stack.url, client_id, secret, scope="eligibility:check", audit_key=zone_key
            )
            # The consent names the organization as its tokens do: the `org` claim is its slug.
            token_url = partner.locator("#token-url").inner_text().strip()
            tokens = ClientCredentialsTokenSource(token_url, client_id, secret, "eligibility:check")
            org_claim = str(claims_of(tokens.token())["org"])
            assert org_claim == SLUG
            operator(
                stack,
                "consent",
                "grant",
                *zone,
                "--partner",
                SLUG,
                "--purpose",
                UW,
                stdin=stack.person + "\n",
            )
            with client:
                result = client.check_eligibility(stack.person, "OUTPATIENT", UW)
                client.verify_answer(result)
                with pytest.raises(ConsentRequired):  # and one the zone refuses
                    client.check_eligibility(stack.other, "OUTPATIENT", UW)
            # What the steward narrowed away is not the partner's to take.
            narrowed = Client.from_issuer(stack.url, client_id, secret, scope="identity:verify")
            with narrowed, pytest.raises((TokenError, PermissionDenied)):
                narrowed.verify_identity(stack.person, "Someone", UW)

            # -- the steward sees those calls in the audit view ------------------------------
            steward.goto(f"{stack.url}/steward")
            steward.click("text=The zone's log")
            steward.select_option("select[name=org]", SLUG)
            steward.click("text=Show")
            calls = steward.locator(f"tr[data-kind='request_received'][data-client='{client_id}']")
            expect(calls).to_have_count(2)
            refused, call = calls.nth(0), calls.nth(1)  # newest first
            expect(refused.locator(".decision")).to_have_text("deny")
            expect(refused).to_contain_text("CONSENT_REQUIRED")
            expect(call).to_contain_text(APP)
            expect(call).to_contain_text("Acme Insurance")
            expect(call).to_contain_text("EligibilityService/Check")
            expect(call.locator(".decision")).to_have_text("allow")
            expect(call).to_contain_text("answer released")
            assert re.search(rf"[?&]org={SLUG}", steward.url)
            steward.screenshot(path=str(shots / "audit.png"), full_page=True)
            steward.click("text=Usage per app")
            usage = steward.locator(f"article[data-client='{client_id}']")
            expect(usage.locator(".calls")).to_have_text("2")
            expect(usage.locator(".refused")).to_have_text("1")
            expect(usage.locator("table.refusals")).to_contain_text("CONSENT_REQUIRED")
        finally:
            browser.close()
    # The three screenshots the issue shows are there, and are pictures of pages.
    for name in ("steward-review.png", "credentials.png", "audit.png"):
        assert (shots / name).stat().st_size > 10_000
