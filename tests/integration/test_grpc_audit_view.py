"""``AuditService.ListEvents`` and ``UsageSummary`` over a real server (issue 14): a steward
reads who asked what, for which purpose, the decision and when; a partner's audit:read does
not; every filter out of its format is INVALID_ARGUMENT naming its field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from dataward.client import (
    Client,
    ConsentRequired,
    InvalidArgument,
    PermissionDenied,
    StaticTokenSource,
)
from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import ALICE, DAVE

UW = "INSURANCE_UNDERWRITING"
STEWARD_SCOPES = ("steward:admin", "audit:read")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with grpc_stack(tmp_path) as s:
        yield s


def steward(stack: Stack, scopes: tuple[str, ...] = STEWARD_SCOPES) -> Client:
    token = stack.issuer.token(
        client_id="portal-steward-pages", org="zone-stewards", scopes=scopes, purposes=()
    )
    return Client(stack.target, StaticTokenSource(token))


def partner_calls(stack: Stack) -> None:
    """acme's app-1: an allowed check and a refused one; bank's app-2: one allowed check."""
    stack.consent(ALICE)
    stack.consent(ALICE, partner="bank-2", purpose="LOAN_ORIGINATION")
    with Client(stack.target, StaticTokenSource(stack.issuer.token())) as acme:
        acme.check_eligibility(ALICE, "OUTPATIENT", UW)
        with pytest.raises(ConsentRequired):
            acme.check_eligibility(DAVE, "OUTPATIENT", UW)
    bank_token = stack.issuer.token(client_id="app-2", org="bank-2", purposes=("LOAN_ORIGINATION",))
    with Client(stack.target, StaticTokenSource(bank_token)) as bank:
        bank.check_eligibility(ALICE, "OUTPATIENT", "LOAN_ORIGINATION")


def test_a_steward_sees_each_partner_request_with_its_decision(stack: Stack) -> None:
    partner_calls(stack)
    with steward(stack) as s:
        page = s.list_audit_events()
    # (the consents granted first are requests too, of the steward's own client)
    requests = [e for e in page.entries if e.client_id in ("app-1", "app-2")]
    assert [(e.client_id, e.organization, e.purpose, e.decision) for e in requests] == [
        ("app-2", "bank-2", "LOAN_ORIGINATION", "allow"),
        ("app-1", "acme-insurance", UW, "deny"),
        ("app-1", "acme-insurance", UW, "allow"),
    ]
    assert {e.method for e in requests} == {"EligibilityService/Check"}
    assert requests[0].released and requests[2].released and not requests[1].released
    assert requests[1].reasons and all(e.about_person for e in requests)
    assert page.next_page_token == ""
    now = datetime.now(UTC)
    assert all(now - timedelta(minutes=5) < e.time <= now for e in requests)


def test_filters_by_organization_app_method_and_time(stack: Stack) -> None:
    partner_calls(stack)
    with steward(stack) as s:
        acme = s.list_audit_events(organization="acme-insurance")
        assert [e.decision for e in acme.entries] == ["deny", "allow"]
        assert [e.client_id for e in s.list_audit_events(client_id="app-2").entries] == ["app-2"]
        full = s.list_audit_events(method="/dataward.v1.EligibilityService/Check")
        assert len(full.entries) == 3
        assert s.list_audit_events(method="IdentityService/Verify").entries == ()
        later = datetime.now(UTC) + timedelta(hours=1)
        assert s.list_audit_events(since=later).entries == ()
        assert len(s.list_audit_events(until=later, organization="bank-2").entries) == 1


def test_pages_of_one_entry_walk_the_whole_log(stack: Stack) -> None:
    partner_calls(stack)
    with steward(stack) as s:
        seen, token = [], ""
        while True:
            page = s.list_audit_events(organization="acme-insurance", page_size=1, page_token=token)
            seen += [e.leaf_index for e in page.entries]
            if not page.next_page_token:
                break
            token = page.next_page_token
        assert len(seen) == 2 and seen == sorted(seen, reverse=True)


def test_usage_counts_each_apps_calls_per_day_and_refusals_by_reason(stack: Stack) -> None:
    partner_calls(stack)
    with steward(stack) as s:
        summary = s.usage_summary()
    apps = {a.client_id: a for a in summary.apps}
    acme = apps["app-1"]
    assert (acme.organization, acme.calls, acme.refused) == ("acme-insurance", 2, 1)
    assert [(d.day, d.calls, d.refused) for d in acme.days] == [(datetime.now(UTC).date(), 2, 1)]
    assert sum(n for _, n in acme.refusals) == 1
    assert (apps["app-2"].calls, apps["app-2"].refused) == (1, 0)
    assert summary.until - summary.since == timedelta(days=30) and not summary.truncated
    with steward(stack) as s:
        only = s.usage_summary(organization="bank-2")
    assert [a.client_id for a in only.apps] == ["app-2"]


@pytest.mark.parametrize(
    "scopes", [("audit:read",), ("steward:admin",)], ids=["partner-audit-read", "no-audit-read"]
)
def test_it_needs_audit_read_held_by_a_steward(stack: Stack, scopes: tuple[str, ...]) -> None:
    partner_calls(stack)
    token = stack.issuer.token(scopes=(*scopes, "eligibility:check"))
    with Client(stack.target, StaticTokenSource(token)) as c:
        for call in (c.list_audit_events, c.usage_summary):
            with pytest.raises(PermissionDenied) as refused:
                call()
            assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
            assert refused.value.reason == "SCOPE_NOT_GRANTED"
    # ... and each refusal is itself in the log the steward reads.
    with steward(stack) as s:
        methods = [e.method for e in s.list_audit_events(client_id="app-1").entries]
    assert methods[:2] == ["AuditService/UsageSummary", "AuditService/ListEvents"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"page_size": 201}, "page_size"),
        ({"page_token": "not-a-token"}, "page_token"),
        ({"page_token": "0"}, "page_token"),
        ({"organization": "no spaces here"}, "organization"),
        ({"client_id": "x" * 129}, "client_id"),
        ({"method": "Check"}, "method"),
        (
            {"since": datetime(2026, 1, 2, tzinfo=UTC), "until": datetime(2026, 1, 1, tzinfo=UTC)},
            "to_time",
        ),
    ],
)
def test_a_filter_out_of_its_format_names_its_field(
    stack: Stack, kwargs: dict[str, object], field: str
) -> None:
    with steward(stack) as s, pytest.raises(InvalidArgument) as refused:
        s.list_audit_events(**kwargs)  # type: ignore[arg-type]
    assert (refused.value.reason, refused.value.metadata["field"]) == ("FIELD_INVALID", field)


def test_a_usage_window_past_366_days_is_refused(stack: Stack) -> None:
    until = datetime.now(UTC) + timedelta(minutes=5)
    with steward(stack) as s:
        with pytest.raises(InvalidArgument) as refused:
            s.usage_summary(since=until - timedelta(days=367), until=until)
        assert refused.value.metadata["field"] == "from_time"
        with pytest.raises(InvalidArgument) as refused:
            s.usage_summary(organization="a b")
        assert refused.value.metadata["field"] == "organization"
        # 366 days is allowed; the two refusals above are the steward client's only calls.
        year = s.usage_summary(since=until - timedelta(days=366), until=until)
        assert [(a.client_id, a.refused) for a in year.apps] == [("portal-steward-pages", 2)]
