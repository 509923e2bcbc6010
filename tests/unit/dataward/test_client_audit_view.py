"""The SDK's steward view of the zone's log (issue 14): wire messages to frozen values, and
the times it sends."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dataward.client import Client, StaticTokenSource
from dataward.client._audit_view import audit_page, usage_summary
from dataward.v1 import audit_pb2, common_pb2


def test_an_entry_and_its_cursor_arrive_as_sent() -> None:
    wire = audit_pb2.ListEventsResponse(
        entries=[
            audit_pb2.AuditLogEntry(
                leaf_index=7,
                logged_at_micros=1_796_000_000_123_456,
                kind="request_received",
                client_id="app-1",
                organization="acme",
                method="EligibilityService/Check",
                purpose="INSURANCE_UNDERWRITING",
                request_id="a" * 32,
                decision=audit_pb2.AUDIT_DECISION_DENY,
                reasons=["CONSENT_REQUIRED"],
                about_person=True,
            ),
            audit_pb2.AuditLogEntry(leaf_index=3, kind="steward_action", actor="p/user:1"),
        ],
        next_page_token="3",
    )
    page = audit_page(wire)
    first, second = page.entries
    assert (first.leaf_index, first.decision, first.reasons, first.about_person) == (
        7,
        "deny",
        ("CONSENT_REQUIRED",),
        True,
    )
    assert first.time == datetime(2026, 11, 30, 0, 53, 20, 123456, tzinfo=UTC)
    assert (second.kind, second.decision, second.actor) == ("steward_action", "", "p/user:1")
    assert page.next_page_token == "3"


def test_usage_arrives_per_app_and_day() -> None:
    wire = audit_pb2.UsageSummaryResponse(
        from_time=1_796_000_000,
        to_time=1_796_086_400,
        apps=[
            audit_pb2.AppUsage(
                client_id="app-1",
                organization="acme",
                calls=3,
                refused=1,
                days=[
                    audit_pb2.DailyUsage(
                        day=common_pb2.Date(year=2026, month=11, day=30), calls=3, refused=1
                    )
                ],
                refusals=[audit_pb2.RefusalCount(reason="CONSENT_REQUIRED", count=1)],
            )
        ],
    )
    summary = usage_summary(wire)
    (app,) = summary.apps
    assert (app.calls, app.refused, app.refusals) == (3, 1, (("CONSENT_REQUIRED", 1),))
    assert [(d.day, d.calls, d.refused) for d in app.days] == [(date(2026, 11, 30), 3, 1)]
    assert (summary.until - summary.since).days == 1


def test_a_naive_time_is_refused_before_any_call() -> None:
    with Client("127.0.0.1:9", StaticTokenSource("t")) as client:
        with pytest.raises(ValueError, match="aware datetime"):
            client.list_audit_events(since=datetime(2026, 1, 1))
        with pytest.raises(ValueError, match="aware datetime"):
            client.usage_summary(until=datetime(2026, 1, 1))
