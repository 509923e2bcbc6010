"""`dataward serve` wires the model registry (issue 12): a real zone served by start_serving
(ZONE/state/models.db opened by launcher.open_core), a partner app registered through the
portal's operator API, the SDK registering a Paillier model card and reading it back, every
receipt verified; a steward's attestation with a key the applied policy lists makes it
ATTESTED, and the registry is a file in the zone."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dataward.client import Client, ClientCredentialsTokenSource
from dataward.client.compute import ModelAttestation, PaillierKeys, paillier_model_card, sign_card
from enclave.compute import Attestation
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from enclave.release import Caller
from launcher._wiring import Serving, start_serving
from launcher.settings import Secret, Settings, load_settings
from policies import default_policy_text, load_policy
from tests.support.zone_source import make_source

MASTER = b"serve-models-master-key-0123456789ab"
LOAN = "LOAN_ORIGINATION"
AUDITOR = Ed25519PrivateKey.generate()


def _settings(zone_dir: Path) -> Settings:
    settings = load_settings(
        overrides={
            "zone": {"dir": zone_dir},
            "portal": {"bind": "127.0.0.1:0", "cookie_secure": False},
            "grpc": {"bind": "127.0.0.1:0"},
            "audit": {"sqlite_synchronous": "NORMAL"},
        },
        environ={},
    )
    return dataclasses.replace(
        settings, zone=dataclasses.replace(settings.zone, master_key=Secret(MASTER))
    )


def _policy() -> str:
    raw = AUDITOR.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    text = default_policy_text().replace(
        "compute:\n  paillier_noise: 16\n",
        "compute:\n  paillier_noise: 16\n  auditors:\n"
        f"    - {{name: auditor-1, public_key: {base64.b64encode(raw).decode()}}}\n",
        1,
    )
    assert load_policy(text).auditors
    return text


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Serving, Path]]:
    zone_dir = tmp_path / "zone"
    init_zone(zone_dir, MASTER)
    ingest(zone_dir, make_source(12).write(tmp_path / "src"), open_keyring(zone_dir, MASTER))
    serving = start_serving(_settings(zone_dir))
    try:
        serving.core.policies.apply(_policy(), Caller("test", "zone-stewards"), "policy.yaml")
        yield serving, zone_dir
    finally:
        serving.stop()


def _client(serving: Serving, scopes: list[str], purposes: list[str], name: str) -> Client:
    admin = serving.admin
    org = admin.create_organization(f"Lender {name}", "BANK")
    steward = admin.create_steward(f"steward-{name}", "correct horse battery staple 1")
    partner = admin.create_partner_user(org, f"user-{name}", "correct horse battery staple 2")
    app = admin.register_app(partner, f"app-{name}", scopes, purposes, "scoring")
    creds = admin.approve_app(steward, app.client_id)
    tokens = ClientCredentialsTokenSource(
        f"{serving.portal_url}/oauth/token", creds.client_id, creds.client_secret, " ".join(scopes)
    )
    key = (serving.core.key_name, serving.core.keyring.public_key)
    return Client(f"127.0.0.1:{serving.api.port}", tokens, audit_key=key)


def test_a_served_zone_registers_and_serves_model_cards(served: tuple[Serving, Path]) -> None:
    serving, zone_dir = served
    assert serving.core.checks.serves_scores
    policy = load_policy(_policy())
    keys = PaillierKeys.generate()
    card = paillier_model_card(
        keys,
        model_id="lender.risk",
        version=1,
        feature_set="credit_v1",
        weights=[0.5] * len(policy.feature_sets["credit_v1"].features),
        exponent=-2,
        output_bits=32,
        purpose=LOAN,
    )
    with _client(serving, ["compute:score", "audit:read"], [LOAN], "a") as client:
        info = client.register_model(card)
        assert (info.status, info.card_digest) == ("PENDING_ATTESTATION", card.digest())
        client.verify_answer(info)
        got = client.get_model("lender.risk", 1)
        client.verify_answer(got)
        assert got.status == "PENDING_ATTESTATION"
        expires = int((dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).timestamp())
        attested = serving.core.cards.attest(
            Caller("test", "zone-stewards", subject="user:1"),
            info.organization,
            "lender.risk",
            1,
            _zone_attestation(sign_card(card, AUDITOR, "auditor-1", expires)),
        )
        assert attested.value.status.value == "ATTESTED"
        assert client.get_model("lender.risk", 1).status == "ATTESTED"
    assert (zone_dir / "state" / "models.db").is_file()


def _zone_attestation(signed: ModelAttestation) -> Attestation:
    return Attestation(signed.auditor, signed.expires_at, signed.signature)
