"""The zone proves it holds its signing key: a signature over a caller's fresh challenge.

Used before an operator's CLI hands a credential and a person's ID number to the server that
holds the zone (issue 8 review: the server's address comes from a file anyone who can write
the zone's state could rewrite, so the address alone proves nothing). The CLI sends a random
challenge to ``AuditService.Attest`` (no token needed) and sends nothing else unless the
answer verifies with the zone's published key.

The signed message is domain-separated -- ``dataward-zone-attestation/v1``, the key name,
the challenge, each on its own line (the challenge hex) -- so it can never be taken for a
signed-note checkpoint or a JWS signing input made with the same key. Imports only
``cryptography``.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "MAX_CHALLENGE_BYTES",
    "MIN_CHALLENGE_BYTES",
    "AttestationError",
    "attestation_message",
    "sign_attestation",
    "verify_attestation",
]

MIN_CHALLENGE_BYTES = 16
MAX_CHALLENGE_BYTES = 64
_DOMAIN = b"dataward-zone-attestation/v1"


class AttestationError(Exception):
    """A challenge out of range, or an attestation that does not verify."""


def attestation_message(key_name: str, challenge: bytes) -> bytes:
    """The bytes the zone signs for ``challenge`` under ``key_name``."""
    if not MIN_CHALLENGE_BYTES <= len(challenge) <= MAX_CHALLENGE_BYTES:
        raise AttestationError(f"a challenge is {MIN_CHALLENGE_BYTES}..{MAX_CHALLENGE_BYTES} bytes")
    if not key_name or "\n" in key_name:
        raise AttestationError("a key name is one non-empty line")
    return b"\n".join((_DOMAIN, key_name.encode(), challenge.hex().encode()))


def sign_attestation(key: Ed25519PrivateKey, key_name: str, challenge: bytes) -> bytes:
    return key.sign(attestation_message(key_name, challenge))


def verify_attestation(
    key: Ed25519PublicKey, key_name: str, challenge: bytes, signature: bytes
) -> None:
    """Raise :class:`AttestationError` unless ``signature`` is the zone's over ``challenge``."""
    try:
        key.verify(signature, attestation_message(key_name, challenge))
    except InvalidSignature:
        raise AttestationError("the server did not prove it holds the zone's key") from None
