"""Reading the zone's log is logged like any answer (issue 14): each successful ListEvents and
UsageSummary call is a request leaf, then the allowing decision and the release whose result
hash covers the answer, before the answer leaves; the SDK verifies its receipt. An answer never
shows the call that reads it, and pages walk the log without its own reads shifting them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from dataward.client import (
    Client,
    InvalidArgument,
    PermissionDenied,
    ReceiptInvalid,
    StaticTokenSource,
)
from enclave.audit import Decision, Release, RequestReceived
from tests.integration.test_grpc_audit_view import partner_calls, steward
from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import ALICE


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with grpc_stack(tmp_path) as s:
        yield s


def leaves_of(stack: Stack, request_id: str) -> list[object]:
    return [
        e.event
        for e in stack.log.tail(10_000)
        if getattr(e.event, "request_id", None) == request_id
    ]


def test_a_page_is_a_request_a_decision_and_a_release_and_its_receipt_verifies(
    stack: Stack,
) -> None:
    partner_calls(stack)
    with steward(stack) as s:
        page = s.list_audit_events(organization="acme-insurance", client_nonce="nonce-page-0000001")
        assert page.receipt is not None and page.request_id
        leaves = leaves_of(stack, page.request_id)
        assert [type(e) for e in leaves] == [RequestReceived, Decision, Release]
        request = leaves[0]
        assert isinstance(request, RequestReceived)
        assert request.method == "AuditService/ListEvents"
        assert request.client_id.startswith("portal-steward-pages")
        assert request.organization == "zone-stewards" and request.person_token is None
        assert isinstance(leaves[1], Decision) and leaves[1].allow
        assert page.receipt.leaf_index == stack.log.tail(1)[0].index
        checkpoint = s.verify_answer(page)
        assert checkpoint.size > page.receipt.leaf_index
        # the hash covers every entry and the cursor
        for edited in (
            replace(page, entries=page.entries[1:]),
            replace(page, entries=(replace(page.entries[0], decision="allow"), *page.entries[1:])),
            replace(page, next_page_token="7"),
            replace(page, client_nonce="another"),
        ):
            with pytest.raises(ReceiptInvalid):
                s.verify_answer(edited)


def test_a_page_never_lists_its_own_call_and_the_next_read_lists_it(stack: Stack) -> None:
    with steward(stack) as s:
        first = s.list_audit_events()
        assert first.request_id not in {e.request_id for e in first.entries}
        second = s.list_audit_events()
    assert second.request_id not in {e.request_id for e in second.entries}
    (listed,) = [e for e in second.entries if e.request_id == first.request_id]
    assert (listed.method, listed.decision, listed.released) == (
        "AuditService/ListEvents",
        "allow",
        True,
    )


def test_pages_walk_the_log_once_while_each_page_call_is_logged(stack: Stack) -> None:
    partner_calls(stack)
    stack.consent(ALICE, partner="bank-2", purpose="LOAN_ORIGINATION")
    with steward(stack) as s:
        seen, own, token = [], set(), ""
        while True:
            page = s.list_audit_events(page_size=2, page_token=token)
            s.verify_answer(page)
            own.add(page.request_id)
            seen += [(e.leaf_index, e.request_id) for e in page.entries]
            if not page.next_page_token:
                break
            token = page.next_page_token
    indexes = [i for i, _ in seen]
    assert len(indexes) > 4 and indexes == sorted(set(indexes), reverse=True)
    assert not own & {r for _, r in seen}


def test_usage_summary_is_logged_and_verifies_and_never_counts_itself(stack: Stack) -> None:
    partner_calls(stack)
    with steward(stack) as s:
        summary = s.usage_summary(client_nonce="nonce-usage-000001")
        assert summary.receipt is not None
        leaves = leaves_of(stack, summary.request_id)
        assert [type(e) for e in leaves] == [RequestReceived, Decision, Release]
        assert isinstance(leaves[0], RequestReceived)
        assert leaves[0].method == "AuditService/UsageSummary"
        s.verify_answer(summary)
        with pytest.raises(ReceiptInvalid):
            s.verify_answer(replace(summary, apps=summary.apps[1:]))
        with pytest.raises(ReceiptInvalid):
            s.verify_answer(replace(summary, truncated=True))
        assert not [a for a in summary.apps if a.client_id.startswith("portal-steward-pages")]
        again = s.usage_summary()
    (mine,) = [a for a in again.apps if a.client_id.startswith("portal-steward-pages")]
    assert mine.calls == 1 and mine.refused == 0


def test_refusals_are_still_logged_as_refusals(stack: Stack) -> None:
    token = stack.issuer.token(scopes=("audit:read",))
    with Client(stack.target, StaticTokenSource(token)) as partner:
        with pytest.raises(PermissionDenied):
            partner.list_audit_events()
        with pytest.raises(PermissionDenied):
            partner.usage_summary()
    with steward(stack) as s, pytest.raises(InvalidArgument) as bad:
        s.list_audit_events(page_size=201)
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT
    refused = [
        e.event
        for e in stack.log.tail(10_000)
        if isinstance(e.event, RequestReceived) and e.event.method.startswith("AuditService/")
    ]
    assert [r.method for r in refused] == [
        "AuditService/ListEvents",
        "AuditService/UsageSummary",
        "AuditService/ListEvents",
    ]
    denied = {
        e.event.request_id
        for e in stack.log.tail(10_000)
        if isinstance(e.event, Decision) and not e.event.allow
    }
    released = {e.event.request_id for e in stack.log.tail(10_000) if isinstance(e.event, Release)}
    assert all(r.request_id in denied and r.request_id not in released for r in refused)
