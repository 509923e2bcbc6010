"""The real thing on loopback: an ingested zone, the real audit log, the real portal issuing
tokens (port 0) and the gRPC API verifying them (port 0), driven through the SDK."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import grpc
import pytest

from dataward.client import (
    Client,
    ClientCredentialsTokenSource,
    ConsentRequired,
    IdNumberInvalid,
    Unauthenticated,
)
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from enclave.release import Caller
from launcher._wiring import start_serving
from launcher.settings import Secret, load_settings
from tests.support.zone_source import make_source

MASTER = b"integration-master-key-0123456789"
UW = "INSURANCE_UNDERWRITING"


def test_real_portal_tokens_real_zone_answers_and_app_revocation(tmp_path: Path) -> None:
    zone_dir = tmp_path / "zone"
    source = make_source(20)
    init_zone(zone_dir, MASTER)
    ingest(zone_dir, source.write(tmp_path / "src"), open_keyring(zone_dir, MASTER))
    settings = load_settings(
        overrides={
            "zone": {"dir": zone_dir},
            "portal": {"bind": "127.0.0.1:0", "cookie_secure": False},
            "grpc": {"bind": "127.0.0.1:0", "revocation_poll_seconds": 0.2},
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
        steward = admin.create_steward("steward", "correct horse battery staple 1")
        partner = admin.create_partner_user(org, "acme", "correct horse battery staple 2")
        app = admin.register_app(partner, "underwriting", ["eligibility:check"], [UW], "pricing")
        creds = admin.approve_app(steward, app.client_id)
        person = source.column("persons", "id_number")[0]  # ACTIVE, enrolled
        other = source.column("persons", "id_number")[1]
        serving.core.checks.grant_consent(
            Caller("test", "operator"), id_number=person, partner=org.slug, purpose=UW
        )
        tokens = ClientCredentialsTokenSource(
            f"{serving.portal_url}/oauth/token",
            creds.client_id,
            creds.client_secret,
            "eligibility:check",
        )
        with Client(f"127.0.0.1:{serving.api.port}", tokens) as client:
            result = client.check_eligibility(person, "OUTPATIENT", UW)
            checkpoint = client.verify_receipt(
                result.receipt,
                key_name=serving.core.key_name,
                public_key=serving.core.keyring.public_key,
            )
            assert checkpoint.size > result.receipt.leaf_index
            with pytest.raises(ConsentRequired):
                client.check_eligibility(other, "OUTPATIENT", UW)
            with pytest.raises(IdNumberInvalid):
                client.check_eligibility(person[:-1], "OUTPATIENT", UW)
            admin.revoke_app(steward, app.client_id)
            deadline = time.monotonic() + 5
            while True:
                try:
                    client.check_eligibility(person, "OUTPATIENT", UW)
                except Unauthenticated as exc:
                    assert (exc.code, exc.reason) == (
                        grpc.StatusCode.UNAUTHENTICATED,
                        "TOKEN_REVOKED",
                    )
                    break
                assert time.monotonic() < deadline, "the revoked app's token still works"
                time.sleep(0.05)
        assert serving.core.audit.size >= 9
    finally:
        serving.stop()
