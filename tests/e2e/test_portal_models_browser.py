"""Browser (issue 12, model cards): the auditor's page. A partner's CKKS model card is
registered in the zone; a steward, in Debian's chromium (never `playwright install`), sees it
waiting with its digest, pastes an attestation signed by a key the policy does not list (the
zone's refusal is shown in its words) and then the auditor's own, and the card leaves the
waiting list, scorable. The real stack of `dataward serve` (portal process, zone gRPC API)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dataward.client.compute import CkksKeys, ckks_model_card, save_attestation, sign_card
from enclave.compute import ModelStatus
from launcher._demo_compute import AUDITOR, MODEL_WEIGHTS, policy_with_auditor
from tests.support.chromium import ARGS, CHROMIUM
from tests.support.review_stack import PASSWORD, review_stack

pytestmark = pytest.mark.browser


def _attestation_json(path: Path, card: object, key: Ed25519PrivateKey) -> str:
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    save_attestation(sign_card(card, key, AUDITOR, expires), path)  # type: ignore[arg-type]
    return path.read_text(encoding="utf-8")


def test_a_waiting_card_is_attested_in_the_browser(tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make chromium` (as root)"
    from playwright.sync_api import expect, sync_playwright

    auditor = Ed25519PrivateKey.generate()
    public = auditor.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with review_stack(tmp_path, policy_text=policy_with_auditor(public)) as stack:
        core = stack.serving.core
        policy = core.policies.current()
        card = ckks_model_card(
            CkksKeys.generate(),
            model_id="loan-batch",
            version=1,
            feature_set="credit_v1",
            weights=MODEL_WEIGHTS,
            output_bits=32,
            purpose="INSURANCE_UNDERWRITING",
        )
        now = dt.datetime.now(dt.UTC)
        core.models.register(
            "2", card, feature_sets=policy.feature_sets, auditors=policy.auditors, now=now
        )
        forged = _attestation_json(tmp_path / "forged.json", card, Ed25519PrivateKey.generate())
        genuine = _attestation_json(tmp_path / "genuine.json", card, auditor)
        stack.add_steward("auditor")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
                page.goto(f"{stack.url}/login")
                page.fill("input[name=username]", "auditor")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.click("text=Model cards to attest")
                row = page.locator("tr[data-model='2/loan-batch/1']")
                expect(row).to_contain_text("CKKS")
                expect(row).to_contain_text("credit_v1")
                expect(row.locator(".digest")).to_have_text(card.digest().hex())
                expect(page.locator("pre.command")).to_contain_text("dataward compute sign-model")

                form = page.locator("form.attest").first
                form.locator("textarea[name=attestation]").fill(forged)
                form.locator("button", has_text="Attach").click()
                expect(page.locator("body")).to_contain_text("MODEL_NOT_ATTESTED")
                expect(page.locator("body")).to_contain_text("SIGNATURE")
                assert core.models.get("2", "loan-batch", 1).attestation is None

                page.goto(f"{stack.url}/steward/models")
                form = page.locator("form.attest").first
                form.locator("textarea[name=attestation]").fill("{not json")
                form.locator("button", has_text="Attach").click()
                expect(page.locator("body")).to_contain_text("not a JSON model attestation")

                page.goto(f"{stack.url}/steward/models")
                form = page.locator("form.attest").first
                form.locator("textarea[name=attestation]").fill(genuine)
                form.locator("button", has_text="Attach").click()
                expect(page.locator(".notice")).to_contain_text("Attested loan-batch version 1")
                expect(page.locator("tr[data-model='2/loan-batch/1']")).to_have_count(0)
                expect(page.locator(".empty")).to_contain_text("No model card is waiting")
            finally:
                browser.close()
        model = core.models.get("2", "loan-batch", 1)
        assert model.status(core.policies.current().auditors, now) is ModelStatus.ATTESTED
