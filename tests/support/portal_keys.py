"""The portal's key files as an earlier release wrote them, to test the migration to sealed
keys (issue 8, item 9)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import ECKey


def write_legacy_keys(state: Path) -> tuple[str, bytes]:
    """The layout of earlier releases: every private key in a plain file."""
    keys = state / "keys"
    (keys / "jwt").mkdir(parents=True)
    kid = "20250101-0123abcd"
    jwk = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"})
    record = {"created_at": time.time() - 60, "retired_at": None, "jwk": jwk.as_dict(private=True)}
    (keys / "jwt" / f"{kid}.json").write_text(json.dumps(record))
    log_key = Ed25519PrivateKey.generate()
    pem = log_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (keys / "portal-log-key.pem").write_bytes(pem)
    (keys / "session.key").write_bytes(b"s" * 32)
    public = log_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return kid, public
