"""A steward's view of the zone log (issue 14): filtered pages newest first, each request with
its decision, bounded reads, and the usage of each app per day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from enclave.audit import (
    AuditLog,
    Decision,
    EventFilter,
    PolicyChanged,
    RefusalSummary,
    Release,
    RequestReceived,
    StewardAction,
    list_events,
    usage_summary,
)
from launcher.settings import AuditSettings
from tests.unit.enclave.audit.conftest import KEY, KEY_NAME, ORIGIN

DAY1 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = DAY1

    def __call__(self) -> datetime:
        return self.now


def request(
    n: int, *, client: str, org: str, method: str = "EligibilityService/Check"
) -> RequestReceived:
    return RequestReceived(
        client_id=client,
        organization=org,
        method=method,
        purpose="INSURANCE_UNDERWRITING",
        consent_ref=None,
        person_token=f"{n:064x}",
        request_id=f"{n:032x}",
    )


def decide(n: int, *, allow: bool, reasons: tuple[str, ...] = ()) -> Decision:
    return Decision(request_id=f"{n:032x}", allow=allow, reasons=reasons, policy_version="p/1")


@pytest.fixture
def log(tmp_path: Path) -> Iterator[tuple[AuditLog, Clock]]:
    clock = Clock()
    opened = AuditLog.open(
        tmp_path / "audit.db", AuditSettings(), KEY, ORIGIN, KEY_NAME, clock=clock
    )
    yield opened, clock
    opened.close()


def fill(log: AuditLog, clock: Clock) -> None:
    """Day 1: ins-app allowed + released, ins-app refused, bank-app allowed; a steward action.
    Day 2: ins-app refused twice (scope), a policy change by the steward, a refusal summary."""
    log.append(request(1, client="ins-app", org="insurer"))
    log.append_many([decide(1, allow=True), Release(f"{1:032x}", f"{1:064x}", 0)])
    log.append(request(2, client="ins-app", org="insurer", method="IdentityService/Verify"))
    log.append(decide(2, allow=False, reasons=("CONSENT_REQUIRED",)))
    log.append(request(3, client="bank-app", org="bank"))
    log.append(decide(3, allow=True))
    log.append(StewardAction(steward="portal/user:1", action="approve", target="q_1", detail=None))
    clock.now = DAY2
    for n in (4, 5):
        log.append_many(
            [
                request(n, client="ins-app", org="insurer"),
                decide(n, allow=False, reasons=("SCOPE_NOT_GRANTED",)),
            ]
        )
    log.append(
        PolicyChanged(
            request_id=f"{9:032x}",
            version="a" * 64,
            previous_version="b" * 64,
            client_id="portal-steward",
            organization="stewards",
        )
    )
    log.append(
        RefusalSummary(
            dropped=7,
            addresses=2,
            reason="UNAUTHENTICATED_RATE_LIMITED",
            window_seconds=60,
            policy_version="api-access/1",
        )
    )
    log.checkpoint()


def test_a_page_lists_requests_newest_first_with_their_decision(
    log: tuple[AuditLog, Clock],
) -> None:
    audit, clock = log
    fill(audit, clock)
    page = list_events(audit, EventFilter(), page_size=50)
    assert [e.kind for e in page.entries] == [
        "refusal_summary",
        "policy_changed",
        "request_received",
        "request_received",
        "steward_action",
        "request_received",
        "request_received",
        "request_received",
    ]
    assert page.next_before is None
    first = page.entries[-1]
    assert (first.client_id, first.organization, first.method, first.purpose) == (
        "ins-app",
        "insurer",
        "EligibilityService/Check",
        "INSURANCE_UNDERWRITING",
    )
    assert (first.decision, first.released, first.about_person) == ("allow", True, True)
    refused = page.entries[-2]
    assert (refused.decision, refused.reasons, refused.released) == (
        "deny",
        ("CONSENT_REQUIRED",),
        False,
    )
    assert page.entries[0].count == 7 and page.entries[0].reasons == (
        "UNAUTHENTICATED_RATE_LIMITED",
    )
    assert page.entries[4].actor == "portal/user:1" and page.entries[4].action == "approve"
    # No entry carries a person's token: only that the request was about a person.
    assert all(f"{n:064x}" not in repr(e) for e in page.entries for n in range(1, 6))


def test_filters_by_organization_app_method_and_date(log: tuple[AuditLog, Clock]) -> None:
    audit, clock = log
    fill(audit, clock)

    def ids(flt: EventFilter) -> list[str]:
        return [e.request_id[-1:] for e in list_events(audit, flt, page_size=50).entries]

    assert ids(EventFilter(organization="insurer")) == ["5", "4", "2", "1"]
    assert ids(EventFilter(organization="stewards")) == ["9"]  # the policy change it made
    assert ids(EventFilter(client_id="bank-app")) == ["3"]
    assert ids(EventFilter(method="IdentityService/Verify")) == ["2"]
    assert ids(EventFilter(organization="insurer", method="EligibilityService/Check")) == [
        "5",
        "4",
        "1",
    ]
    day2 = EventFilter(organization="insurer", since=DAY2 - timedelta(hours=1))
    assert ids(day2) == ["5", "4"]
    day1 = EventFilter(organization="insurer", until=DAY2 - timedelta(hours=1))
    assert ids(day1) == ["2", "1"]
    assert ids(EventFilter(organization="nobody")) == []


def test_pages_follow_each_other_without_gaps_or_repeats(log: tuple[AuditLog, Clock]) -> None:
    audit, clock = log
    fill(audit, clock)
    seen: list[int] = []
    before: int | None = None
    pages = 0
    while True:
        page = list_events(audit, EventFilter(), page_size=3, before=before)
        pages += 1
        seen += [e.index for e in page.entries]
        if page.next_before is None:
            break
        before = page.next_before
    assert pages == 3
    assert seen == [e.index for e in list_events(audit, EventFilter(), page_size=50).entries]


def test_a_page_reads_at_most_max_scan_leaves_and_says_where_to_read_on(
    log: tuple[AuditLog, Clock],
) -> None:
    audit, clock = log
    fill(audit, clock)
    size = audit.size
    page = list_events(audit, EventFilter(client_id="bank-app"), page_size=10, max_scan=3)
    assert page.entries == () and page.next_before == size - 3
    found = []
    before: int | None = None
    while True:
        page = list_events(
            audit, EventFilter(client_id="bank-app"), page_size=10, before=before, max_scan=3
        )
        found += list(page.entries)
        if page.next_before is None:
            break
        before = page.next_before
    assert [(e.client_id, e.decision) for e in found] == [("bank-app", "allow")]


def test_usage_counts_calls_per_day_and_refusals_by_reason(log: tuple[AuditLog, Clock]) -> None:
    audit, clock = log
    fill(audit, clock)
    window = (DAY1 - timedelta(days=1), DAY2 + timedelta(days=1))
    report = usage_summary(audit, since=window[0], until=window[1])
    assert (report.since, report.until, report.truncated) == (*window, False)
    apps = report.apps
    by_app = {a.client_id: a for a in apps}
    ins = by_app["ins-app"]
    assert (ins.organization, ins.calls, ins.refused) == ("insurer", 4, 3)
    assert [(d.day, d.calls, d.refused) for d in ins.days] == [
        (date(2026, 11, 2), 2, 1),
        (date(2026, 11, 3), 2, 2),
    ]
    assert ins.refusals == (("SCOPE_NOT_GRANTED", 2), ("CONSENT_REQUIRED", 1))
    assert (by_app["bank-app"].calls, by_app["bank-app"].refused) == (1, 0)
    anonymous = by_app[""]
    assert (anonymous.calls, anonymous.refusals) == (7, (("UNAUTHENTICATED_RATE_LIMITED", 7),))
    assert [a.client_id for a in apps] == ["", "ins-app", "bank-app"]  # most calls first


def test_usage_of_one_organization_within_a_window(log: tuple[AuditLog, Clock]) -> None:
    audit, clock = log
    fill(audit, clock)
    apps = usage_summary(
        audit,
        since=DAY2 - timedelta(hours=1),
        until=DAY2 + timedelta(hours=1),
        organization="insurer",
    ).apps
    assert [(a.client_id, a.calls, a.refused) for a in apps] == [("ins-app", 2, 2)]
    assert usage_summary(audit, since=DAY1, until=DAY2, client_id="nobody").apps == ()


def test_usage_past_its_read_bound_covers_the_newest_part_and_says_where_it_stopped(
    log: tuple[AuditLog, Clock],
) -> None:
    audit, clock = log
    fill(audit, clock)
    # Day 2 holds the newest 6 leaves: reading only those never reaches day 1.
    report = usage_summary(
        audit, since=DAY1 - timedelta(days=1), until=DAY2 + timedelta(days=1), max_scan=6
    )
    assert report.truncated and report.since == DAY2
    assert {a.client_id: a.calls for a in report.apps} == {"": 7, "ins-app": 2}
    whole = usage_summary(
        audit, since=DAY1 - timedelta(days=1), until=DAY2 + timedelta(days=1), max_scan=14
    )
    assert not whole.truncated and whole.since == DAY1 - timedelta(days=1)  # 14 leaves in all
