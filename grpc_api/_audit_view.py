"""``AuditService.ListEvents`` and ``UsageSummary``: proto <-> :mod:`enclave.audit`'s view.

The filters are checked here against their documented formats (each refusal INVALID_ARGUMENT
FIELD_INVALID naming the field, logged by the interceptor); reading the log is the zone's
(:func:`enclave.audit.list_events`, :func:`enclave.audit.usage_summary`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from dataward.v1 import audit_pb2, common_pb2
from enclave.audit import EventFilter, EventPage, LogEntry, UsageReport
from grpc_api._refusals import short_method
from grpc_api.errors import InvalidRequest

__all__ = [
    "DEFAULT_USAGE_DAYS",
    "MAX_EVENTS_PAGE",
    "MAX_USAGE_DAYS",
    "event_filter",
    "events_page_size",
    "page_before",
    "page_to_proto",
    "usage_filter",
    "usage_to_proto",
    "usage_window",
]

MAX_EVENTS_PAGE = 200
DEFAULT_EVENTS_PAGE = 50
DEFAULT_USAGE_DAYS = 30
MAX_USAGE_DAYS = 366
# The names the zone logs (client ids, organization slugs, methods): see enclave.audit.events.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/=+-]{0,127}")
_CURSOR = re.compile(r"[1-9][0-9]{0,18}")
# Unix seconds a datetime holds (year 1..9999).
_MIN_TIME, _MAX_TIME = -62_135_596_800, 253_402_300_799
_DECISIONS = {
    "allow": audit_pb2.AUDIT_DECISION_ALLOW,
    "deny": audit_pb2.AUDIT_DECISION_DENY,
    "pending": audit_pb2.AUDIT_DECISION_PENDING,
    "": audit_pb2.AUDIT_DECISION_UNSPECIFIED,
}


def _name(field: str, value: str) -> str | None:
    if not value:
        return None
    if not _NAME.fullmatch(value):
        raise InvalidRequest(field, "at most 128 characters of A-Z a-z 0-9 . _ : @ / = + -")
    return value


def _time(field: str, value: int) -> datetime | None:
    if value == 0:
        return None
    if not _MIN_TIME <= value <= _MAX_TIME:
        raise InvalidRequest(field, "Unix seconds between the years 1 and 9999")
    return datetime.fromtimestamp(value, UTC)


def _method(value: str) -> str | None:
    if not value:
        return None
    short = short_method(value)
    if not _NAME.fullmatch(short) or "/" not in short:
        raise InvalidRequest("method", 'a method as "EligibilityService/Check"')
    return short


def event_filter(request: audit_pb2.ListEventsRequest) -> EventFilter:
    since, until = _time("from_time", request.from_time), _time("to_time", request.to_time)
    if since is not None and until is not None and until <= since:
        raise InvalidRequest("to_time", "after from_time")
    return EventFilter(
        organization=_name("organization", request.organization),
        client_id=_name("client_id", request.client_id),
        method=_method(request.method),
        since=since,
        until=until,
    )


def events_page_size(value: int) -> int:
    size = value or DEFAULT_EVENTS_PAGE
    if size > MAX_EVENTS_PAGE:
        raise InvalidRequest("page_size", f"1..{MAX_EVENTS_PAGE} (0 means {DEFAULT_EVENTS_PAGE})")
    return size


def page_before(token: str) -> int | None:
    """The leaf a page token reads below (the token is that index in decimal)."""
    if not token:
        return None
    if not _CURSOR.fullmatch(token):
        raise InvalidRequest("page_token", "not a token a previous ListEvents answer gave")
    return int(token)


def _entry_to_proto(entry: LogEntry) -> audit_pb2.AuditLogEntry:
    return audit_pb2.AuditLogEntry(
        leaf_index=entry.index,
        logged_at_micros=entry.logged_at_micros,
        kind=entry.kind,
        client_id=entry.client_id,
        organization=entry.organization,
        method=entry.method,
        purpose=entry.purpose,
        request_id=entry.request_id,
        decision=_DECISIONS[entry.decision],
        reasons=entry.reasons,
        about_person=entry.about_person,
        released=entry.released,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        count=entry.count,
    )


def page_to_proto(page: EventPage) -> audit_pb2.ListEventsResponse:
    return audit_pb2.ListEventsResponse(
        entries=[_entry_to_proto(e) for e in page.entries],
        next_page_token="" if page.next_before is None else str(page.next_before),
    )


def usage_filter(request: audit_pb2.UsageSummaryRequest) -> tuple[str | None, str | None]:
    """The organization and app a UsageSummary request narrows to (None: all)."""
    return _name("organization", request.organization), _name("client_id", request.client_id)


def usage_window(
    request: audit_pb2.UsageSummaryRequest, now: datetime
) -> tuple[datetime, datetime]:
    """[from, to) of a UsageSummary request: to defaults to now, from to 30 days before."""
    until = _time("to_time", request.to_time) or now
    since = _time("from_time", request.from_time) or until - timedelta(days=DEFAULT_USAGE_DAYS)
    if until <= since:
        raise InvalidRequest("to_time", "after from_time")
    if until - since > timedelta(days=MAX_USAGE_DAYS):
        raise InvalidRequest("from_time", f"at most {MAX_USAGE_DAYS} days before to_time")
    return since, until


def usage_to_proto(report: UsageReport) -> audit_pb2.UsageSummaryResponse:
    return audit_pb2.UsageSummaryResponse(
        apps=[
            audit_pb2.AppUsage(
                client_id=app.client_id,
                organization=app.organization,
                calls=app.calls,
                refused=app.refused,
                days=[
                    audit_pb2.DailyUsage(
                        day=common_pb2.Date(year=d.day.year, month=d.day.month, day=d.day.day),
                        calls=d.calls,
                        refused=d.refused,
                    )
                    for d in app.days
                ],
                refusals=[audit_pb2.RefusalCount(reason=r, count=n) for r, n in app.refusals],
            )
            for app in report.apps
        ],
        from_time=int(report.since.timestamp()),
        to_time=int(report.until.timestamp()),
        truncated=report.truncated,
    )
