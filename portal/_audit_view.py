"""What the steward's audit pages show (issue 14): the zone's log and usage, read from the
zone's ``AuditService`` with the steward's own token, and the portal's own log, read here.

The zone's entries carry ids only (apps, organization slugs, methods, purposes, reason codes;
never a person or a data value); the pages add the names the portal knows (an app's name, an
organization's), nothing else. The portal log's leaves carry ids only as well
(:mod:`portal._events`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import select

from dataward.v1 import audit_pb2
from portal._models import LogEntry
from portal._portal import Portal
from portal._views import UserView
from portal._zone_calls import call_audit_service
from portal.errors import InvalidInputError

__all__ = [
    "PORTAL_PAGE",
    "AuditFilter",
    "PortalLogPage",
    "PortalLogRow",
    "UsageFilter",
    "UsagePage",
    "UsageRow",
    "ZoneLogPage",
    "ZoneLogRow",
    "read_portal_log",
    "read_usage",
    "read_zone_log",
]

PAGE_SIZE = 50
PORTAL_PAGE = 50
_DECISIONS = {
    audit_pb2.AUDIT_DECISION_ALLOW: "allow",
    audit_pb2.AUDIT_DECISION_DENY: "deny",
    audit_pb2.AUDIT_DECISION_PENDING: "pending",
}


def _day(field: str, text: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{field}: a date as YYYY-MM-DD") from None


def _unix(day: dt.date | None, *, end: bool = False) -> int:
    """Unix seconds of the day's start (``end``: of the next day's, so the day is included)."""
    if day is None:
        return 0
    moment = dt.datetime.combine(day, dt.time(), dt.UTC)
    return int((moment + dt.timedelta(days=1 if end else 0)).timestamp())


@dataclass(frozen=True)
class AuditFilter:
    """The zone log page's form, as typed (the zone checks the names' formats)."""

    organization: str = ""
    client_id: str = ""
    method: str = ""
    since: dt.date | None = None
    until: dt.date | None = None  # inclusive
    page_token: str = ""

    @classmethod
    def from_args(cls, args: dict[str, str]) -> AuditFilter:
        return cls(
            organization=args.get("org", "").strip(),
            client_id=args.get("app", "").strip(),
            method=args.get("method", "").strip(),
            since=_day("from", args.get("from", "").strip()),
            until=_day("to", args.get("to", "").strip()),
            page_token=args.get("page", "").strip(),
        )

    def query(self, **changes: str) -> dict[str, str]:
        """The page's URL arguments (for the next page's link)."""
        base = {
            "org": self.organization,
            "app": self.client_id,
            "method": self.method,
            "from": self.since.isoformat() if self.since else "",
            "to": self.until.isoformat() if self.until else "",
        }
        return {k: v for k, v in {**base, **changes}.items() if v}


@dataclass(frozen=True)
class ZoneLogRow:
    leaf_index: int
    time: dt.datetime
    kind: str
    client_id: str
    app_name: str
    organization: str
    method: str
    purpose: str
    decision: str
    reasons: tuple[str, ...]
    about_person: bool
    released: bool
    actor: str
    action: str
    target: str
    count: int


@dataclass(frozen=True)
class ZoneLogPage:
    rows: tuple[ZoneLogRow, ...]
    next_page_token: str


def read_zone_log(
    portal: Portal, user: UserView, flt: AuditFilter, app_names: dict[str, str]
) -> ZoneLogPage:
    """``AuditService.ListEvents`` as ``user``: one page of the zone's log, newest first."""
    request = audit_pb2.ListEventsRequest(
        organization=flt.organization,
        client_id=flt.client_id,
        method=flt.method,
        from_time=_unix(flt.since),
        to_time=_unix(flt.until, end=True),
        page_size=PAGE_SIZE,
        page_token=flt.page_token,
    )
    got: audit_pb2.ListEventsResponse = call_audit_service(
        portal, user, lambda stub: stub.ListEvents, request
    )
    rows = tuple(
        ZoneLogRow(
            leaf_index=e.leaf_index,
            time=dt.datetime.fromtimestamp(e.logged_at_micros / 1_000_000, dt.UTC),
            kind=e.kind,
            client_id=e.client_id,
            app_name=app_names.get(e.client_id, ""),
            organization=e.organization,
            method=e.method,
            purpose=e.purpose,
            decision=_DECISIONS.get(e.decision, ""),
            reasons=tuple(e.reasons),
            about_person=e.about_person,
            released=e.released,
            actor=e.actor,
            action=e.action,
            target=e.target,
            count=e.count,
        )
        for e in got.entries
    )
    return ZoneLogPage(rows, got.next_page_token)


@dataclass(frozen=True)
class UsageFilter:
    organization: str = ""
    since: dt.date | None = None
    until: dt.date | None = None  # inclusive

    @classmethod
    def from_args(cls, args: dict[str, str]) -> UsageFilter:
        return cls(
            organization=args.get("org", "").strip(),
            since=_day("from", args.get("from", "").strip()),
            until=_day("to", args.get("to", "").strip()),
        )


@dataclass(frozen=True)
class UsageRow:
    client_id: str
    app_name: str
    organization: str
    calls: int
    refused: int
    # (day, calls, refused), oldest first
    days: tuple[tuple[dt.date, int, int], ...]
    refusals: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class UsagePage:
    """The days covered (first and last, UTC), each app's usage, and whether the zone read
    its bound of leaves before the window's start (``first`` is then where it stopped)."""

    first: dt.date
    last: dt.date
    rows: tuple[UsageRow, ...]
    truncated: bool


def read_usage(
    portal: Portal, user: UserView, flt: UsageFilter, app_names: dict[str, str]
) -> UsagePage:
    """``AuditService.UsageSummary`` as ``user``: the window's days and each app's usage."""
    request = audit_pb2.UsageSummaryRequest(
        organization=flt.organization,
        from_time=_unix(flt.since),
        to_time=_unix(flt.until, end=True),
    )
    got: audit_pb2.UsageSummaryResponse = call_audit_service(
        portal, user, lambda stub: stub.UsageSummary, request
    )
    first = dt.datetime.fromtimestamp(got.from_time, dt.UTC).date()
    last = (dt.datetime.fromtimestamp(got.to_time, dt.UTC) - dt.timedelta(seconds=1)).date()
    rows = tuple(
        UsageRow(
            client_id=a.client_id,
            app_name=app_names.get(a.client_id, ""),
            organization=a.organization,
            calls=a.calls,
            refused=a.refused,
            days=tuple(
                (dt.date(d.day.year, d.day.month, d.day.day), d.calls, d.refused) for d in a.days
            ),
            refusals=tuple((r.reason, r.count) for r in a.refusals),
        )
        for a in got.apps
    )
    return UsagePage(first, last, rows, got.truncated)


@dataclass(frozen=True)
class PortalLogRow:
    index: int
    time: dt.datetime
    kind: str
    # the leaf's other fields (ids, scopes, purposes), sorted by name
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PortalLogPage:
    rows: tuple[PortalLogRow, ...]
    # the leaf index to read below for older entries (None: the log's start)
    next_before: int | None


def read_portal_log(portal: Portal, *, before: int | None, kind: str = "") -> PortalLogPage:
    """The portal log newest first, :data:`PORTAL_PAGE` leaves below index ``before``;
    ``kind`` keeps only that kind of event (within the leaves read)."""
    with portal.store.transaction() as s:
        query = select(LogEntry.id, LogEntry.leaf).order_by(LogEntry.id.desc())
        if before is not None:
            query = query.where(LogEntry.id <= before)  # index = id - 1
        stored = list(s.execute(query.limit(PORTAL_PAGE)))
    rows: list[PortalLogRow] = []
    for entry_id, leaf in stored:
        body = json.loads(bytes(leaf))
        event_kind = str(body.pop("kind", ""))
        at = body.pop("at", 0)
        if kind and event_kind != kind:
            continue
        rows.append(
            PortalLogRow(
                index=int(entry_id) - 1,
                time=dt.datetime.fromtimestamp(float(at), dt.UTC),
                kind=event_kind,
                fields=tuple(
                    (name, _shown(value))
                    for name, value in sorted(body.items())
                    if value is not None
                ),
            )
        )
    last = int(stored[-1][0]) - 1 if stored else 0
    return PortalLogPage(tuple(rows), last if len(stored) == PORTAL_PAGE and last > 0 else None)


def _shown(value: object) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)
