"""Many eligibility checks in one commit: the zone side of ``CheckBatch`` (issue 15).

:func:`check_eligibility_many` runs, for each query of a group, exactly the steps of
:meth:`PersonChecks.check_eligibility` -- the purpose the caller's app holds, the fields in
their fixed format, the ID number (tokenized only once it is valid and the purpose granted),
the consent **by token first**, then the guardians' with the same work for a person the
registry does not hold (:meth:`PersonChecks._find_consent`), the rules, the single-use
consumption -- and then logs the whole group with ONE :meth:`Releaser.settle_group`: each item
its own request leaf, its decision leaf (allowing, or denying with its refusal's reason code)
and, allowed, its release leaf with the result hash of its own fields and client nonce; each
released item gets the receipt of its own release leaf, all under the one checkpoint signed for
that commit. Nothing is returned before the group's leaves are durable.

A refusal (a :class:`~enclave.errors.ZoneError`, the zone's own faults with a reason code
included) is the item's answer, not the group's -- and so is anything else an item's steps
raise (a bug, a store's raw fault): that item is logged with its request leaf as far as it
was built and a denying decision (``INTERNAL``), and answered with :class:`ItemFault`, whose
``__cause__`` is what was raised; the other items go on. So every item released in the log
is an item answered (an earlier item's single-use consent, consumed, is not lost to a later
item's fault), and a caller can deliver every answer of the group. Only a fault before any
item (the clock) or of the commit itself (the log is down) propagates: then nothing of the
group is released.

The group shares one clock reading: a consent revoked before the group started is not
honoured; one revoked while it runs may be, exactly as for a unary call in flight.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from dataward import receipts
from enclave.consent import Consent, ConsentStore
from enclave.errors import ZoneError
from enclave.keys import normalize
from enclave.persons.eligibility import EligibilityDecision, decide_eligibility
from enclave.persons.errors import ConsentRequired, InvalidField, PurposeNotGranted
from enclave.persons.fields import MAX_NAME_CHARS, field_problem
from enclave.persons.identity import DocumentVerdict, verify_document
from enclave.persons.idnumber import InvalidIdNumber, validate_id_number
from enclave.persons.interface import (
    Answer,
    EligibilityQuery,
    IdentityQuery,
    PersonDirectory,
    Tokenizer,
)
from enclave.release import Caller, GroupItem, Releaser

__all__ = ["BatchSteps", "ItemFault", "check_eligibility_many", "verify_identity_many"]

_V = TypeVar("_V")
_Q = TypeVar("_Q", EligibilityQuery, IdentityQuery)
FindConsent = Callable[[Caller, str, str, bytes, dt.datetime], Consent | None]


class ItemFault(ZoneError):  # noqa: N818 (names of the zone API)
    """One item's steps raised something that is not a zone error (its ``__cause__``): the
    item is logged denied with ``INTERNAL`` and answered with this, as the unary call would
    have failed."""

    default_message = "the zone could not answer this item"
    request_id = ""  # the item's audit request id, once it is logged


@dataclass(frozen=True)
class BatchSteps:
    """What the group's steps use: :class:`PersonChecks`' own collaborators and its consent
    lookup and consent-reference check (read-only, so the batch cannot drift from the unary
    call)."""

    directory: PersonDirectory
    tokenizer: Tokenizer
    consents: ConsentStore
    release: Releaser
    clock: Callable[[], dt.datetime]
    find_consent: FindConsent
    loggable_ref: Callable[[str], str]


@dataclass
class _Item(Generic[_V]):
    """One query as far as it got: what its request leaf says, and its outcome."""

    purpose: str
    consent_ref: str = ""  # only in the zone's fixed format (see PersonChecks._loggable_ref)
    token: bytes | None = None
    outcome: ZoneError | _V | None = None
    client_nonce: str = ""

    def settled_as(self, outcome: ZoneError | receipts.ResultFields) -> GroupItem:
        return GroupItem(self.purpose, self.consent_ref, self.token, outcome, self.client_nonce)


def check_eligibility_many(
    steps: BatchSteps, caller: Caller, queries: Sequence[EligibilityQuery]
) -> list[Answer[EligibilityDecision] | ZoneError]:
    """Each query's answer (with its own receipt) or its refusal, in the queries' order; the
    group's leaves in one commit (see the module docstring)."""
    return _many(
        steps, caller, queries, receipts.ELIGIBILITY_CHECK, EligibilityDecision, _decide, _fields
    )


def verify_identity_many(
    steps: BatchSteps, caller: Caller, queries: Sequence[IdentityQuery]
) -> list[Answer[DocumentVerdict] | ZoneError]:
    """:func:`check_eligibility_many` for identity-document checks without a selfie: each
    query the steps of :meth:`PersonChecks.verify_identity` (a query with a selfie is not
    one of them: that item fails, logged ``INTERNAL``; a selfie's face attempt is made
    durable before it is checked, which a group cannot do)."""
    return _many(
        steps, caller, queries, receipts.IDENTITY_VERIFY, DocumentVerdict, _verify, _verdict_fields
    )


def _many(  # noqa: PLR0917 (the kind's own steps, in their order)
    steps: BatchSteps,
    caller: Caller,
    queries: Sequence[_Q],
    method: str,
    kind: type[_V],
    decide: Callable[[BatchSteps, Caller, _Q, _Item[_V], dt.datetime], ZoneError | _V],
    fields: Callable[[_V], receipts.ResultFields],
) -> list[Answer[_V] | ZoneError]:
    if not queries:
        return []
    items: list[_Item[_V]] = [_Item(purpose=q.purpose) for q in queries]
    try:
        now = steps.clock()
    except Exception as exc:
        fault = ItemFault()
        fault.__cause__ = exc
        steps.release.settle_group(caller, method, [item.settled_as(fault) for item in items])
        raise
    for item, query in zip(items, queries, strict=True):
        _check(steps, caller, query, item, now, decide)
    group: list[GroupItem] = []
    for item in items:
        outcome = item.outcome
        if isinstance(outcome, kind):
            group.append(item.settled_as(fields(outcome)))
        else:
            group.append(
                item.settled_as(outcome if isinstance(outcome, ZoneError) else ItemFault())
            )
    settled = steps.release.settle_group(caller, method, group)
    answers: list[Answer[_V] | ZoneError] = []
    for item, done in zip(items, settled, strict=True):
        outcome = item.outcome
        if isinstance(outcome, kind) and done.receipt is not None:
            answers.append(Answer(outcome, done.receipt, done.request.request_id))
        elif isinstance(outcome, ZoneError):
            if isinstance(outcome, ItemFault):  # the operator's way to its audit leaves
                outcome.request_id = done.request.request_id
            answers.append(outcome)
        else:  # pragma: no cover (settle_group hands a receipt to every allowed item)
            raise RuntimeError("an allowed item has no receipt")
    return answers


def _check(  # noqa: PLR0917 (the group's step for one item)
    steps: BatchSteps,
    caller: Caller,
    query: _Q,
    item: _Item[_V],
    now: dt.datetime,
    decide: Callable[[BatchSteps, Caller, _Q, _Item[_V], dt.datetime], ZoneError | _V],
) -> None:
    """Fill ``item`` from ``query``: its request leaf's fields, then its outcome (a refusal,
    a fault, or the result with its single-use consent consumed)."""
    try:
        item.outcome = decide(steps, caller, query, item, now)
    except ZoneError as exc:  # a refusal, or a zone fault with its reason code: the item's
        item.outcome = exc
    except Exception as exc:  # not a zone error: still the item's answer, logged INTERNAL
        fault = ItemFault()
        fault.__cause__ = exc
        item.outcome = fault


def _begun(
    steps: BatchSteps, caller: Caller, query: EligibilityQuery | IdentityQuery, item: _Item[_V]
) -> ZoneError | bytes:
    """The steps every kind begins with, in the order of PersonChecks._validated_token and
    _begin: authorization first (a purpose the app does not hold: the ID number is not even
    tokenized), the fields' fixed formats, the ID number's rules, then the request leaf's
    consent reference and the client nonce. Their refusal, or the person's token (``item``
    filled)."""
    problem: ZoneError | None = None
    if caller.purposes is not None and query.purpose not in caller.purposes:
        problem = PurposeNotGranted()
    problem = problem or field_problem(id_number=query.id_number, consent_ref=query.consent_ref)
    if problem is None:
        try:
            validate_id_number(normalize("id_number", query.id_number))
            item.token = steps.tokenizer.token("id_number", query.id_number)
        except InvalidIdNumber as exc:
            problem = exc
    item.consent_ref = steps.loggable_ref(query.consent_ref)
    token = item.token
    if problem is not None or token is None:
        return problem or InvalidField("id_number", "required")
    if not query.purpose:
        return InvalidField("purpose", "required")
    if (problem := field_problem(client_nonce=query.client_nonce)) is not None:
        return problem
    item.client_nonce = query.client_nonce
    return token


def _decide(
    steps: BatchSteps,
    caller: Caller,
    query: EligibilityQuery,
    item: _Item[EligibilityDecision],
    now: dt.datetime,
) -> ZoneError | EligibilityDecision:
    token = _begun(steps, caller, query, item)
    if isinstance(token, ZoneError):
        return token
    if query.benefit is None:
        return InvalidField("benefit", "required")
    consent = steps.find_consent(caller, query.purpose, query.consent_ref, token, now)
    if consent is None:
        return ConsentRequired()
    as_of = query.as_of or now.date()
    person = steps.directory.person_by_token(token)
    if person is None:
        decision = decide_eligibility("ACTIVE", (), query.benefit, as_of)  # NOT_ENROLLED
    else:
        enrolments = steps.directory.enrolments(person.person_id)
        decision = decide_eligibility(person.status, enrolments, query.benefit, as_of)
    if not steps.consents.consume(consent, now):
        return ConsentRequired()
    return decision


def _verify(
    steps: BatchSteps,
    caller: Caller,
    query: IdentityQuery,
    item: _Item[DocumentVerdict],
    now: dt.datetime,
) -> ZoneError | DocumentVerdict:
    if query.selfie:  # routed to verify_identity by whoever groups; here a bug
        raise ValueError("a query with a selfie is checked alone")
    token = _begun(steps, caller, query, item)
    if isinstance(token, ZoneError):
        return token
    # The order of PersonChecks.verify_identity: the name, then the consent.
    if len(query.name) > MAX_NAME_CHARS:
        return InvalidField("name", f"at most {MAX_NAME_CHARS} characters")
    if not query.name.strip():
        return InvalidField("name", "required")
    consent = steps.find_consent(caller, query.purpose, query.consent_ref, token, now)
    if consent is None:
        return ConsentRequired()
    person = steps.directory.person_by_token(token)
    verdict = verify_document(person, steps.tokenizer.token("name", query.name))
    if not steps.consents.consume(consent, now):
        return ConsentRequired()
    return verdict


def _verdict_fields(verdict: DocumentVerdict) -> receipts.ResultFields:
    return receipts.identity_fields(
        id_number_valid=verdict.id_number_valid,
        name_matches=verdict.name_matches,
        registry_status=verdict.registry_status,
        face=None,
    )


def _fields(decision: EligibilityDecision) -> receipts.ResultFields:
    return receipts.eligibility_fields(
        eligible=decision.eligible,
        coverage_class=decision.coverage_class,
        reasons=decision.reasons,
    )
