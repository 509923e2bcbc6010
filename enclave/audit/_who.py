""" "Who checked me": the partners that asked about one person, and what was decided.

Only what the person is entitled to see: organization, client, when, purpose and the
decision. Never the reasons, the policy internals or the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from enclave.audit._reader import AuditReader
from enclave.audit.events import Decision, RequestReceived


@dataclass(frozen=True)
class CheckEntry:
    organization: str
    client_id: str
    time: datetime
    purpose: str
    # "allow", "deny", or "pending" while no decision is logged for the request.
    decision: str


def who_checked(log: AuditReader, person_token: bytes) -> list[CheckEntry]:
    """Every request about the person with this 32-byte token, oldest first."""
    token = person_token.hex()
    requests = [e for e in log.events_about(token) if isinstance(e.event, RequestReceived)]
    ids = [e.event.request_id for e in requests if isinstance(e.event, RequestReceived)]
    decisions: dict[str, str] = {}
    for logged in log.events_for_requests(ids):
        if isinstance(logged.event, Decision):
            decisions[logged.event.request_id] = "allow" if logged.event.allow else "deny"
    entries: list[CheckEntry] = []
    for logged in requests:
        request = logged.event
        assert isinstance(request, RequestReceived)
        entries.append(
            CheckEntry(
                organization=request.organization,
                client_id=request.client_id,
                time=logged.time,
                purpose=request.purpose,
                decision=decisions.get(request.request_id, "pending"),
            )
        )
    return entries
