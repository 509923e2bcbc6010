"""Identity-document checks: does this well-formed identity number belong to a registry person
with this name, and what is that person's registry status. Pure rules over records.

- The identity number is validated first (GB 11643, :mod:`enclave.persons.idnumber`); a
  malformed one is refused before anything else (``InvalidIdNumber``), so a verdict always
  concerns a well-formed number.
- The name is compared as keyed tokens: the zone stores only the token of the registry name,
  the request's name is tokenized with the same key and normalization (Unicode NFKC, trimmed;
  :meth:`Keyring.token`), and the two tokens are compared in constant time. No clear name is
  read or kept.
- The registry status is reported as held (``ACTIVE``, ``DECEASED``, ``EMIGRATED``), or
  ``NOT_FOUND`` when a consent exists but the registry no longer holds the person (a partner
  only learns this with the person's consent; without it the answer is ``CONSENT_REQUIRED``).
- With a selfie (issue 13) the verdict also carries the face check
  (:class:`enclave.biometrics.FaceVerdict`: outcome, band, retake reason, what the thresholds
  were validated on), decided by :meth:`enclave.persons.PersonChecks.verify_identity`.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass
from typing import Protocol

from enclave.biometrics import FaceVerdict

__all__ = ["DocumentVerdict", "PersonLike", "RegistryStatus", "verify_document"]


class RegistryStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    DECEASED = "DECEASED"
    EMIGRATED = "EMIGRATED"
    NOT_FOUND = "NOT_FOUND"


class PersonLike(Protocol):
    """The fields of a registry person the checks read (``enclave``'s PersonRecord)."""

    @property
    def person_id(self) -> int: ...
    @property
    def name_token(self) -> bytes: ...
    @property
    def status(self) -> str: ...


@dataclass(frozen=True)
class DocumentVerdict:
    id_number_valid: bool
    name_matches: bool
    registry_status: RegistryStatus
    face: FaceVerdict | None = None  # with a selfie only


def verify_document(person: PersonLike | None, name_token: bytes) -> DocumentVerdict:
    """The verdict for a well-formed identity number that resolved to ``person`` (or none)."""
    if person is None:
        return DocumentVerdict(True, False, RegistryStatus.NOT_FOUND)
    try:
        status = RegistryStatus(person.status)
    except ValueError:
        status = RegistryStatus.NOT_FOUND
    if status is RegistryStatus.NOT_FOUND:
        # An unknown registry status is treated as absent (fail closed), name included.
        return DocumentVerdict(True, False, status)
    matches = hmac.compare_digest(person.name_token, name_token)
    return DocumentVerdict(True, matches, status)
