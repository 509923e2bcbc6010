"""The audit trails over the zone's :class:`~enclave.audit.AuditLog`: answers and refusals.

:class:`AuditLogTrail` implements :class:`enclave.release.AuditTrail`, the leaves of every
answer the release skeleton produces (issue 15: one durable commit per answer): a refusal is
the ``RequestReceived`` and the denying ``Decision`` as consecutive leaves of ONE commit
(:meth:`AuditLogTrail.request_and_decision`); an answer is the ``RequestReceived``, the
allowing ``Decision`` and the ``Release``, consecutive, in ONE commit
(:meth:`AuditLogTrail.request_allow_and_release`, one :meth:`AuditLog.append_many`), whose
signed checkpoint is stored with them and is the receipt's. A flow that must make its request
durable before a side effect logs it alone first (:meth:`AuditLogTrail.request`) and its
decision -- or decision and release (:meth:`AuditLogTrail.allow_and_release`) -- in the next
commit. Every method returns once its leaves are durable, so an answer never leaves before
them. The person appears only as the hex of their keyed token. The receipt is that of the
``Release`` leaf and carries that leaf's bytes (ids and hashes only, never a data value), so
the partner can check it is the release of its answer. :meth:`AuditLogTrail.answer_many` logs
a group of answers (a ``CheckBatch`` group, issue 15) the same way, all in ONE commit: each
answer its own request, decision and release leaves and its own receipt.

:meth:`AuditLogTrail.policy_changed` logs the ``policy_changed`` leaf of
:class:`enclave.policy.PolicyStore` (one commit, durable before the new version is stored);
:meth:`AuditLogTrail.steward_action` the ``steward_action`` leaf of a steward's review
decision (:class:`enclave.analytics.QueryReviews`, durable before the decision commits).

:class:`AuditLogRefusals` logs the refusals the API front end makes before the zone sees a
request (see below).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dataward.transparency import Receipt
from enclave.audit._log import AuditLog
from enclave.audit.errors import AuditStorageError
from enclave.audit.events import (
    AuditEvent,
    BudgetCharged,
    Decision,
    PolicyChanged,
    RefusalSummary,
    Release,
    RequestReceived,
    StewardAction,
)
from enclave.release import LoggedAnswer, LoggedDecision, LoggedRequest, new_request_id

__all__ = ["ACCESS_POLICY_VERSION", "AuditLogRefusals", "AuditLogTrail", "RefusalTrail"]

# The policy that refuses at the door: tokens, scopes, purposes, methods, limits.
ACCESS_POLICY_VERSION = "api-access/1"


class AuditLogTrail:
    """Implements :class:`enclave.release.AuditTrail` over an :class:`AuditLog`."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log

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
    ) -> None:
        self._log.append(
            RequestReceived(
                client_id=client_id,
                organization=organization,
                method=method,
                purpose=purpose,
                consent_ref=consent_ref or None,
                person_token=person_token.hex() if person_token is not None else None,
                request_id=request_id,
            )
        )

    def decision(
        self, *, request_id: str, allow: bool, reasons: Sequence[str], policy_version: str
    ) -> None:
        self._log.append(
            Decision(
                request_id=request_id,
                allow=allow,
                reasons=tuple(reasons),
                policy_version=policy_version,
            )
        )

    def request_batch(self, entries: Sequence[LoggedRequest]) -> None:
        if entries:
            self._log.append_many(
                [
                    RequestReceived(
                        client_id=e.client_id,
                        organization=e.organization,
                        method=e.method,
                        purpose=e.purpose,
                        consent_ref=e.consent_ref or None,
                        person_token=e.person_token.hex() if e.person_token is not None else None,
                        request_id=e.request_id,
                    )
                    for e in entries
                ]
            )

    def decision_batch(self, entries: Sequence[LoggedDecision]) -> None:
        if entries:
            self._log.append_many(
                [
                    Decision(
                        request_id=e.request_id,
                        allow=e.allow,
                        reasons=e.reasons,
                        policy_version=e.policy_version,
                    )
                    for e in entries
                ]
            )

    def allow_and_release(
        self,
        *,
        request_id: str,
        policy_version: str,
        result_hash: bytes,
        epsilon_spent_micro: int = 0,
    ) -> Receipt:
        appended = self._log.append_many(
            (
                Decision(
                    request_id=request_id, allow=True, reasons=(), policy_version=policy_version
                ),
                Release(
                    request_id=request_id,
                    result_hash=result_hash.hex(),
                    epsilon_spent_micro=epsilon_spent_micro,
                ),
            ),
            receipt=True,
        )
        if appended.receipt is None or appended.receipt.leaf is None:
            # fail closed: no answer leaves without its receipt and the release leaf it proves
            raise AuditStorageError("the audit log returned no receipt")
        return appended.receipt

    def request_and_decision(self, request: LoggedRequest, decision: LoggedDecision) -> None:
        """The request and its decision, consecutive leaves of ONE commit (a refusal)."""
        self._log.append_many((_request_event(request), _decision_event(decision)))

    def request_allow_and_release(
        self,
        request: LoggedRequest,
        *,
        policy_version: str,
        result_hash: bytes,
        epsilon_spent_micro: int = 0,
    ) -> Receipt:
        """The request, the allowing decision and the release, consecutive leaves of ONE
        commit; the receipt of the release leaf (which it carries)."""
        appended = self._log.append_many(
            (
                _request_event(request),
                Decision(
                    request_id=request.request_id,
                    allow=True,
                    reasons=(),
                    policy_version=policy_version,
                ),
                Release(
                    request_id=request.request_id,
                    result_hash=result_hash.hex(),
                    epsilon_spent_micro=epsilon_spent_micro,
                ),
            ),
            receipt=True,
        )
        if appended.receipt is None or appended.receipt.leaf is None:
            # fail closed: no answer leaves without its receipt and the release leaf it proves
            raise AuditStorageError("the audit log returned no receipt")
        return appended.receipt

    def budget_charged(
        self, *, request_id: str, charge_id: str, micro_epsilon: int, entry_hash: str, new: bool
    ) -> None:
        """Log a query's budget charge (durable on return), before the query runs."""
        self._log.append(
            BudgetCharged(
                request_id=request_id,
                charge_id=charge_id,
                micro_epsilon=micro_epsilon,
                entry_hash=entry_hash,
                new=new,
            )
        )

    def policy_changed(
        self,
        *,
        request_id: str,
        version: str,
        previous_version: str,
        client_id: str,
        organization: str,
    ) -> None:
        """Log that ``version`` replaces ``previous_version`` (durable on return)."""
        self._log.append(
            PolicyChanged(
                request_id=request_id,
                version=version,
                previous_version=previous_version,
                client_id=client_id,
                organization=organization,
            )
        )

    def steward_action(self, *, steward: str, action: str, target: str, detail: str) -> None:
        """Log that ``steward`` (the human: a token's ``sub``) did ``action`` on ``target``;
        ``detail`` in a fixed format (durable on return)."""
        self._log.append(
            StewardAction(steward=steward, action=action, target=target, detail=detail)
        )

    def answer_many(self, entries: Sequence[LoggedAnswer]) -> list[Receipt | None]:
        """Implements :meth:`enclave.release.GroupTrail.answer_many` (issue 15, a
        ``CheckBatch`` group): each entry's ``RequestReceived``, ``Decision`` and -- allowed --
        ``Release`` as consecutive leaves, all entries in ONE :meth:`AuditLog.append_many`
        whose one signed checkpoint every release's receipt rests on (each receipt carries its
        own release leaf's bytes). Durable on return; None for a denied entry."""
        if not entries:
            return []
        events: list[AuditEvent] = []
        releases: list[int] = []  # the position of each allowed entry's release leaf
        for e in entries:
            r = e.request
            events.append(
                RequestReceived(
                    client_id=r.client_id,
                    organization=r.organization,
                    method=r.method,
                    purpose=r.purpose,
                    consent_ref=r.consent_ref or None,
                    person_token=r.person_token.hex() if r.person_token is not None else None,
                    request_id=r.request_id,
                )
            )
            d = e.decision
            events.append(
                Decision(
                    request_id=d.request_id,
                    allow=d.allow,
                    reasons=d.reasons,
                    policy_version=d.policy_version,
                )
            )
            if e.result_hash is not None:
                releases.append(len(events))
                events.append(
                    Release(
                        request_id=r.request_id,
                        result_hash=e.result_hash.hex(),
                        epsilon_spent_micro=e.epsilon_spent_micro,
                    )
                )
        appended = self._log.append_many(events, receipts_at=releases)
        receipts = iter(appended.receipts)
        answered: list[Receipt | None] = []
        for e in entries:
            receipt = next(receipts, None) if e.result_hash is not None else None
            if e.result_hash is not None and (receipt is None or receipt.leaf is None):
                # fail closed: no answer leaves without its receipt and the leaf it proves
                raise AuditStorageError("the audit log returned no receipt")
            answered.append(receipt)
        return answered


def _request_event(e: LoggedRequest) -> RequestReceived:
    return RequestReceived(
        client_id=e.client_id,
        organization=e.organization,
        method=e.method,
        purpose=e.purpose,
        consent_ref=e.consent_ref or None,
        person_token=e.person_token.hex() if e.person_token is not None else None,
        request_id=e.request_id,
    )


def _decision_event(e: LoggedDecision) -> Decision:
    return Decision(
        request_id=e.request_id,
        allow=e.allow,
        reasons=tuple(e.reasons),
        policy_version=e.policy_version,
    )


# -- refusals made before the zone looked at a request --------------------------------------
# The audit trail of requests refused before the zone looked at them (issue 5 review).
#
# The API front end refuses some calls before :class:`enclave.persons.PersonChecks` logs
# anything: a token that does not verify, a scope, purpose or method not granted, a rate limit,
# a deadline too short. The zone's rule still holds for them -- every request and decision is an
# audit leaf before its answer is released -- so each such refusal is logged here as a
# ``RequestReceived`` and a denying ``Decision``, consecutive leaves of ONE durable commit
# (:meth:`AuditLog.append_many`), before the front end answers.
#
# What is logged is only what the front end has verified: the client and organization of a token
# that verified ("" otherwise -- never the raw token), the method, the purpose if it was parsed
# ("" otherwise). No person token: a request refused before authorization does not even get its
# identity number tokenized.


class RefusalTrail(Protocol):
    """Logs a refused request; returns once its leaves are durable, raises if they are not."""

    def refusal(
        self, *, client_id: str, organization: str, method: str, purpose: str, reason: str
    ) -> None: ...

    def summary(self, *, dropped: int, addresses: int, reason: str, window_seconds: int) -> None:
        """Log that ``dropped`` refusals from ``addresses`` client addresses were answered
        without leaves of their own over the last ``window_seconds`` (one leaf)."""


class AuditLogRefusals:
    """Implements :class:`RefusalTrail` over the zone's :class:`AuditLog`."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log

    def refusal(
        self, *, client_id: str, organization: str, method: str, purpose: str, reason: str
    ) -> None:
        request_id = new_request_id()
        self._log.append_many(
            (
                RequestReceived(
                    client_id=client_id,
                    organization=organization,
                    method=method,
                    purpose=purpose,
                    consent_ref=None,
                    person_token=None,
                    request_id=request_id,
                ),
                Decision(
                    request_id=request_id,
                    allow=False,
                    reasons=(reason,),
                    policy_version=ACCESS_POLICY_VERSION,
                ),
            )
        )

    def summary(self, *, dropped: int, addresses: int, reason: str, window_seconds: int) -> None:
        self._log.append(
            RefusalSummary(
                dropped=dropped,
                addresses=addresses,
                reason=reason,
                window_seconds=max(1, window_seconds),
                policy_version=ACCESS_POLICY_VERSION,
            )
        )
