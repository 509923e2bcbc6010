"""The demo's bank under encryption (issue 12): the zone's credit band, then the bank's own
confidential model -- its Paillier card handed to an auditor, signed, registered, one
applicant scored and decrypted by the bank alone; a CKKS card scoring a batch in one call.

The bank's secret keys stay in this module's objects, as they would stay in the bank: the zone
gets public keys and encrypted weights only, and answers ciphertexts only the bank can open.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dataward.client import (
    CkksBatchAnswer,
    Client,
    CreditBand,
    DatawardError,
    PaillierScoreAnswer,
)
from dataward.client import compute as partner
from enclave.compute import Attestation, ModelCards
from enclave.policy import PolicyStore
from enclave.release import Caller
from policies import default_policy_text

__all__ = ["AUDITOR", "MODEL_WEIGHTS", "bank_computes", "policy_with_auditor"]

Say = Callable[[str], None]
AUDITOR = "auditor-1"
#: The bank's confidential model over credit_v1's eight features, in order: months insured
#: of 36, months in arrears, outpatient / inpatient / pharmacy / chronic claims in 12 months,
#: the self-paid total in cents (bucketed), the chronic-condition flag.
MODEL_WEIGHTS = (1.5, -6.0, -0.5, -2.0, -0.25, -1.0, -0.00075, -4.0)
_STEWARD = Caller("demo", "zone-stewards")


def policy_with_auditor(public_key: bytes) -> str:
    """The default policy with one auditor listed under ``compute.auditors``."""
    text = default_policy_text()
    anchor = "compute:\n  paillier_noise: 16\n"
    if anchor not in text:  # the shipped document changed: the demo must follow it
        raise RuntimeError("the default policy has no compute section to add an auditor to")
    encoded = base64.b64encode(public_key).decode("ascii")
    listed = f"{anchor}  auditors:\n    - name: {AUDITOR}\n      public_key: {encoded}\n"
    return text.replace(anchor, listed)


def bank_computes(
    client: Client,
    *,
    bank: str,
    purpose: str,
    applicant: str,
    batch: Sequence[str],
    policies: PolicyStore,
    cards: ModelCards,
    workdir: Path,
    say: Say,
) -> list[CreditBand | PaillierScoreAnswer | CkksBatchAnswer]:
    """Run the bank's part; the answers, for their receipts to be checked."""
    answers: list[CreditBand | PaillierScoreAnswer | CkksBatchAnswer] = []
    band = client.credit_band(applicant, purpose)
    say(f"  the zone's own credit evaluation: band {band.band} (only the band leaves)")
    answers.append(band)

    say("  the bank makes a 3072-bit Paillier key pair and encrypts its model's 8 weights")
    keys = partner.PaillierKeys.generate()
    card = partner.paillier_model_card(
        keys,
        model_id="loan-risk",
        version=1,
        feature_set="credit_v1",
        weights=MODEL_WEIGHTS,
        exponent=-4,
        output_bits=32,
        purpose=purpose,
    )
    card_file = workdir / "loan-risk-v1.card.json"
    partner.save_card(card, card_file)
    info = client.register_model(card)
    say(f"  registered: {info.status} (card digest {info.card_digest.hex()[:16]}…)")

    auditor = Ed25519PrivateKey.generate()
    public = auditor.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    applied = policies.apply(policy_with_auditor(public), _STEWARD, "policies/default.yaml")
    say(f"  the steward lists the auditor in the policy: version {applied.version[:12]}")
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=90)
    signed = partner.sign_card(partner.load_card(card_file), auditor, AUDITOR, expires)
    cards.attest(
        _STEWARD,
        bank,
        card.model_id,
        card.version,
        Attestation(signed.auditor, signed.expires_at, signed.signature),
    )
    say(f"  the auditor signs the card file ({card_file.name}) and a steward attaches it")

    answer = client.paillier_score(applicant, purpose, "loan-risk", 1)
    score = partner.decrypt_paillier_score(keys, answer)
    say(
        f"  Paillier score: {len(answer.ciphertext)} ciphertext bytes; the bank alone "
        f"decrypts {float(score):.4f} (32 bits; the rest of the plaintext is masked)"
    )
    answers.append(answer)
    try:
        client.paillier_score(applicant, purpose, "loan-risk", 1)
    except DatawardError as exc:
        code = exc.code.name if exc.code is not None else "refused"
        say(f"  a second score for the same consent: {code} {exc.reason}")

    ckks_keys = partner.CkksKeys.generate()
    ckks_card = partner.ckks_model_card(
        ckks_keys,
        model_id="loan-risk-he",
        version=1,
        feature_set="credit_v1",
        weights=MODEL_WEIGHTS,
        output_bits=32,
        purpose=purpose,
    )
    attestation = partner.sign_card(ckks_card, auditor, AUDITOR, expires)
    client.register_model(ckks_card, attestation)
    size = len(ckks_card.public_key) + sum(len(c) for c in ckks_card.weight_ciphertexts)
    say(f"  a CKKS card (public context and 8 weight ciphertexts, {size / 1e6:.1f} MB), signed")
    scored = client.ckks_batch_score("loan-risk-he", 1, purpose, batch)
    values = partner.decrypt_ckks_scores(ckks_keys, scored)
    shown = ", ".join("-" if v is None else f"{v:.3f}" for v in values)
    say(f"  CKKS batch of {len(batch)} in one call: [{shown}] (- : no consent, slot left 0)")
    answers.append(scored)
    return answers
