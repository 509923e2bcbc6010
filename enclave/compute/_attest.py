"""An auditor's attestation of a model card, and its verification (issue 12).

An auditor signs :func:`dataward.compute.attestation_message` -- the card's digest, the
auditor's name, the expiry -- with Ed25519 (``cryptography``, never hand-rolled). The zone
trusts the auditors the policy in force lists (``Policy.auditors``: name -> 32 raw bytes of
a public key), so removing an auditor from the policy lapses every model it attested.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dataward.compute import MODEL_ID, attestation_message

__all__ = ["MAX_SIGNATURE_BYTES", "Attestation", "attestation_problem"]

MAX_SIGNATURE_BYTES = 64
"""An Ed25519 signature's size: anything else cannot verify."""


@dataclass(frozen=True)
class Attestation:
    """An auditor's signature over a card's digest, valid until ``expires_at`` (Unix
    seconds)."""

    auditor: str
    expires_at: int
    signature: bytes

    def __repr__(self) -> str:
        return f"Attestation(auditor={self.auditor!r}, expires_at={self.expires_at})"


def attestation_problem(
    digest: bytes, attestation: Attestation | None, auditors: Mapping[str, bytes], now: dt.datetime
) -> str | None:
    """None if ``attestation`` verifies for the card of ``digest`` at ``now`` under
    ``auditors``; else the first problem of UNSIGNED (none), AUDITOR_UNKNOWN (not a listed
    auditor), SIGNATURE (does not verify: forged, or the card changed), EXPIRED. Fails
    closed: anything unreadable is a problem."""
    if attestation is None:
        return "UNSIGNED"
    auditor, expires_at, signature = (
        attestation.auditor,
        attestation.expires_at,
        attestation.signature,
    )
    key = auditors.get(auditor) if isinstance(auditor, str) else None
    if key is None or not MODEL_ID.fullmatch(auditor):
        return "AUDITOR_UNKNOWN"
    if isinstance(expires_at, bool) or not isinstance(expires_at, int) or expires_at <= 0:
        return "EXPIRED"
    if not isinstance(signature, bytes) or len(signature) != MAX_SIGNATURE_BYTES:
        return "SIGNATURE"
    try:
        Ed25519PublicKey.from_public_bytes(bytes(key)).verify(
            signature, attestation_message(digest, auditor, expires_at)
        )
    except (InvalidSignature, ValueError):
        return "SIGNATURE"
    if expires_at <= int(now.timestamp()):
        return "EXPIRED"
    return None
