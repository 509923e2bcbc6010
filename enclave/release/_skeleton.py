"""The skeleton of every answer: request leaf, decide, release leaf with the result hash,
receipt -- or a denying decision leaf and the refusal.

Person-level checks, model cards, policy reads and the audit browser go through the same steps,
so that no answer can leave the zone any other way:

1. :meth:`Releaser.begin` opens the request (who, organization, method, purpose, consent
   reference, the person's *token*): its leaf is *pending* on the :class:`Request`, not yet
   logged;
2. the caller decides with its own rules;
3. either :meth:`Releaser.refuse` logs the request and a denying decision naming the
   refusal's one reason code (``ZoneError.reason``, the code the wire carries too) as
   consecutive leaves of ONE commit and raises the refusal, or :meth:`Releaser.release`
   hashes the answer's fields (:func:`dataward.receipts.result_hash`, with the client's
   nonce) and logs the request, the allowing decision and the release as consecutive leaves
   of ONE commit, returning the receipt of the release leaf (issue 15: one durable commit per
   answer).

A flow that takes a durable side effect before it answers (a face attempt counted, a score
claimed, a model registered, a consent granted, a budget charged) first makes its request
durable with :meth:`Releaser.log_now`, so that no effect is ever left without the request
that caused it; its decision (and release) then follow in one commit.

Nothing is returned before its leaves are durable, and nothing asked goes unlogged: a method
decorated with :func:`answers` logs every request it began and did not settle -- the request
(if still pending) and a denying decision, in one commit -- before an exception leaves it: a
zone error's own reason code, ``INTERNAL`` for any other fault (a storage fault, a bug), which
then propagates for the front end to answer. A request begun outside such a method is logged at
once by :meth:`Releaser.begin` (the request durable first, as before issue 15).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import NoReturn, ParamSpec, Protocol, TypeVar, runtime_checkable

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
    "answers",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")


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

    def request_and_decision(self, request: LoggedRequest, decision: LoggedDecision) -> None:
        """Log the request and its decision as consecutive leaves of ONE commit (a refusal of
        a request not logged yet), durable on return."""

    def request_allow_and_release(
        self,
        request: LoggedRequest,
        *,
        policy_version: str,
        result_hash: bytes,
        epsilon_spent_micro: int = 0,
    ) -> Receipt:
        """Log the request, the allowing decision and the release as consecutive leaves of
        ONE commit (issue 15: one durable commit per answer); the release leaf's receipt."""


class _RandomPool:
    """Bytes of ``os.urandom`` read 4 KiB at a time and handed out in order, each once.

    ``os.urandom`` gives Python's GIL up for its system call and must take it back after; on
    a busy server each take waited for another thread, and the group thread's request ids
    spent 8% of its time there (issue 15, py-spy under bench.grpc's load). One read serves
    about 400 request ids. A forked child starts with an empty pool (never its parent's
    bytes), so no two processes hand out the same ids.
    """

    _SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._at + n > len(self._pool):
                self._pool, self._at = os.urandom(max(self._SIZE, n)), 0
            taken = self._pool[self._at : self._at + n]
            self._at += n
        return taken

    def forget(self) -> None:
        self._lock = threading.Lock()  # a lock held by another thread at the fork stays held
        self._pool, self._at = b"", 0


_RANDOM = _RandomPool()
os.register_at_fork(after_in_child=_RANDOM.forget)
_random_bytes = _RANDOM.take


def new_request_id() -> str:
    """A new request id: 32 lowercase hex digits laid out as an RFC 9562 UUIDv7 -- 48 bits of
    Unix time in milliseconds, the version and variant, then 74 random bits.

    The audit store indexes every leaf by its request id. Random ids (UUID4s, before issue 15)
    put each insert on a random page of that index: a page written to the WAL per leaf and,
    once the index outgrows SQLite's page cache, a page read per leaf. Ids made at about the
    same time sort together, so inserts land at the index's right edge. The time they show is
    the request's, which its receipt carries anyway; 74 random bits keep them unguessable.
    """
    millis = time.time_ns() // 1_000_000 & (1 << 48) - 1
    bits = int.from_bytes(_random_bytes(10)) >> 6  # 74 bits
    value = millis << 80 | 0x7 << 76 | (bits >> 62) << 64 | 0b10 << 62 | bits & (1 << 62) - 1
    return f"{value:032x}"


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


@dataclass(eq=False)
class Request:
    """A request of one answer: its id and the method it asked.

    ``pending`` is its request leaf while it is not logged yet (None once durable): it is
    logged with the decision (:meth:`Releaser.refuse`, :meth:`Releaser.release`), or first by
    :meth:`Releaser.log_now`. ``settled``: its decision is logged (no other may follow).
    """

    request_id: str
    method: str
    pending: LoggedRequest | None = field(default=None, repr=False)
    settled: bool = False


# The requests begun inside the innermost :func:`answers` call of this context, each with the
# releaser that began it: what a fault must still log.
_OPEN: ContextVar[list[tuple[Releaser, Request]] | None] = ContextVar(
    "dataward_open_requests", default=None
)


class _FaultError(ZoneError):
    """Stands, in a denying decision leaf, for a fault that is not a zone error (INTERNAL)."""


@contextmanager
def _answering() -> Iterator[None]:
    opened: list[tuple[Releaser, Request]] = []
    token = _OPEN.set(opened)
    try:
        yield
    except BaseException as exc:
        refusal = exc if isinstance(exc, ZoneError) else _FaultError()
        for releaser, request in opened:
            if not request.settled:
                releaser.fail(request, refusal)
        raise
    finally:
        _OPEN.reset(token)
    undecided = [(r, q) for r, q in opened if not q.settled]
    for releaser, request in undecided:  # a bug: fail closed, the request logged as denied
        releaser.fail(request, _FaultError())
    if undecided:
        raise RuntimeError("a request was answered without its decision")


def answers(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate a zone method that begins requests (:meth:`Releaser.begin`): every request
    it began and did not settle is logged when an exception leaves it -- the request (if
    still pending) and a denying decision in one commit, the zone error's reason code or
    ``INTERNAL`` -- before the exception propagates; nothing asked goes unlogged, nothing is
    logged twice."""

    @functools.wraps(method)
    def answering(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _answering():
            return method(*args, **kwargs)

    return answering


class Releaser:
    """Runs the skeleton over an :class:`AuditTrail` under one policy version."""

    def __init__(self, trail: AuditTrail, policy_version: str) -> None:
        self._trail = trail
        self._policy_version = policy_version
        # Once: a Protocol isinstance walks the protocol's members (tens of us) on each call.
        self._group_trail = trail if isinstance(trail, GroupTrail) else None

    def begin(
        self,
        caller: Caller,
        method: str,
        *,
        purpose: str = "",
        consent_ref: str = "",
        person_token: bytes | None = None,
    ) -> Request:
        """Open the request; ``consent_ref`` only in its fixed format. Its leaf is logged with
        its decision (or first, :meth:`log_now`) -- inside an :func:`answers` method; outside
        one it is logged at once (durable on return)."""
        request_id = new_request_id()
        request = Request(
            request_id,
            method,
            LoggedRequest(
                request_id=request_id,
                client_id=caller.audited_as,
                organization=caller.organization,
                method=method,
                purpose=purpose,
                consent_ref=consent_ref,
                person_token=person_token,
            ),
        )
        opened = _OPEN.get()
        if opened is None:
            return self.log_now(request)
        opened.append((self, request))
        return request

    def log_now(self, request: Request) -> Request:
        """Make ``request``'s leaf durable now (one commit), before a durable side effect
        of the answer (a face attempt, a score claim, a registration, a budget charge); its
        decision follows later. ``request`` itself, whose leaf is then no longer pending."""
        pending = request.pending
        if pending is not None:
            self._trail.request(
                request_id=pending.request_id,
                client_id=pending.client_id,
                organization=pending.organization,
                method=pending.method,
                purpose=pending.purpose,
                consent_ref=pending.consent_ref,
                person_token=pending.person_token,
            )
            request.pending = None
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
        reference only in its fixed format -- in one commit (durable on return: their claims
        and consumptions follow), so that each person's "who checked me" shows the call; the
        members' requests, in order (their decisions: :meth:`decide_members`)."""
        requests = [Request(new_request_id(), method) for _ in members]
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
        opened = _OPEN.get()
        if opened is not None:
            opened.extend((self, request) for request in requests)
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
        for request, _ in outcomes:
            request.settled = True

    def refuse(self, request: Request, refusal: ZoneError) -> NoReturn:
        """Log a denying decision with the refusal's reason code -- with the request leaf in
        the same commit if it is still pending --, then raise the refusal."""
        self.fail(request, refusal)
        raise refusal

    def fail(self, request: Request, refusal: ZoneError) -> None:
        """Log ``request`` (if pending) and a denying decision with ``refusal``'s reason code
        in one commit, durable on return; raises nothing (the caller propagates its own
        exception). A request already settled is left as it is: never a second decision."""
        if request.settled:
            return
        decision = LoggedDecision(
            request_id=request.request_id,
            allow=False,
            reasons=(refusal.reason,),
            policy_version=self._policy_version,
        )
        pending = request.pending
        if pending is not None:
            self._trail.request_and_decision(pending, decision)
        else:
            self._trail.decision(
                request_id=decision.request_id,
                allow=False,
                reasons=decision.reasons,
                policy_version=decision.policy_version,
            )
        request.pending = None
        request.settled = True

    def release(
        self,
        request: Request,
        fields: receipts.ResultFields,
        *,
        client_nonce: str = "",
        epsilon_spent_micro: int = 0,
    ) -> Receipt:
        """Log the allowing decision and the release of ``fields`` (with the epsilon it
        spent) -- with the request leaf in the same commit if it is still pending --; the
        release's receipt, once its leaves are durable."""
        if request.settled:  # a bug: a request is decided once
            raise RuntimeError("this request is already decided")
        digest = receipts.result_hash(
            request.method, request.request_id, fields, client_nonce=client_nonce
        )
        pending = request.pending
        if pending is not None:
            receipt = self._trail.request_allow_and_release(
                pending,
                policy_version=self._policy_version,
                result_hash=digest,
                epsilon_spent_micro=epsilon_spent_micro,
            )
        else:
            receipt = self._trail.allow_and_release(
                request_id=request.request_id,
                policy_version=self._policy_version,
                result_hash=digest,
                epsilon_spent_micro=epsilon_spent_micro,
            )
        request.pending = None
        request.settled = True
        return receipt

    def settle_group(
        self, caller: Caller, method: str, items: Sequence[GroupItem]
    ) -> list[Settled]:
        """Log, for each of ``items``, its request leaf, its decision leaf (allowing, or
        denying with the refusal's reason code) and, when allowed, the release of its fields
        (with its client's nonce) -- all the group's leaves in ONE commit (issue 15: a
        ``CheckBatch`` group); returns once they are durable, each item's request and the
        receipt of its release leaf (None: refused). Nothing is raised for a refusal: an
        item's refusal is the item's, not the group's."""
        trail = self._group_trail
        if trail is None:  # a wiring bug: fail closed, log nothing half
            raise TypeError("this audit trail cannot log a group of answers in one commit")
        requests = [Request(new_request_id(), method) for _ in items]
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
