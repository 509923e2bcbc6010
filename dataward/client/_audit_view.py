"""The zone's log as a steward reads it (``AuditService.ListEvents``, ``UsageSummary``):
the SDK's frozen values and their conversion from the wire messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from dataward.v1 import audit_pb2

__all__ = [
    "AppUsage",
    "AuditEntry",
    "AuditPage",
    "DayUsage",
    "UsageSummary",
    "audit_page",
    "usage_summary",
]

_DECISIONS = {
    audit_pb2.AUDIT_DECISION_ALLOW: "allow",
    audit_pb2.AUDIT_DECISION_DENY: "deny",
    audit_pb2.AUDIT_DECISION_PENDING: "pending",
}


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the zone's log. ``decision`` is "allow", "deny", "pending" for a request
    and "" for the other kinds (steward_action, policy_changed, refusal_summary)."""

    leaf_index: int
    time: datetime
    kind: str
    client_id: str
    organization: str
    method: str
    purpose: str
    request_id: str
    decision: str
    reasons: tuple[str, ...]
    about_person: bool
    released: bool
    actor: str
    action: str
    target: str
    count: int


@dataclass(frozen=True)
class AuditPage:
    """Entries newest first; pass ``next_page_token`` back for older ones ("" at the start)."""

    entries: tuple[AuditEntry, ...]
    next_page_token: str


@dataclass(frozen=True)
class DayUsage:
    day: date
    calls: int
    refused: int


@dataclass(frozen=True)
class AppUsage:
    """One app's calls in the window (``client_id`` "": calls refused before any token
    verified); ``refusals`` is (reason, count), most frequent first."""

    client_id: str
    organization: str
    calls: int
    refused: int
    days: tuple[DayUsage, ...]
    refusals: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class UsageSummary:
    """Usage in [since, until). ``truncated``: the zone read its bound of leaves before the
    window's start, and ``since`` is where it stopped (ask again for a window ending there)."""

    since: datetime
    until: datetime
    apps: tuple[AppUsage, ...]
    truncated: bool = False


def _entry(e: audit_pb2.AuditLogEntry) -> AuditEntry:
    return AuditEntry(
        leaf_index=e.leaf_index,
        time=datetime.fromtimestamp(e.logged_at_micros / 1_000_000, UTC),
        kind=e.kind,
        client_id=e.client_id,
        organization=e.organization,
        method=e.method,
        purpose=e.purpose,
        request_id=e.request_id,
        decision=_DECISIONS.get(e.decision, ""),
        reasons=tuple(e.reasons),
        about_person=e.about_person,
        released=e.released,
        actor=e.actor,
        action=e.action,
        target=e.target,
        count=e.count,
    )


def audit_page(response: audit_pb2.ListEventsResponse) -> AuditPage:
    return AuditPage(tuple(_entry(e) for e in response.entries), response.next_page_token)


def usage_summary(response: audit_pb2.UsageSummaryResponse) -> UsageSummary:
    return UsageSummary(
        since=datetime.fromtimestamp(response.from_time, UTC),
        until=datetime.fromtimestamp(response.to_time, UTC),
        apps=tuple(
            AppUsage(
                client_id=a.client_id,
                organization=a.organization,
                calls=a.calls,
                refused=a.refused,
                days=tuple(
                    DayUsage(date(d.day.year, d.day.month, d.day.day), d.calls, d.refused)
                    for d in a.days
                ),
                refusals=tuple((r.reason, r.count) for r in a.refusals),
            )
            for a in response.apps
        ),
        truncated=response.truncated,
    )
