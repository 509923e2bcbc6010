"""Unary checks that arrive together, checked as one group (issue 15).

Each ``Check`` call (and ``Verify`` without a selfie) used to run the whole zone pipeline on
its own gRPC worker thread: dozens of threads taking turns at the one GIL for the HMAC, the
index probes, the rules and the leaves, and each answer its own hand-off to the audit
committer. Here a worker hands its query to ONE thread, ``check-groups``, and waits. That
thread takes every query waiting (at most ``group``), in order, and checks those of each kind
and caller as one group through :meth:`PersonChecks.check_eligibility_many` (or
``verify_identity_many``) -- the ``CheckBatch`` path: each query its own request, decision
and release leaves and its own receipt, the group's leaves in one commit, durable before any
answer is handed back. While a group's commit is being made the next queries gather, so a
busy server makes bigger groups and an idle one answers a lone call at once (one thread hop
later). A ``Verify`` with a selfie is checked alone, on its worker, as before: its face
attempt is made durable before the face is checked.

A query's refusal is that call's error, as the unary call raised it; a fault of one query
(a bug on it) fails that call INTERNAL, logged denied by the zone; a fault of the group itself
(the audit log is down: nothing was released) fails every call of the group with it.

Measured with ``bench.grpc`` (the full stack, 32 client threads, 2 cores): 1,085-1,235 checks/s
(medians of two runs) at 2.6-2.8x the server CPU of a bare echo call, against 856/s and 3.3x
the same hour with each worker checking alone. A scratch variant with two grouping threads
gave the gain back (they contend for the GIL as the workers did), so there is one. Nor does
it check the next group while a group's commit is made: measured that way (a scratch split
of the zone's group into "hand the leaves to the log" and "answer once durable"), groups got
smaller and commits more frequent, and the server answered 800-900 checks/s against
1,100-1,250 -- the wait for the commit is what lets the next group gather.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from enclave.audit import Handoff
from enclave.errors import ZoneError
from enclave.persons import (
    Answer,
    DocumentVerdict,
    EligibilityDecision,
    EligibilityQuery,
    IdentityQuery,
    ItemFault,
    PersonChecks,
)
from enclave.release import Caller
from grpc_api.errors import Unavailable

__all__ = ["GroupedChecks"]

_log = logging.getLogger("dataward.grpc")
_Query = EligibilityQuery | IdentityQuery
_Outcome = Answer[Any] | ZoneError


@dataclass(frozen=True)
class _Asked:
    caller: Caller
    query: _Query
    answer: Handoff[_Outcome] = field(default_factory=Handoff)


class GroupedChecks:
    """``check`` and ``verify`` as :meth:`PersonChecks.check_eligibility` and
    :meth:`~PersonChecks.verify_identity` answer them, the queries waiting at the same time
    checked as one group (of one kind and one caller) on one thread."""

    def __init__(self, checks: PersonChecks, group: int) -> None:
        if group < 1:
            raise ValueError("a group holds at least one check")
        self._checks = checks
        self._group = group
        self._waiting: queue.SimpleQueue[_Asked | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="check-groups", daemon=True)
        self._thread.start()

    def check(self, caller: Caller, query: EligibilityQuery) -> Answer[EligibilityDecision]:
        """The answer, once its leaves are durable; raises the call's refusal or fault."""
        return self._asked(caller, query)

    def verify(self, caller: Caller, query: IdentityQuery) -> Answer[DocumentVerdict]:
        """:meth:`check` for an identity-document query; one with a selfie is checked alone
        (its face attempt is made durable first, which a group cannot do)."""
        if query.selfie:
            return self._checks.verify_identity(caller, query)
        return self._asked(caller, query)

    def _asked(self, caller: Caller, query: _Query) -> Answer[Any]:
        asked = _Asked(caller, query)
        with self._lock:  # nothing is queued after close()'s end marker
            if self._closed:
                raise Unavailable("the server is stopping; retry later")
            self._waiting.put(asked)
        outcome = asked.answer.result()
        if isinstance(outcome, Answer):
            return outcome
        if isinstance(outcome, ItemFault) and outcome.__cause__ is not None:
            # A bug on this query: logged denied INTERNAL by the zone; raised as the unary call
            # raised it, so its kind reaches the operator's log. Any other zone error (a zone
            # fault raised from a raw one too) is raised itself, with its own status.
            raise outcome.__cause__
        raise outcome

    def close(self) -> None:
        """End the thread once it has checked what was asked before (the server has stopped
        taking calls by then); a later ``check`` is UNAVAILABLE at once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._waiting.put(None)
        self._thread.join()

    def _run(self) -> None:
        closing = False
        while not closing:
            first = self._waiting.get()
            if first is None:
                break
            taken = [first]
            while len(taken) < self._group:
                try:
                    asked = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if asked is None:
                    closing = True
                    break
                taken.append(asked)
            groups: dict[tuple[bool, Caller], list[_Asked]] = {}
            for asked in taken:
                kind = isinstance(asked.query, EligibilityQuery)
                try:
                    groups.setdefault((kind, asked.caller), []).append(asked)
                except Exception as exc:  # a caller that cannot key a group: that call fails
                    asked.answer.set_exception(exc)
            for (eligibility, caller), group in groups.items():
                self._answer(eligibility, caller, group)
        # None can be queued after the end marker: close() puts it holding the lock.

    def _answer(self, eligibility: bool, caller: Caller, group: list[_Asked]) -> None:
        try:
            outcomes: list[Any]
            if eligibility:
                outcomes = self._checks.check_eligibility_many(
                    caller, [a.query for a in group if isinstance(a.query, EligibilityQuery)]
                )
            else:
                outcomes = self._checks.verify_identity_many(
                    caller, [a.query for a in group if isinstance(a.query, IdentityQuery)]
                )
            if len(outcomes) != len(group):
                raise RuntimeError("a group of checks was answered with another count")
        except BaseException as exc:  # each caller raises it; the thread goes on
            for asked in group:
                asked.answer.set_exception(exc)
            if not isinstance(exc, Exception):
                _log.error("check_group_failed", extra={"error": type(exc).__name__})
            return
        for asked, outcome in zip(group, outcomes, strict=True):
            asked.answer.set_result(outcome)
