"""CheckBatch admits every item like a unary call (token, rate limit) and caps a stream's
items; AuditService.GetReceipt never signs on demand and maps unknown entries to NOT_FOUND."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dataward.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    common_pb2,
    eligibility_pb2,
    eligibility_pb2_grpc,
)
from tests.support.grpc_stack import Stack, grpc_stack, refusal_commits
from tests.support.person_fakes import ALICE

ITEM = eligibility_pb2.CheckBatchRequest(
    item=eligibility_pb2.CheckRequest(
        id_number=ALICE,
        benefit=eligibility_pb2.BENEFIT_OUTPATIENT,
        purpose=common_pb2.PURPOSE_INSURANCE_UNDERWRITING,
    )
)


def run_batch(
    stack: Stack, token: str, items: Iterator[eligibility_pb2.CheckBatchRequest]
) -> tuple[list[eligibility_pb2.CheckBatchResponse], grpc.RpcError | None]:
    answered: list[eligibility_pb2.CheckBatchResponse] = []
    with grpc.insecure_channel(stack.target) as channel:
        stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        try:
            for response in stub.CheckBatch(
                items, metadata=(("authorization", f"Bearer {token}"),), timeout=10
            ):
                answered.append(response)
        except grpc.RpcError as exc:
            return answered, exc
    return answered, None


def reason_of(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return str(info.reason)


def test_each_batch_item_takes_a_rate_limit_token(tmp_path: Path) -> None:
    # A burst of 2: one for opening the stream (issue 8 review: opening cost nothing, so idle
    # streams were free), one for the first item; the second item is refused.
    with grpc_stack(tmp_path, rate_limit_per_second=0.01, rate_limit_burst=2) as stack:
        stack.consent(ALICE)
        answered, error = run_batch(stack, stack.issuer.token(), iter([ITEM] * 200))
        refused = refusal_commits(stack)
    assert [r.index for r in answered] == [0]
    assert answered[0].HasField("result")
    assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason_of(error) == "RATE_LIMITED"
    assert [(req.method, dec.reasons) for req, dec in refused] == [
        ("EligibilityService/CheckBatch", ("RATE_LIMITED",))
    ]


def test_a_stream_past_max_batch_items_ends_resource_exhausted(tmp_path: Path) -> None:
    with grpc_stack(tmp_path, max_batch_items=2) as stack:
        stack.consent(ALICE)
        answered, error = run_batch(stack, stack.issuer.token(), iter([ITEM] * 3))
        refused = refusal_commits(stack)
    assert [r.index for r in answered] == [0, 1]
    assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason_of(error) == "BATCH_TOO_LARGE"
    assert [dec.reasons for _, dec in refused] == [("BATCH_TOO_LARGE",)]


def test_a_token_revoked_during_a_stream_ends_it_unauthenticated(tmp_path: Path) -> None:
    with grpc_stack(tmp_path) as stack:
        stack.consent(ALICE)
        token = stack.issuer.token()

        def items() -> Iterator[eligibility_pb2.CheckBatchRequest]:
            yield ITEM
            stack.issuer.revoke_token(token)
            time.sleep(3 * stack.feed.poll_seconds + 0.5)  # the feed has polled since
            yield from [ITEM] * 5

        answered, error = run_batch(stack, token, items())
        refused = refusal_commits(stack)
    assert [r.index for r in answered] == [0]
    assert error is not None and error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason_of(error) == "TOKEN_REVOKED"
    assert [(req.client_id, dec.reasons) for req, dec in refused] == [("app-1", ("TOKEN_REVOKED",))]


def get_receipt(stack: Stack, leaf_index: int) -> audit_pb2.GetReceiptResponse:
    with grpc.insecure_channel(stack.target) as channel:
        stub = audit_pb2_grpc.AuditServiceStub(channel)
        response: audit_pb2.GetReceiptResponse = stub.GetReceipt(
            audit_pb2.GetReceiptRequest(leaf_index=leaf_index),
            metadata=(("authorization", f"Bearer {stack.issuer.token()}"),),
            timeout=5,
        )
        return response


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with grpc_stack(tmp_path) as s:
        yield s


def test_get_receipt_never_signs_on_demand(stack: Stack) -> None:
    run_batch(stack, "not-a-jwt", iter([ITEM]))  # two refusal leaves, no checkpoint yet
    assert stack.log.size == 2
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as excinfo:
            get_receipt(stack, 1)
        assert excinfo.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason_of(excinfo.value) == "NOT_YET_SIGNED"
    assert stack.store.checkpoints() == []
    stack.log.checkpoint()  # the committer's own schedule, here made to happen now
    receipts = [get_receipt(stack, 1).receipt for _ in range(3)]
    assert len(stack.store.checkpoints()) == 1
    assert {r.checkpoint_note for r in receipts} == {receipts[0].checkpoint_note}
    assert receipts[0].leaf_index == 1


def test_get_receipt_of_an_unknown_entry_is_not_found(stack: Stack) -> None:
    with pytest.raises(grpc.RpcError) as excinfo:
        get_receipt(stack, 99)
    assert excinfo.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(excinfo.value) == "NOT_FOUND"
    assert "99" not in (excinfo.value.details() or "")


def test_a_storage_fault_ends_the_stream_unavailable_instead_of_an_item_error(
    tmp_path: Path,
) -> None:
    """Issue 9: an audit log that cannot commit is the zone's fault, not the item's: the
    stream ends UNAVAILABLE (with RetryInfo), as the unary call would, instead of answering
    an item error and going on to the next item."""
    with grpc_stack(tmp_path) as stack:
        stack.consent(ALICE)
        stack.store.failing = OSError("disk full")
        answered, error = run_batch(stack, stack.issuer.token(), iter([ITEM] * 5))
        stack.store.failing = None
    assert answered == []
    assert error is not None and error.code() == grpc.StatusCode.UNAVAILABLE
    assert reason_of(error) == "UNAVAILABLE"
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert any(detail.Unpack(retry) for detail in status.details)
