"""Load a policy's `compute:` section (optional; issue 12): how the zone computes under a
partner's encryption.

The format::

    compute:
      paillier_noise: 16        # the Paillier score's low-bit noise: eta uniform in [-16, 16],
                                # in units of the score's last fixed-point place; 0..2^20
      auditors:                 # who may attest model cards; absent or empty: none is scorable
        - name: auditor-1       # 1..64 of a-z 0-9 _ . -, at most 6 digits (dataward's MODEL_ID)
          public_key: <base64 of the 32 raw bytes of an Ed25519 public key>

Every bad value names its path (``compute.auditors[0].public_key``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from policies._document import At
from policies.errors import DuplicateNameError, InvalidValueError

__all__ = ["AUDITOR_NAME", "MAX_AUDITORS", "MAX_PAILLIER_NOISE", "ComputeSection", "compute"]

#: The widest low-bit noise a policy may ask for (well within the Paillier core's own limit).
MAX_PAILLIER_NOISE = 1 << 20
#: The most auditors a policy lists.
MAX_AUDITORS = 64
#: An auditor's name: dataward.compute.MODEL_ID (policies import nothing of ours; a test keeps
#: the two equal): a name the zone shows, so never an ID or phone number.
AUDITOR_NAME = re.compile(r"(?!(?:[^0-9]*[0-9]){7})[a-z0-9][a-z0-9_.-]{0,63}")
_ED25519_PUBLIC_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class ComputeSection:
    """The section's values: the noise and the auditors' Ed25519 public keys by name."""

    paillier_noise: int = 0
    auditors: Mapping[str, bytes] = field(default_factory=dict)


def compute(value: object, at: At) -> ComputeSection:
    """The document's `compute:` section (the defaults when it is absent)."""
    doc = at.mapping(value, optional=("paillier_noise", "auditors"))
    noise_at = at.key("paillier_noise")
    noise = noise_at.integer(doc.get("paillier_noise", 0), minimum=0)
    if noise > MAX_PAILLIER_NOISE:
        noise_at.fail(InvalidValueError, f"must be at most {MAX_PAILLIER_NOISE} (2^20)")
    auditors_at = at.key("auditors")
    items = auditors_at.sequence(doc.get("auditors", []))
    if len(items) > MAX_AUDITORS:
        auditors_at.fail(InvalidValueError, f"a policy lists at most {MAX_AUDITORS} auditors")
    auditors: dict[str, bytes] = {}
    keys: dict[bytes, str] = {}
    for i, item in enumerate(items):
        item_at = auditors_at.index(i)
        spec = item_at.mapping(item, required=("name", "public_key"))
        name_at = item_at.key("name")
        name = name_at.string(spec["name"])
        if not AUDITOR_NAME.fullmatch(name):
            name_at.fail(InvalidValueError, "1..64 characters of a-z 0-9 _ . -, at most 6 digits")
        if name in auditors:
            name_at.fail(DuplicateNameError, f"auditor {name!r} is listed twice")
        key_at = item_at.key("public_key")
        key = _public_key(key_at.string(spec["public_key"]), key_at)
        if key in keys:
            key_at.fail(DuplicateNameError, f"auditor {keys[key]!r} already has this key")
        auditors[name] = key
        keys[key] = name
    return ComputeSection(paillier_noise=noise, auditors=auditors)


def _public_key(text: str, at: At) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        at.fail(InvalidValueError, "must be base64 (the 32 raw bytes of an Ed25519 public key)")
    if len(raw) != _ED25519_PUBLIC_KEY_BYTES:
        at.fail(InvalidValueError, "must be the 32 raw bytes of an Ed25519 public key, base64")
    return raw
