"""The SDK's model calls against the real server (the registry of test_grpc_models): a card
made with dataward.client.compute registers, waits, is attested by a steward's Client, and
every answer's receipt verifies; the refusals arrive as the SDK's typed errors."""

from __future__ import annotations

import dataclasses
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.client import (
    AttestationInvalid,
    Client,
    ModelExists,
    ModelNotFound,
    ReceiptInvalid,
    StaticTokenSource,
)
from dataward.client import compute as sdk
from tests.integration import test_grpc_models as registry
from tests.integration.test_grpc_models import AUDITOR, AUDITOR_KEY, LENDER, WEIGHTS, Zone

zone = registry.zone  # the real server over a real model registry (its fixture)


@pytest.fixture(scope="module")
def keys() -> sdk.PaillierKeys:
    return sdk.PaillierKeys.generate()


def _steward(zone: Zone) -> Client:
    token = zone.stack.issuer.token(
        client_id="portal-steward-pages",
        org="1",
        scopes=("steward:admin", "audit:read"),
        purposes=(),
        extra_claims={"sub": "user:3"},
    )
    return Client(zone.stack.target, StaticTokenSource(token))


def test_an_sdk_card_registers_is_attested_and_every_receipt_verifies(
    zone: Zone, keys: sdk.PaillierKeys
) -> None:
    card = sdk.paillier_model_card(
        keys,
        model_id="sdk-risk",
        version=1,
        feature_set="credit_v1",
        weights=[0.25] * WEIGHTS,
        exponent=-2,
        output_bits=32,
        purpose="LOAN_ORIGINATION",
    )
    token = zone.stack.issuer.token(
        client_id="lender-app",
        org=LENDER,
        scopes=("compute:score", "audit:read"),
        purposes=("LOAN_ORIGINATION",),
    )
    with Client(zone.stack.target, StaticTokenSource(token)) as c:
        info = c.register_model(card)
        assert (info.organization, info.model_id, info.version) == (LENDER, "sdk-risk", 1)
        assert info.status == "PENDING_ATTESTATION" and info.card_digest == card.digest()
        assert info.attestation is None and info.scheme == "PAILLIER" and info.exponent == -2
        c.verify_answer(info)
        with pytest.raises(ReceiptInvalid):
            c.verify_answer(dataclasses.replace(info, status="ATTESTED"))
        got = c.get_model("sdk-risk", 1)
        assert got.card_digest == card.digest()
        c.verify_answer(got)
        with pytest.raises(ModelExists):
            c.register_model(card)
        with pytest.raises(ModelNotFound):
            c.get_model("sdk-risk", 2)
    expires = int(time.time()) + 86_400
    with _steward(zone) as s:
        pending = s.pending_models()
        assert [m.name for m in pending.models] == [f"{LENDER}/sdk-risk/1"]
        s.verify_answer(pending)
        forged = sdk.sign_card(card, Ed25519PrivateKey.generate(), AUDITOR, expires)
        with pytest.raises(AttestationInvalid) as refused:
            s.attest_model(LENDER, "sdk-risk", 1, forged)
        assert refused.value.problem == "SIGNATURE"
        attested = s.attest_model(
            LENDER, "sdk-risk", 1, sdk.sign_card(card, AUDITOR_KEY, AUDITOR, expires)
        )
        assert attested.status == "ATTESTED" and attested.attestation is not None
        s.verify_answer(attested)
        assert s.pending_models().models == ()
