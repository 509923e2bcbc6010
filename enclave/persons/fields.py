"""The documented limits and formats of the text fields a person-level request carries.

Issue 8 (faults 2 and 4): an ID number sent as ``consent_ref`` reached the audit log, and
over-long fields were "internal error; this is a bug". Every field has a maximum length, and
the fields with a fixed format are checked against it before anything is logged. The gRPC API
refuses the same fields at its edge (``grpc_api`` calls :func:`field_problem` too).
"""

from __future__ import annotations

import re

from enclave.audit import CONSENT_REF
from enclave.persons.errors import InvalidField

__all__ = [
    "MAX_ID_NUMBER_CHARS",
    "MAX_NAME_CHARS",
    "MAX_PARTNER_CHARS",
    "field_problem",
]

MAX_ID_NUMBER_CHARS = 32  # 18 significant, surrounding spaces allowed
MAX_NAME_CHARS = 64
MAX_PARTNER_CHARS = 64
# A partner is an organization's id or slug as its tokens' ``org`` claim names it: ASCII
# letters, digits, ``._-``, and at most 6 digits in all (an ID or phone number is never a
# partner, with or without separators; the consent store keeps this field as is).
_PARTNER = re.compile(r"(?!(?:[^0-9]*[0-9]){7})[A-Za-z0-9][A-Za-z0-9._-]*")
# A client's nonce (issue 8, fault 11): hashed into the release, never logged.
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def field_problem(
    *,
    id_number: str = "",
    name: str = "",
    consent_ref: str = "",
    partner: str = "",
    client_nonce: str = "",
) -> InvalidField | None:
    """The first field over its limit or out of its format, as the refusal to answer with.

    ``consent_ref`` has a fixed format (a zone-issued ``cns_`` reference, or empty): anything
    else -- an ID number, a name -- is refused before it could be logged.
    """
    limits = (
        ("id_number", id_number, MAX_ID_NUMBER_CHARS),
        ("name", name, MAX_NAME_CHARS),
        ("partner", partner, MAX_PARTNER_CHARS),
    )
    for field, value, limit in limits:
        if len(value) > limit:
            return InvalidField(field, f"at most {limit} characters")
    if consent_ref and not CONSENT_REF.fullmatch(consent_ref):
        return InvalidField("consent_ref", "not a consent reference (cns_ and 24 characters)")
    if partner and not _PARTNER.fullmatch(partner):
        return InvalidField(
            "partner", "not an organization id (letters, digits, . _ -; at most 6 digits)"
        )
    if client_nonce and not _NONCE.fullmatch(client_nonce):
        return InvalidField("client_nonce", "16..64 characters of A-Z a-z 0-9 _ -")
    return None
