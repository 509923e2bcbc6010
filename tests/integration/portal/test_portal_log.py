"""The portal log verifies with the bottom layer's log verification, and carries no secrets."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives import serialization

from dataward.transparency import verify_log_entries
from tests.integration.portal.conftest import PASSWORD, Env


def test_exported_log_verifies_and_records_the_lifecycle(env: Env) -> None:
    creds = env.approved_app()
    env.client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(creds.client_id, creds.client_secret),
    )
    env.portal.admin.suspend_app(env.steward, creds.client_id)
    export = env.portal.export_log()
    summary = verify_log_entries(
        export.entries, export.checkpoints, export.key_name, export.public_key, origin=export.origin
    )
    assert summary.entries == len(export.entries) and summary.unsigned_entries == 0
    kinds = [json.loads(e.leaf)["kind"] for e in export.entries]
    for kind in (
        "user_created",
        "app_registered",
        "app_decided",
        "client_secret_issued",
        "token_issued",
        "token_revoked",
    ):
        assert kind in kinds
    blob = b"".join(e.leaf for e in export.entries)
    assert creds.client_secret.encode() not in blob and PASSWORD.encode() not in blob
    served = env.client().get("/.well-known/portal-log-key").data
    published = export.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert served == published
    assert (
        env.client().get("/.well-known/portal-log-checkpoint").get_data(as_text=True)
        == export.checkpoints[-1]
    )
