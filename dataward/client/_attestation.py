"""The auditor's attestation as JSON (the file ``dataward compute sign-model`` writes), read
without phe or TenSEAL: what the portal's form parses (issue 12)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from dataward.client._scoring import ModelAttestation
from dataward.compute import MODEL_ID

__all__ = [
    "ATTESTATION_FORMAT",
    "CardFileInvalid",
    "attestation_of",
    "parse_attestation",
    "unb64",
]

ATTESTATION_FORMAT = "dataward-model-attestation/1"
_MAX_ATTESTATION_BYTES = 4096


class CardFileInvalid(ValueError):  # noqa: N818 (reads as what the file is)
    """A model card or attestation file that is not one this SDK writes (the message says
    what is wrong: which field, or that the digest does not match)."""


def unb64(value: object, name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise CardFileInvalid(f"{name}: base64 text required")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CardFileInvalid(f"{name}: not valid base64") from None


def parse_attestation(text: str | bytes) -> ModelAttestation:
    """The attestation in ``text``, the JSON ``save_attestation`` writes (e.g. pasted into
    the portal's form); :class:`CardFileInvalid` otherwise."""
    if len(text) > _MAX_ATTESTATION_BYTES:
        raise CardFileInvalid("too large for a model attestation")
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CardFileInvalid("not a JSON model attestation") from None
    if not isinstance(document, dict) or document.get("format") != ATTESTATION_FORMAT:
        raise CardFileInvalid(f"not a model attestation of format {ATTESTATION_FORMAT}")
    return attestation_of(document)


def attestation_of(document: dict[str, Any]) -> ModelAttestation:
    auditor, expires_at = document.get("auditor"), document.get("expires_at")
    if not isinstance(auditor, str) or not MODEL_ID.fullmatch(auditor):
        raise CardFileInvalid("auditor: 1..64 characters of a-z 0-9 _ . -")
    if isinstance(expires_at, bool) or not isinstance(expires_at, int) or expires_at <= 0:
        raise CardFileInvalid("expires_at: a positive number of Unix seconds")
    signature = unb64(document.get("signature"), "signature")
    if len(signature) != 64:
        raise CardFileInvalid("signature: 64 bytes (Ed25519)")
    return ModelAttestation(auditor, expires_at, signature)
