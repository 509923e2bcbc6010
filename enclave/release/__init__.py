"""The one way an answer leaves the zone: request leaf, decision, release leaf, receipt.

:class:`Releaser` runs the steps over an :class:`AuditTrail` (the zone's audit log implements
it, :class:`enclave.audit.AuditLogTrail`); :class:`Caller` is who asks. Person-level checks
(:mod:`enclave.persons`) use it; queries and compute will.
"""

from enclave.release._skeleton import (
    AuditTrail,
    Caller,
    GroupItem,
    GroupTrail,
    LoggedAnswer,
    LoggedDecision,
    LoggedRequest,
    Releaser,
    Request,
    Settled,
    answers,
    new_request_id,
)

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
    "new_request_id",
]
