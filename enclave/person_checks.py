"""Person-level checks: eligibility and identity documents for a partner, consent for stewards.

:class:`PersonChecks` is the one place that orders the steps of a person-level call, so that
every front end (gRPC, CLI) behaves the same:

1. validate the request (``InvalidField``, ``InvalidIdNumber``);
2. log the request (an audit leaf: who, organization, method, purpose, consent reference,
   the person's *token*, never the number);
3. find a valid consent **by the token first**, before the registry is consulted, so an
   unknown person is indistinguishable from a known person without consent; only when the
   person's own consent is missing is the registry asked for guardians (see
   :mod:`enclave.consent`), and the answer is the same ``ConsentRequired`` either way;
4. decide with the pure rules (:mod:`enclave.eligibility`, :mod:`enclave.identity`);
5. consume a single-use consent, log the allowing decision and the release (the result's
   hash, :func:`dataward.receipts.result_hash` -- the partner recomputes it from the answer)
   together, and return the answer with the receipt of the release leaf (leaf bytes included).

Nothing is returned before its leaves are durable: the request leaf is durable before the
zone looks anything up (one commit), the decision and the release are consecutive leaves of a
second commit whose signed checkpoint is the receipt's. A refusal is logged as a denying
decision, durable before the error is raised.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, NoReturn, Protocol, TypeVar

from dataward import receipts
from dataward.transparency import Receipt
from enclave._keys import normalize
from enclave.audit import CONSENT_REF
from enclave.consent import Consent, ConsentStore, FamilyBindingLike
from enclave.eligibility import Benefit, EligibilityDecision, EnrolmentLike, decide_eligibility
from enclave.identity import DocumentVerdict, PersonLike, verify_document
from enclave.idnumber import InvalidIdNumber, validate_id_number
from enclave.person_errors import (
    ConsentRequired,
    InvalidField,
    PersonNotFound,
    SelfieNotSupported,
)

__all__ = [
    "POLICY_VERSION",
    "Answer",
    "AuditTrail",
    "Caller",
    "EligibilityQuery",
    "IdentityQuery",
    "PersonChecks",
    "PersonDirectory",
    "Tokenizer",
    "field_problem",
]

POLICY_VERSION = "person-checks/1"
MAX_CONSENT_DAYS = 3650
# A person id no registry row has (ids are positive): stands in for an unknown person so that
# looking them up costs the same as looking up a known one.
_NOBODY = -1
# The longest text each field may carry (issue 8, fault 4); the gRPC API refuses longer ones
# before the zone sees them, the zone refuses them again for any other front end.
MAX_ID_NUMBER_CHARS = 32  # 18 significant, surrounding spaces allowed
MAX_NAME_CHARS = 64
MAX_PARTNER_CHARS = 64
# A partner is an organization's id or slug as its tokens' ``org`` claim names it: ASCII
# letters, digits, ``._-``, and no run of 7 digits (an ID or phone number is never a partner;
# the consent store keeps this field as is).
_PARTNER = re.compile(r"(?!.*[0-9]{7})[A-Za-z0-9][A-Za-z0-9._-]*")
# A client's nonce (issue 8, fault 11): hashed into the release, never logged.
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_T = TypeVar("_T")


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
        return InvalidField("partner", "not an organization id (letters, digits, . _ -)")
    if client_nonce and not _NONCE.fullmatch(client_nonce):
        return InvalidField("client_nonce", "16..64 characters of A-Z a-z 0-9 _ -")
    return None


class Tokenizer(Protocol):
    def token(self, column: str, value: str) -> bytes: ...


class PersonDirectory(Protocol):
    """What the checks need from the zone's registry (``enclave.Zone``)."""

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


class AuditTrail(Protocol):
    """The audit leaves of one call; each method returns once its leaves are durable."""

    def request(
        self,
        *,
        request_id: str,
        client_id: str,
        organization: str,
        method: str,
        purpose: str,
        consent_ref: str,
        person_token: bytes | None,
    ) -> None: ...
    def decision(
        self, *, request_id: str, allow: bool, reasons: Sequence[str], policy_version: str
    ) -> None: ...
    def allow_and_release(
        self, *, request_id: str, policy_version: str, result_hash: bytes
    ) -> Receipt:
        """Log the allowing decision and the release as consecutive leaves of one commit.

        Returns the receipt of the release leaf.
        """


@dataclass(frozen=True)
class Caller:
    """Who asks: the OAuth client and its organization (the partner), as authenticated."""

    client_id: str
    organization: str


@dataclass(frozen=True)
class EligibilityQuery:
    id_number: str
    benefit: Benefit | None
    as_of: dt.date | None
    purpose: str
    consent_ref: str = ""
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
class Answer(Generic[_T]):
    value: _T
    receipt: Receipt
    request_id: str


class PersonChecks:
    """The person-level checks over a registry, a consent store and an audit trail."""

    def __init__(
        self,
        *,
        directory: PersonDirectory,
        tokenizer: Tokenizer,
        consents: ConsentStore,
        audit: AuditTrail,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._directory = directory
        self._tokenizer = tokenizer
        self._consents = consents
        self._audit = audit
        self._clock = clock

    # -- partner calls -------------------------------------------------------------------
    def check_eligibility(
        self, caller: Caller, query: EligibilityQuery
    ) -> Answer[EligibilityDecision]:
        method = receipts.ELIGIBILITY_CHECK
        request_id, token, now = self._begin(caller, method, query.id_number, query)
        if query.benefit is None:
            self._refuse(request_id, InvalidField("benefit", "required"))
        consent = self._consent(caller, request_id, query, token, now)
        as_of = query.as_of or now.date()
        person = self._directory.person_by_token(token)  # validated and tokenized in _begin
        if person is None:
            decision = decide_eligibility("ACTIVE", (), query.benefit, as_of)  # NOT_ENROLLED
        else:
            enrolments = self._directory.enrolments(person.person_id)
            decision = decide_eligibility(person.status, enrolments, query.benefit, as_of)
        result = receipts.eligibility_fields(
            eligible=decision.eligible,
            coverage_class=decision.coverage_class,
            reasons=decision.reasons,
        )
        return self._release(
            request_id=request_id,
            method=method,
            consent=consent,
            now=now,
            value=decision,
            result=result,
            client_nonce=query.client_nonce,
        )

    def verify_identity(self, caller: Caller, query: IdentityQuery) -> Answer[DocumentVerdict]:
        method = receipts.IDENTITY_VERIFY
        request_id, token, now = self._begin(caller, method, query.id_number, query)
        if len(query.name) > MAX_NAME_CHARS:
            self._refuse(request_id, InvalidField("name", f"at most {MAX_NAME_CHARS} characters"))
        if query.selfie:
            self._refuse(request_id, SelfieNotSupported())
        if not query.name.strip():
            self._refuse(request_id, InvalidField("name", "required"))
        consent = self._consent(caller, request_id, query, token, now)
        person = self._directory.person_by_token(token)  # validated and tokenized in _begin
        verdict = verify_document(person, self._tokenizer.token("name", query.name))
        result = receipts.identity_fields(
            id_number_valid=verdict.id_number_valid,
            name_matches=verdict.name_matches,
            registry_status=verdict.registry_status,
        )
        return self._release(
            request_id=request_id,
            method=method,
            consent=consent,
            now=now,
            value=verdict,
            result=result,
            client_nonce=query.client_nonce,
        )

    # -- steward calls -------------------------------------------------------------------
    def grant_consent(
        self,
        caller: Caller,
        *,
        id_number: str,
        partner: str,
        purpose: str,
        valid_days: int = 365,
        single_use: bool = False,
        client_nonce: str = "",
    ) -> Answer[Consent]:
        method = receipts.GRANT_CONSENT
        request_id = uuid.uuid4().hex
        token = self._validated_token(
            caller=caller,
            request_id=request_id,
            method=method,
            id_number=id_number,
            purpose=purpose,
            consent_ref="",
        )
        if not partner.strip():
            self._refuse(request_id, InvalidField("partner", "required"))
        if (problem := field_problem(partner=partner, client_nonce=client_nonce)) is not None:
            self._refuse(request_id, problem)
        if not 1 <= valid_days <= MAX_CONSENT_DAYS:
            self._refuse(request_id, InvalidField("valid_days", f"1..{MAX_CONSENT_DAYS}"))
        person = self._directory.find_person(id_number)
        if person is None:
            self._refuse(request_id, PersonNotFound())
        now = self._clock()
        consent = self._consents.grant(
            partner=partner,
            person_token=token,
            person_id=person.person_id,
            purpose=purpose,
            valid_from=now,
            valid_until=now + dt.timedelta(days=valid_days),
            single_use=single_use,
        )
        fields = receipts.consent_grant_fields(
            consent_ref=consent.consent_ref, valid_until=consent.valid_until.date()
        )
        digest = receipts.result_hash(method, request_id, fields, client_nonce=client_nonce)
        receipt = self._audit.allow_and_release(
            request_id=request_id, policy_version=POLICY_VERSION, result_hash=digest
        )
        return Answer(consent, receipt, request_id)

    def revoke_consent(self, caller: Caller, consent_ref: str) -> Answer[Consent]:
        method = receipts.REVOKE_CONSENT
        request_id = uuid.uuid4().hex
        problem = field_problem(consent_ref=consent_ref) or (
            None if consent_ref else InvalidField("consent_ref", "required")
        )
        self._audit.request(
            request_id=request_id,
            client_id=caller.client_id,
            organization=caller.organization,
            method=method,
            purpose="",
            consent_ref="" if problem else consent_ref,
            person_token=None,
        )
        if problem is not None:
            self._refuse(request_id, problem)
        try:
            consent = self._consents.revoke(consent_ref, self._clock())
        except Exception as exc:
            self._refuse(request_id, exc)
        fields = receipts.consent_revoke_fields(consent_ref=consent_ref)
        digest = receipts.result_hash(method, request_id, fields)
        receipt = self._audit.allow_and_release(
            request_id=request_id, policy_version=POLICY_VERSION, result_hash=digest
        )
        return Answer(consent, receipt, request_id)

    # -- steps ---------------------------------------------------------------------------
    def _begin(
        self, caller: Caller, method: str, id_number: str, query: EligibilityQuery | IdentityQuery
    ) -> tuple[str, bytes, dt.datetime]:
        request_id = uuid.uuid4().hex
        token = self._validated_token(
            caller=caller,
            request_id=request_id,
            method=method,
            id_number=id_number,
            purpose=query.purpose,
            consent_ref=query.consent_ref,
        )
        if (problem := field_problem(client_nonce=query.client_nonce)) is not None:
            self._refuse(request_id, problem)
        return request_id, token, self._clock()

    def _validated_token(
        self,
        *,
        caller: Caller,
        request_id: str,
        method: str,
        id_number: str,
        purpose: str,
        consent_ref: str,
    ) -> bytes:
        token: bytes | None = None
        # Client text is logged only in its fixed format: a bad consent_ref is refused and
        # logged as none, an over-long ID number is never even tokenized.
        problem: Exception | None = field_problem(id_number=id_number, consent_ref=consent_ref)
        if problem is None:
            try:
                validate_id_number(normalize("id_number", id_number))
                token = self._tokenizer.token("id_number", id_number)
            except InvalidIdNumber as exc:
                problem = exc
        self._audit.request(
            request_id=request_id,
            client_id=caller.client_id,
            organization=caller.organization,
            method=method,
            purpose=purpose,
            consent_ref=consent_ref if CONSENT_REF.fullmatch(consent_ref) else "",
            person_token=token,
        )
        if problem is not None or token is None:
            self._refuse(request_id, problem or InvalidField("id_number", "required"))
        if not purpose:
            self._refuse(request_id, InvalidField("purpose", "required"))
        return token

    def _consent(
        self,
        caller: Caller,
        request_id: str,
        query: EligibilityQuery | IdentityQuery,
        token: bytes,
        now: dt.datetime,
    ) -> Consent:
        common = {
            "partner": caller.organization,
            "purpose": query.purpose,
            "at": now,
            "consent_ref": query.consent_ref or None,
        }
        consent = self._consents.find_valid(person_token=token, **common)  # type: ignore[arg-type]
        if consent is not None:
            return consent
        # Only now may the registry be asked: for guardians bound to this person. The same
        # work is done for a number the registry does not hold -- the binding lookup runs
        # against a person id no one has, the guardians' consent query runs with it -- so
        # the refusal takes as long either way (issue 8, fault 8: a known person without
        # consent answered measurably slower than an unknown number).
        found = self._directory.person_id_by_token(token)
        person_id = _NOBODY if found is None else found
        holders = self._directory.guardians(person_id, now)
        consent = self._consents.find_valid(person_ids=holders or (_NOBODY,), **common)  # type: ignore[arg-type]
        if found is not None and holders and consent is not None:
            return consent
        self._refuse(request_id, ConsentRequired())

    def _release(
        self,
        *,
        request_id: str,
        method: str,
        consent: Consent,
        now: dt.datetime,
        value: _T,
        result: receipts.ResultFields,
        client_nonce: str,
    ) -> Answer[_T]:
        if not self._consents.consume(consent, now):
            self._refuse(request_id, ConsentRequired())
        digest = receipts.result_hash(method, request_id, result, client_nonce=client_nonce)
        receipt = self._audit.allow_and_release(
            request_id=request_id, policy_version=POLICY_VERSION, result_hash=digest
        )
        return Answer(value, receipt, request_id)

    def _refuse(self, request_id: str, exc: Exception) -> NoReturn:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        self._audit.decision(
            request_id=request_id,
            allow=False,
            reasons=(str(reason),),
            policy_version=POLICY_VERSION,
        )
        raise exc
