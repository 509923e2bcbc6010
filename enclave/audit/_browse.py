"""The zone's log as a data steward browses it (issue 14): filtered pages and usage per app.

Read back from the newest leaf, as a steward reads a log. A request is ONE :class:`LogEntry`:
its ``request_received`` leaf joined with the ``decision`` and ``release`` leaves logged for it
(looked up by request id, so a decision on another page still counts). Steward actions,
policy changes and refusal summaries are entries of their own kind; decisions, releases and
budget charges only ever show inside their request's entry. Nothing here carries a person's
token or a data value: an entry says only whether the request was about a person.

A page reads at most ``max_scan`` leaves, so a filter that matches nothing costs a bounded
read per call; the page then comes back short with a cursor to read on. Leaves are appended in
time order (one committer thread stamps them), so reading back stops at the first leaf logged
before ``since``.

:class:`LogBrowser` serves both to a steward as answers like any other (issue 14): each call is
a ``request_received`` leaf, the allowing decision and the release whose result hash covers
the answer, in ONE commit after the read (issue 15; a read changes nothing, so nothing needs
its request durable before it) (:func:`dataward.receipts.audit_events_fields`,
:func:`~dataward.receipts.usage_summary_fields`), with its receipt. The decision is the door's
(scope ``audit:read`` held by a steward), so it names the access policy
(:data:`~enclave.audit.trails.ACCESS_POLICY_VERSION`). An answer never shows the call that
reads it: its own request leaf is skipped (a first page is the log as it stood when the call
read it), and a page token is a leaf index, so the leaves later calls add -- a walk's own
reads among them -- never shift or enter the pages below it; the next read lists them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Generic, TypeVar

from dataward import receipts
from dataward.transparency import Receipt
from enclave.audit._log import AuditLog
from enclave.audit._reader import AuditReader
from enclave.audit.events import (
    Decision,
    LoggedEvent,
    PolicyChanged,
    RefusalSummary,
    Release,
    RequestReceived,
    StewardAction,
)
from enclave.audit.trails import ACCESS_POLICY_VERSION, AuditLogTrail
from enclave.release import Caller, Releaser, answers

__all__ = [
    "MAX_SCAN",
    "MAX_USAGE_SCAN",
    "AppUsage",
    "DayUsage",
    "EventFilter",
    "EventPage",
    "LogBrowser",
    "LogEntry",
    "LogRead",
    "UsageReport",
    "list_events",
    "usage_summary",
]

#: The most leaves one page reads back (a short page then carries a cursor). Decoding a leaf
#: costs ~50-250 us, so a page stays within a few seconds even on a loaded host.
MAX_SCAN = 10_000
#: The most leaves one usage summary reads back; past it the summary covers the newest part.
MAX_USAGE_SCAN = 100_000
_BATCH = 1_000
# The kinds a page lists; the others show inside their request's entry.
_LISTED = (RequestReceived, StewardAction, PolicyChanged, RefusalSummary)


@dataclass(frozen=True)
class EventFilter:
    """What a steward narrows the log to; None is "any". ``since`` inclusive, ``until`` not.

    ``organization``, ``client_id`` and ``method`` keep only the entries that name them:
    requests (and, for the first two, policy changes); a steward action or a refusal summary
    names no organization, so it is listed only when none of the three is set.
    """

    organization: str | None = None
    client_id: str | None = None
    method: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def names_someone(self) -> bool:
        return any(v is not None for v in (self.organization, self.client_id, self.method))


@dataclass(frozen=True)
class LogEntry:
    """One listed entry; the fields its kind does not have are empty."""

    index: int
    time: datetime
    kind: str
    client_id: str = ""
    organization: str = ""
    method: str = ""
    purpose: str = ""
    request_id: str = ""
    # "allow", "deny", "pending" for a request; "" for the other kinds
    decision: str = ""
    reasons: tuple[str, ...] = ()
    about_person: bool = False
    released: bool = False
    actor: str = ""
    action: str = ""
    target: str = ""
    count: int = 0

    @property
    def logged_at_micros(self) -> int:
        """:attr:`time` in Unix microseconds, as the wire and the result hash carry it."""
        return int(self.time.timestamp() * 1_000_000)


@dataclass(frozen=True)
class EventPage:
    """Entries newest first; ``next_before`` is the cursor of the next page (None: the log's
    start, or ``since``, was reached)."""

    entries: tuple[LogEntry, ...]
    next_before: int | None


def _matches(event: object, flt: EventFilter) -> bool:
    if isinstance(event, RequestReceived):
        return (
            (flt.organization is None or event.organization == flt.organization)
            and (flt.client_id is None or event.client_id == flt.client_id)
            and (flt.method is None or event.method == flt.method)
        )
    if isinstance(event, PolicyChanged):
        return (
            flt.method is None
            and (flt.organization is None or event.organization == flt.organization)
            and (flt.client_id is None or event.client_id == flt.client_id)
        )
    return not flt.names_someone


def _entry(logged: LoggedEvent) -> LogEntry:
    event = logged.event
    base = LogEntry(index=logged.index, time=logged.time, kind=event.kind)
    if isinstance(event, RequestReceived):
        return replace(
            base,
            client_id=event.client_id,
            organization=event.organization,
            method=event.method,
            purpose=event.purpose,
            request_id=event.request_id,
            decision="pending",
            about_person=event.person_token is not None,
        )
    if isinstance(event, StewardAction):
        return replace(
            base,
            actor=event.steward,
            action=event.action,
            target=event.target,
        )
    if isinstance(event, PolicyChanged):
        return replace(
            base,
            client_id=event.client_id,
            organization=event.organization,
            request_id=event.request_id,
            target=event.version,
        )
    assert isinstance(event, RefusalSummary)
    return replace(
        base,
        decision="deny",
        reasons=(event.reason,),
        count=event.dropped,
    )


def _with_outcomes(reader: AuditReader, entries: list[LogEntry]) -> tuple[LogEntry, ...]:
    ids = [e.request_id for e in entries if e.kind == RequestReceived.kind]
    decided: dict[str, Decision] = {}
    released: set[str] = set()
    for logged in reader.events_for_requests(ids) if ids else ():
        if isinstance(logged.event, Decision):
            decided.setdefault(logged.event.request_id, logged.event)
        elif isinstance(logged.event, Release):
            released.add(logged.event.request_id)
    done: list[LogEntry] = []
    for entry in entries:
        decision = decided.get(entry.request_id) if entry.kind == RequestReceived.kind else None
        done.append(
            entry
            if decision is None
            else replace(
                entry,
                decision="allow" if decision.allow else "deny",
                reasons=decision.reasons,
                released=entry.request_id in released,
            )
        )
    return tuple(done)


def _skipped(event: object, request_id: str) -> bool:
    return (
        bool(request_id) and isinstance(event, RequestReceived) and event.request_id == request_id
    )


def list_events(
    reader: AuditReader,
    flt: EventFilter,
    *,
    page_size: int,
    before: int | None = None,
    max_scan: int = MAX_SCAN,
    skip_request: str = "",
) -> EventPage:
    """The newest ``page_size`` entries matching ``flt`` below leaf ``before`` (None: all),
    without the request ``skip_request`` (the reading call's own).

    Reads back at most ``max_scan`` leaves; see the module docstring.
    """
    if page_size < 1 or max_scan < 1:
        raise ValueError("page_size and max_scan must be positive")
    found: list[LogEntry] = []
    cursor = before
    scanned = 0
    while len(found) < page_size and scanned < max_scan:
        batch = reader.newest_first(cursor, min(_BATCH, max_scan - scanned))
        if not batch:
            return EventPage(_with_outcomes(reader, found), None)
        for logged in batch:
            cursor, scanned = logged.index, scanned + 1
            if flt.since is not None and logged.time < flt.since:
                return EventPage(_with_outcomes(reader, found), None)
            if flt.until is not None and logged.time >= flt.until:
                continue
            if _skipped(logged.event, skip_request):
                continue
            if isinstance(logged.event, _LISTED) and _matches(logged.event, flt):
                found.append(_entry(logged))
                if len(found) == page_size:
                    break
    return EventPage(_with_outcomes(reader, found), cursor if cursor != 0 else None)


@dataclass(frozen=True)
class DayUsage:
    day: date
    calls: int
    refused: int


@dataclass(frozen=True)
class AppUsage:
    """One app's requests in a window. ``client_id`` "" stands for the calls refused before
    any token verified (with those counted in refusal summaries)."""

    client_id: str
    organization: str
    calls: int
    refused: int
    days: tuple[DayUsage, ...]
    # reason -> count, most frequent first
    refusals: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class UsageReport:
    """Usage in [``since``, ``until``): ``truncated`` when the read stopped at its bound
    before ``since``; ``since`` is then the time of the oldest leaf read."""

    apps: tuple[AppUsage, ...]
    since: datetime
    until: datetime
    truncated: bool


@dataclass
class _Tally:
    calls: Counter[date] = field(default_factory=Counter)
    refused: Counter[date] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)


def usage_summary(
    reader: AuditReader,
    *,
    since: datetime,
    until: datetime,
    organization: str | None = None,
    client_id: str | None = None,
    max_scan: int = MAX_USAGE_SCAN,
    skip_request: str = "",
) -> UsageReport:
    """Per app, calls per UTC day and refusals by reason, of requests logged in
    [``since``, ``until``): most calls first. Reads the log back from its newest leaf to
    ``since``, at most ``max_scan`` leaves (see :class:`UsageReport`); the request
    ``skip_request`` (the reading call's own) is not counted."""
    tallies: defaultdict[tuple[str, str], _Tally] = defaultdict(_Tally)
    # Decisions follow their request, so reading back meets them first.
    denied: dict[str, tuple[str, ...]] = {}
    cursor: int | None = None
    scanned, oldest, truncated = 0, until, False
    while True:
        if scanned >= max_scan:
            # Truncated only if the window goes on below the bound.
            rest = reader.newest_first(cursor, 1)
            truncated = bool(rest) and rest[0].time >= since
            break
        batch = reader.newest_first(cursor, min(_BATCH, max_scan - scanned))
        if not batch:
            break
        for logged in batch:
            cursor, event, scanned = logged.index, logged.event, scanned + 1
            if logged.time < since:
                batch = []
                break
            oldest = min(oldest, logged.time)
            if isinstance(event, Decision) and not event.allow:
                denied[event.request_id] = event.reasons
            if logged.time >= until:
                continue
            day = logged.time.date()
            if _skipped(event, skip_request):
                continue
            if isinstance(event, RequestReceived):
                if (organization is not None and event.organization != organization) or (
                    client_id is not None and event.client_id != client_id
                ):
                    continue
                tally = tallies[(event.client_id, event.organization)]
                tally.calls[day] += 1
                reasons = denied.pop(event.request_id, None)
                if reasons is not None:
                    tally.refused[day] += 1
                    tally.reasons.update(reasons or ("UNSPECIFIED",))
            elif isinstance(event, RefusalSummary) and organization is None and client_id is None:
                tally = tallies[("", "")]
                tally.calls[day] += event.dropped
                tally.refused[day] += event.dropped
                tally.reasons[event.reason] += event.dropped
        if not batch or cursor == 0:
            break
    apps = [
        AppUsage(
            client_id=app,
            organization=org,
            calls=sum(t.calls.values()),
            refused=sum(t.refused.values()),
            days=tuple(DayUsage(d, t.calls[d], t.refused[d]) for d in sorted(t.calls)),
            refusals=tuple(sorted(t.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        )
        for (app, org), t in tallies.items()
    ]
    ordered = tuple(sorted(apps, key=lambda a: (-a.calls, a.client_id)))
    return UsageReport(ordered, oldest if truncated else since, until, truncated)


T = TypeVar("T")


@dataclass(frozen=True)
class LogRead(Generic[T]):
    """A steward's read of the log as released: the value, its receipt and request id."""

    value: T
    receipt: Receipt
    request_id: str


def events_fields(page: EventPage) -> receipts.ResultFields:
    """The result fields of ``page`` as the wire carries it (:mod:`dataward.receipts`)."""
    return receipts.audit_events_fields(
        entries=[
            receipts.audit_entry_text(
                leaf_index=e.index,
                logged_at_micros=e.logged_at_micros,
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
            for e in page.entries
        ],
        next_page_token="" if page.next_before is None else str(page.next_before),
    )


def usage_fields(report: UsageReport) -> receipts.ResultFields:
    """The result fields of ``report`` as the wire carries it (Unix seconds)."""
    return receipts.usage_summary_fields(
        apps=[
            receipts.usage_app_text(
                client_id=a.client_id,
                organization=a.organization,
                calls=a.calls,
                refused=a.refused,
                days=[(d.day, d.calls, d.refused) for d in a.days],
                refusals=a.refusals,
            )
            for a in report.apps
        ],
        from_time=int(report.since.timestamp()),
        to_time=int(report.until.timestamp()),
        truncated=report.truncated,
    )


class LogBrowser:
    """:func:`list_events` and :func:`usage_summary` as logged answers (see the module
    docstring): the read, then request, allowing decision and release in one commit."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log
        self._releaser = Releaser(AuditLogTrail(log), ACCESS_POLICY_VERSION)

    @answers
    def list_events(
        self,
        caller: Caller,
        flt: EventFilter,
        *,
        page_size: int,
        before: int | None = None,
        client_nonce: str = "",
    ) -> LogRead[EventPage]:
        request = self._releaser.begin(caller, receipts.AUDIT_LIST_EVENTS)
        page = list_events(
            self._log, flt, page_size=page_size, before=before, skip_request=request.request_id
        )
        receipt = self._releaser.release(request, events_fields(page), client_nonce=client_nonce)
        return LogRead(page, receipt, request.request_id)

    @answers
    def usage_summary(
        self,
        caller: Caller,
        *,
        since: datetime,
        until: datetime,
        organization: str | None = None,
        client_id: str | None = None,
        client_nonce: str = "",
    ) -> LogRead[UsageReport]:
        request = self._releaser.begin(caller, receipts.AUDIT_USAGE_SUMMARY)
        report = usage_summary(
            self._log,
            since=since,
            until=until,
            organization=organization,
            client_id=client_id,
            skip_request=request.request_id,
        )
        receipt = self._releaser.release(request, usage_fields(report), client_nonce=client_nonce)
        return LogRead(report, receipt, request.request_id)
