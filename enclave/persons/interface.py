"""What the person-level checks take and answer: their collaborators' Protocols (the
registry, the tokenizer) and the frozen request and answer types that cross the seam."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from dataward.transparency import Receipt
from enclave.consent import FamilyBindingLike
from enclave.errors import ZoneError
from enclave.persons.eligibility import Benefit, EnrolmentLike
from enclave.persons.identity import PersonLike

__all__ = [
    "Answer",
    "BatchMember",
    "CkksBatchQuery",
    "CreditBandQuery",
    "EligibilityQuery",
    "IdentityQuery",
    "PaillierScoreQuery",
    "PersonDirectory",
    "Tokenizer",
]

_T = TypeVar("_T")


class Tokenizer(Protocol):
    def token(self, column: str, value: str) -> bytes: ...


class PersonDirectory(Protocol):
    """What the checks need from the zone's registry (:class:`enclave.dataset.Zone`)."""

    def find_person(self, id_number: str) -> PersonLike | None: ...
    def person_by_token(self, token: bytes) -> PersonLike | None:
        """The person whose ID-number token is ``token`` (the number was validated already)."""

    def person_id_by_token(self, token: bytes) -> int | None:
        """That person's internal id, in the same time whether or not the registry holds
        them (a refusal must not tell the two apart by its duration)."""

    def enrolments(self, person_id: int) -> Sequence[EnrolmentLike]: ...
    def family_bindings(self, person_id: int) -> Sequence[FamilyBindingLike]: ...
    def guardians(self, member_person_id: int, at: dt.datetime) -> tuple[int, ...]:
        """:func:`enclave.consent.guardians_of` over the member's bindings, at a cost that
        does not depend on whether the person exists or is bound."""


@dataclass(frozen=True)
class EligibilityQuery:
    id_number: str
    benefit: Benefit | None
    as_of: dt.date | None
    purpose: str
    consent_ref: str = ""
    client_nonce: str = ""


@dataclass(frozen=True)
class CreditBandQuery:
    """One person's credit band by the policy's ``scorecard`` (issue 12)."""

    id_number: str
    purpose: str
    scorecard: str
    consent_ref: str = ""
    client_nonce: str = ""


@dataclass(frozen=True)
class PaillierScoreQuery:
    """One person's score under the partner's attested Paillier model (issue 12)."""

    id_number: str
    purpose: str
    model_id: str
    model_version: int
    consent_ref: str = ""
    client_nonce: str = ""


@dataclass(frozen=True)
class BatchMember:
    """One person of a CKKS batch: slot i is ``persons[i]``."""

    id_number: str
    consent_ref: str = ""


@dataclass(frozen=True)
class CkksBatchQuery:
    """Many persons' scores under the partner's attested CKKS model (issue 12)."""

    model_id: str
    model_version: int
    purpose: str
    persons: Sequence[BatchMember]
    client_nonce: str = ""


@dataclass(frozen=True)
class IdentityQuery:
    id_number: str
    name: str
    purpose: str
    consent_ref: str = ""
    selfie: bytes = b""
    client_nonce: str = ""


@dataclass(frozen=True)
class FaceMatchQuery:
    """One encrypted face match (issue 13, ``ComputeService.EncryptedFaceMatch``): the
    partner's public TenSEAL context (Galois keys included) and its query ciphertext, bytes
    the zone parses only in its CKKS workers. ``upload_problem`` is a refusal the front end
    met while reading the upload (a context or query past its size limit, reading stopped):
    the zone refuses it after its request leaf, so it is logged like every refusal."""

    id_number: str
    purpose: str
    context: bytes
    query: bytes
    consent_ref: str = ""
    client_nonce: str = ""
    upload_problem: ZoneError | None = None


@dataclass(frozen=True)
class Answer(Generic[_T]):
    value: _T
    receipt: Receipt
    request_id: str
