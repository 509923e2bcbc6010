"""The answer's receipt on the wire (issue 15 fills it in place): exactly the receipt's fields,
the same bytes as a Receipt message built whole and nested by the response's constructor."""

from __future__ import annotations

import pytest

from dataward.transparency import Receipt
from dataward.v1 import common_pb2, eligibility_pb2
from enclave.persons import CoverageClass, EligibilityDecision, EligibilityReason
from grpc_api._convert import decision_to_proto, receipt_to_proto

PROOF = tuple(bytes([i]) * 32 for i in range(5))
RECEIPTS = [
    Receipt(7, b"h" * 32, "zone\n8\nroot\n\n\u2014 zone sig\n", PROOF, b'{"kind":"release"}'),
    Receipt(0, b"h" * 32, "zone\n1\nroot\n\n\u2014 zone sig\n", (), None),  # no leaf, no proof
]


def _whole(receipt: Receipt, request_id: str) -> common_pb2.Receipt:
    return common_pb2.Receipt(
        leaf_index=receipt.leaf_index,
        leaf_hash=receipt.leaf_hash,
        checkpoint_note=receipt.checkpoint_note,
        inclusion_proof=list(receipt.inclusion_proof),
        leaf=receipt.leaf or b"",
        request_id=request_id,
    )


@pytest.mark.parametrize("receipt", RECEIPTS)
def test_the_receipt_message_holds_exactly_the_receipt(receipt: Receipt) -> None:
    message = receipt_to_proto(receipt, request_id="r" * 32)
    assert message == _whole(receipt, "r" * 32)
    assert message.SerializeToString() == _whole(receipt, "r" * 32).SerializeToString()


@pytest.mark.parametrize("receipt", RECEIPTS)
@pytest.mark.parametrize(
    "decision",
    [
        EligibilityDecision(True, CoverageClass.EMPLOYEE, ()),
        EligibilityDecision(False, None, (EligibilityReason.NOT_ENROLLED,)),
    ],
)
def test_a_check_answer_carries_its_receipt_as_if_nested_whole(
    decision: EligibilityDecision, receipt: Receipt
) -> None:
    response = decision_to_proto(decision, receipt, request_id="r" * 32)
    assert response.HasField("receipt")
    assert response.receipt == _whole(receipt, "r" * 32)
    nested = eligibility_pb2.CheckResponse(
        eligible=response.eligible,
        coverage_class=response.coverage_class,
        reasons=list(response.reasons),
        receipt=_whole(receipt, "r" * 32),
    )
    assert response.SerializeToString() == nested.SerializeToString()
