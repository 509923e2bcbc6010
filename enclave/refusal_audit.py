"""The audit trail of requests refused before the zone looked at them (issue 5 review).

The API front end refuses some calls before :class:`enclave.person_checks.PersonChecks` logs
anything: a token that does not verify, a scope, purpose or method not granted, a rate limit,
a deadline too short. The zone's rule still holds for them -- every request and decision is an
audit leaf before its answer is released -- so each such refusal is logged here as a
``RequestReceived`` and a denying ``Decision``, consecutive leaves of ONE durable commit
(:meth:`AuditLog.append_many`), before the front end answers.

What is logged is only what the front end has verified: the client and organization of a token
that verified ("" otherwise -- never the raw token), the method, the purpose if it was parsed
("" otherwise). No person token: a request refused before authorization does not even get its
identity number tokenized.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from enclave.audit import AuditLog, Decision, RefusalSummary, RequestReceived

__all__ = ["ACCESS_POLICY_VERSION", "AuditLogRefusals", "RefusalTrail"]

# The policy that refuses at the door: tokens, scopes, purposes, methods, limits.
ACCESS_POLICY_VERSION = "api-access/1"


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
        request_id = uuid.uuid4().hex
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
