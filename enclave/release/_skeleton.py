"""The skeleton of every answer: request leaf, decide, release leaf with the result hash,
receipt -- or a denying decision leaf and the refusal.

Person-level checks use it today; aggregate queries and homomorphic compute will go through
the same steps, so that no answer can leave the zone any other way:

1. :meth:`Releaser.begin` logs the request (who, organization, method, purpose, consent
   reference, the person's *token*) and returns once that leaf is durable;
2. the caller decides with its own rules;
3. either :meth:`Releaser.refuse` logs a denying decision naming the refusal's one reason
   code (``ZoneError.reason``, the code the wire carries too) and raises the refusal, or
   :meth:`Releaser.release` hashes the answer's fields (:func:`dataward.receipts.result_hash`,
   with the client's nonce) and logs the allowing decision and the release as consecutive
   leaves of ONE commit, returning the receipt of the release leaf.

Nothing is returned before its leaves are durable. Only zone errors are refusals: anything
else (a storage fault, a bug) propagates unlogged as a denial, for the front end to answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn, Protocol, runtime_checkable

from dataward import receipts
from dataward.transparency import Receipt
from enclave.errors import ZoneError

__all__ = [
    "AuditTrail",
    "Caller",
    "GroupItem",
    "GroupTrail",
    "LoggedAnswer",
    "LoggedDecision",
    "LoggedRequest",
    "Releaser",
    "Request",
    "Settled",
]


@dataclass(frozen=True)
class LoggedRequest:
    """One request leaf of a batch (:meth:`AuditTrail.request_batch`): the fields of
    :meth:`AuditTrail.request`."""

    request_id: str
    client_id: str
    organization: str
    method: str
    purpose: str
    consent_ref: str
    person_token: bytes | None


@dataclass(frozen=True)
class LoggedDecision:
    """One decision leaf of a batch (:meth:`AuditTrail.decision_batch`)."""

    request_id: str
    allow: bool
    reasons: tuple[str, ...]
    policy_version: str


class AuditTrail(Protocol):
    """The audit leaves of one answer; each method returns once its leaves are durable."""

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
    def request_batch(self, entries: Sequence[LoggedRequest]) -> None:
        """Log many request leaves in ONE commit (a batch's persons), durable on return."""

    def decision_batch(self, entries: Sequence[LoggedDecision]) -> None:
        """Log many decision leaves in ONE commit, durable on return."""

    def allow_and_release(
        self,
        *,
        request_id: str,
        policy_version: str,
        result_hash: bytes,
        epsilon_spent_micro: int = 0,
    ) -> Receipt:
        """Log the allowing decision and the release as consecutive leaves of one commit
        (the release with the privacy budget this answer spent, micro-epsilon).

        Returns the receipt of the release leaf.
        """


@dataclass(frozen=True)
class Caller:
    """Who asks, as authenticated: the OAuth client, its organization (the partner) and the
    purposes a steward granted its app (``None``: not a partner call, e.g. the operator).

    ``subject`` is the person acting through the client when that is not the client itself:
    the steward a steward-review call comes from (the token's ``sub``, e.g. ``user:3``),
    whom the zone authorizes and audits -- never the portal's client alone. Empty: the client
    acts for itself.
    """

    client_id: str
    organization: str
    purposes: frozenset[str] | None = None
    subject: str = ""

    @property
    def audited_as(self) -> str:
        """Who the request leaf names: ``<client>/<subject>`` when a subject acts through
        the client, else the client."""
        if self.subject and self.subject != self.client_id:
            return f"{self.client_id}/{self.subject}"
        return self.client_id


@dataclass(frozen=True)
class Request:
    """A request whose leaf is durable: its id and the method it asked."""

    request_id: str
    method: str


class Releaser:
    """Runs the skeleton over an :class:`AuditTrail` under one policy version."""

    def __init__(self, trail: AuditTrail, policy_version: str) -> None:
        self._trail = trail
        self._policy_version = policy_version

    def begin(
        self,
        caller: Caller,
        method: str,
        *,
        purpose: str = "",
        consent_ref: str = "",
        person_token: bytes | None = None,
    ) -> Request:
        """Log the request (durable on return); ``consent_ref`` only in its fixed format."""
        request = Request(uuid.uuid4().hex, method)
        self._trail.request(
            request_id=request.request_id,
            client_id=caller.audited_as,
            organization=caller.organization,
            method=method,
            purpose=purpose,
            consent_ref=consent_ref,
            person_token=person_token,
        )
        return request

    def begin_members(
        self,
        caller: Caller,
        method: str,
        *,
        purpose: str,
        members: Sequence[tuple[str, bytes | None]],
    ) -> list[Request]:
        """Log one request leaf per member of a batch -- ``(consent_ref, person_token)``, the
        reference only in its fixed format -- in one commit (durable on return), so that each
        person's "who checked me" shows the call; the members' requests, in order."""
        requests = [Request(uuid.uuid4().hex, method) for _ in members]
        self._trail.request_batch(
            [
                LoggedRequest(
                    request_id=request.request_id,
                    client_id=caller.audited_as,
                    organization=caller.organization,
                    method=method,
                    purpose=purpose,
                    consent_ref=consent_ref,
                    person_token=token,
                )
                for request, (consent_ref, token) in zip(requests, members, strict=True)
            ]
        )
        return requests

    def decide_members(self, outcomes: Sequence[tuple[Request, ZoneError | None]]) -> None:
        """Log each member's decision in one commit: allowing (None) or denying with the
        refusal's reason code. Nothing is raised: a member's refusal is not the batch's."""
        self._trail.decision_batch(
            [
                LoggedDecision(
                    request_id=request.request_id,
                    allow=refusal is None,
                    reasons=() if refusal is None else (refusal.reason,),
                    policy_version=self._policy_version,
                )
                for request, refusal in outcomes
            ]
        )

    def refuse(self, request: Request, refusal: ZoneError) -> NoReturn:
        """Log a denying decision with the refusal's reason code, then raise it."""
        self._trail.decision(
            request_id=request.request_id,
            allow=False,
            reasons=(refusal.reason,),
            policy_version=self._policy_version,
        )
        raise refusal

    def release(
        self,
        request: Request,
        fields: receipts.ResultFields,
        *,
        client_nonce: str = "",
        epsilon_spent_micro: int = 0,
    ) -> Receipt:
        """Log the allowing decision and the release of ``fields`` (with the epsilon it
        spent); the release's receipt."""
        digest = receipts.result_hash(
            request.method, request.request_id, fields, client_nonce=client_nonce
        )
        return self._trail.allow_and_release(
            request_id=request.request_id,
            policy_version=self._policy_version,
            result_hash=digest,
            epsilon_spent_micro=epsilon_spent_micro,
        )

    def settle_group(
        self, caller: Caller, method: str, items: Sequence[GroupItem]
    ) -> list[Settled]:
        """Log, for each of ``items``, its request leaf, its decision leaf (allowing, or
        denying with the refusal's reason code) and, when allowed, the release of its fields
        (with its client's nonce) -- all the group's leaves in ONE commit (issue 15: a
        ``CheckBatch`` group); returns once they are durable, each item's request and the
        receipt of its release leaf (None: refused). Nothing is raised for a refusal: an
        item's refusal is the item's, not the group's."""
        trail = self._trail
        if not isinstance(trail, GroupTrail):  # a wiring bug: fail closed, log nothing half
            raise TypeError("this audit trail cannot log a group of answers in one commit")
        requests = [Request(uuid.uuid4().hex, method) for _ in items]
        entries = [
            _logged_answer(caller, request, item, self._policy_version)
            for request, item in zip(requests, items, strict=True)
        ]
        landed = trail.answer_many(entries)
        if len(landed) != len(entries) or any(
            (receipt is None) != (entry.result_hash is None)
            for receipt, entry in zip(landed, entries, strict=False)
        ):  # fail closed: no answer leaves without the receipt of its own release leaf
            raise RuntimeError("the audit trail answered another group than it was given")
        return [Settled(r, receipt) for r, receipt in zip(requests, landed, strict=True)]


# -- a group of answers in one commit (issue 15: CheckBatch as the bulk path) ----------------


@dataclass(frozen=True)
class LoggedAnswer:
    """One answer of a group (:meth:`GroupTrail.answer_many`): its request leaf, its decision
    leaf and, when the decision allows, the release leaf's result hash."""

    request: LoggedRequest
    decision: LoggedDecision
    result_hash: bytes | None  # None exactly when the decision denies
    epsilon_spent_micro: int = 0


@runtime_checkable
class GroupTrail(Protocol):
    """An :class:`AuditTrail` that also logs many answers in ONE commit."""

    def answer_many(self, entries: Sequence[LoggedAnswer]) -> list[Receipt | None]:
        """Log each entry's request, decision and (allowed) release leaves, consecutive, in
        one commit (durable on return); the receipt of each release leaf, None for a denial,
        in the entries' order, all under the one checkpoint signed for that commit."""


@dataclass(frozen=True)
class GroupItem:
    """One item of :meth:`Releaser.settle_group`: what its request leaf says (the consent
    reference only in its fixed format, the person only as their token) and its outcome --
    the refusal, or the fields of the answer to release (hashed with ``client_nonce``)."""

    purpose: str
    consent_ref: str
    person_token: bytes | None
    outcome: ZoneError | receipts.ResultFields
    client_nonce: str = ""


@dataclass(frozen=True)
class Settled:
    """An item of a group whose leaves are durable: its request and, if it was released,
    the receipt of its release leaf (None: refused)."""

    request: Request
    receipt: Receipt | None


def _logged_answer(
    caller: Caller, request: Request, item: GroupItem, policy_version: str
) -> LoggedAnswer:
    outcome = item.outcome
    refusal = outcome if isinstance(outcome, ZoneError) else None
    digest = (
        None
        if isinstance(outcome, ZoneError)
        else receipts.result_hash(
            request.method, request.request_id, outcome, client_nonce=item.client_nonce
        )
    )
    return LoggedAnswer(
        request=LoggedRequest(
            request_id=request.request_id,
            client_id=caller.audited_as,
            organization=caller.organization,
            method=request.method,
            purpose=item.purpose,
            consent_ref=item.consent_ref,
            person_token=item.person_token,
        ),
        decision=LoggedDecision(
            request_id=request.request_id,
            allow=refusal is None,
            reasons=() if refusal is None else (refusal.reason,),
            policy_version=policy_version,
        ),
        result_hash=digest,
    )
