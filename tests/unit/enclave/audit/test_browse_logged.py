"""A steward's read of the log is itself logged (issue 14): :class:`LogBrowser` writes the
request leaf before it reads, then the allowing decision and the release with a receipt; an
answer never shows the call that reads it, and a page below a cursor ignores the leaves
logged since."""

from __future__ import annotations

from datetime import timedelta

from dataward import receipts
from enclave.audit import (
    AuditLog,
    Decision,
    EventFilter,
    LogBrowser,
    Release,
    RequestReceived,
)
from enclave.release import Caller
from tests.unit.enclave.audit.test_browse import DAY2, Clock, fill, log  # noqa: F401

STEWARD = Caller("portal-steward", "stewards", subject="user:3")


def leaves(audit: AuditLog, request_id: str) -> list[object]:
    return [
        e.event for e in audit.tail(1_000) if getattr(e.event, "request_id", None) == request_id
    ]


def test_a_page_read_is_a_request_a_decision_and_a_release(log: tuple[AuditLog, Clock]) -> None:  # noqa: F811
    audit, clock = log
    fill(audit, clock)
    read = LogBrowser(audit).list_events(STEWARD, EventFilter(), page_size=50)
    logged = leaves(audit, read.request_id)
    assert [type(e) for e in logged] == [RequestReceived, Decision, Release]
    request = logged[0]
    assert isinstance(request, RequestReceived)
    assert (request.method, request.client_id, request.organization) == (
        receipts.AUDIT_LIST_EVENTS,
        "portal-steward/user:3",
        "stewards",
    )
    assert isinstance(logged[1], Decision) and logged[1].allow
    assert logged[1].policy_version == "api-access/1"
    release = receipts.parse_release_leaf(read.receipt.leaf or b"")
    assert release.request_id == read.request_id
    # its own request is not listed; the eight entries fill() logged are
    assert read.request_id not in {e.request_id for e in read.value.entries}
    assert len(read.value.entries) == 8


def test_the_next_read_lists_the_previous_one_and_a_cursor_ignores_newer_leaves(
    log: tuple[AuditLog, Clock],  # noqa: F811
) -> None:
    audit, clock = log
    fill(audit, clock)
    browser = LogBrowser(audit)
    first = browser.list_events(STEWARD, EventFilter(), page_size=3)
    assert first.value.next_before is not None
    second = browser.list_events(
        STEWARD, EventFilter(), page_size=3, before=first.value.next_before
    )
    indexes = [e.index for e in (*first.value.entries, *second.value.entries)]
    assert indexes == sorted(set(indexes), reverse=True)
    again = browser.list_events(STEWARD, EventFilter(), page_size=50)
    listed = {e.request_id: e for e in again.value.entries}
    assert {first.request_id, second.request_id} <= listed.keys()
    assert again.request_id not in listed
    assert listed[first.request_id].decision == "allow" and listed[first.request_id].released


def test_a_usage_summary_is_logged_and_never_counts_itself(log: tuple[AuditLog, Clock]) -> None:  # noqa: F811
    audit, clock = log
    fill(audit, clock)
    browser = LogBrowser(audit)
    since, until = DAY2 - timedelta(days=5), DAY2 + timedelta(days=1)
    read = browser.usage_summary(STEWARD, since=since, until=until)
    assert [type(e) for e in leaves(audit, read.request_id)] == [RequestReceived, Decision, Release]
    assert "portal-steward/user:3" not in {a.client_id for a in read.value.apps}
    again = browser.usage_summary(STEWARD, since=since, until=until)
    (mine,) = [a for a in again.value.apps if a.client_id == "portal-steward/user:3"]
    assert (mine.calls, mine.refused) == (1, 0)
