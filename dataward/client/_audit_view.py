"""The zone's log as a steward reads it (``AuditService.ListEvents``, ``UsageSummary``):
the SDK's frozen values and their conversion from the wire messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dataward import receipts
from dataward.client._convert import receipt_from_proto
from dataward.transparency import Receipt
from dataward.v1 import audit_pb2

__all__ = [
    "AppUsage",
    "AuditEntry",
    "AuditPage",
    "DayUsage",
    "UsageSummary",
    "audit_page",
    "release_of_audit",
    "usage_summary",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int:
    """Unix microseconds, exactly (no float): the value the wire carried."""
    return (at - _EPOCH) // timedelta(microseconds=1)


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
    """Entries newest first; pass ``next_page_token`` back for older ones ("" at the start).

    Reading the log is logged like any answer: ``receipt`` is the release of this page
    (check it with :meth:`Client.verify_answer`). A page never lists the call that read it."""

    entries: tuple[AuditEntry, ...]
    next_page_token: str
    receipt: Receipt | None = None
    request_id: str = ""
    client_nonce: str = ""


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
    # the release of this summary (Client.verify_answer); it never counts the call itself
    receipt: Receipt | None = None
    request_id: str = ""
    client_nonce: str = ""


def _entry(e: audit_pb2.AuditLogEntry) -> AuditEntry:
    return AuditEntry(
        leaf_index=e.leaf_index,
        time=_EPOCH + timedelta(microseconds=e.logged_at_micros),
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


def _receipt(
    response: audit_pb2.ListEventsResponse | audit_pb2.UsageSummaryResponse,
) -> Receipt | None:
    return receipt_from_proto(response.receipt) if response.HasField("receipt") else None


def audit_page(response: audit_pb2.ListEventsResponse, nonce: str = "") -> AuditPage:
    """The page answered to the request sent with ``nonce``."""
    return AuditPage(
        tuple(_entry(e) for e in response.entries),
        response.next_page_token,
        _receipt(response),
        response.receipt.request_id,
        nonce,
    )


def usage_summary(response: audit_pb2.UsageSummaryResponse, nonce: str = "") -> UsageSummary:
    """The summary answered to the request sent with ``nonce``."""
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
        receipt=_receipt(response),
        request_id=response.receipt.request_id,
        client_nonce=nonce,
    )


def release_of_audit(result: AuditPage | UsageSummary) -> tuple[str, receipts.ResultFields]:
    """The method and result fields the zone hashed into the release of ``result``."""
    if isinstance(result, AuditPage):
        entries = [
            receipts.audit_entry_text(
                leaf_index=e.leaf_index,
                logged_at_micros=_micros(e.time),
                kind=e.kind,
                client_id=e.client_id,
                organization=e.organization,
                method=e.method,
                purpose=e.purpose,
                request_id=e.request_id,
                decision=e.decision,
                reasons=e.reasons,
                about_person=e.about_person,
                released=e.released,
                actor=e.actor,
                action=e.action,
                target=e.target,
                count=e.count,
            )
            for e in result.entries
        ]
        fields = receipts.audit_events_fields(
            entries=entries, next_page_token=result.next_page_token
        )
        return receipts.AUDIT_LIST_EVENTS, fields
    apps = [
        receipts.usage_app_text(
            client_id=a.client_id,
            organization=a.organization,
            calls=a.calls,
            refused=a.refused,
            days=[(d.day, d.calls, d.refused) for d in a.days],
            refusals=a.refusals,
        )
        for a in result.apps
    ]
    return receipts.AUDIT_USAGE_SUMMARY, receipts.usage_summary_fields(
        apps=apps,
        from_time=int(result.since.timestamp()),
        to_time=int(result.until.timestamp()),
        truncated=result.truncated,
    )
