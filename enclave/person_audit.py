"""The audit trail of person-level checks over the zone's :class:`enclave.audit.AuditLog`.

Each call appends ``RequestReceived`` (one commit, durable before the zone looks anything up),
then either a denying ``Decision`` or -- for an answer -- the allowing ``Decision`` and the
``Release`` as consecutive leaves of ONE commit (:meth:`AuditLog.append_many`), whose signed
checkpoint is stored with them and is the receipt's. Every method returns once its leaves are
durable, so an answer never leaves before them. The person appears only as the hex of their
keyed token. The receipt is that of the ``Release`` leaf and carries that leaf's bytes (ids
and hashes only, never a data value), so the partner can check it is the release of its answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from dataward.transparency import Receipt
from enclave.audit import AuditLog, AuditStorageError, Decision, Release, RequestReceived

__all__ = ["AuditLogTrail"]


class AuditLogTrail:
    """Implements :class:`enclave.person_checks.AuditTrail` over an :class:`AuditLog`."""

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

    def allow_and_release(
        self, *, request_id: str, policy_version: str, result_hash: bytes
    ) -> Receipt:
        appended = self._log.append_many(
            (
                Decision(
                    request_id=request_id, allow=True, reasons=(), policy_version=policy_version
                ),
                Release(
                    request_id=request_id, result_hash=result_hash.hex(), epsilon_spent_micro=0
                ),
            ),
            receipt=True,
        )
        if appended.receipt is None or appended.receipt.leaf is None:
            # fail closed: no answer leaves without its receipt and the release leaf it proves
            raise AuditStorageError("the audit log returned no receipt")
        return appended.receipt
