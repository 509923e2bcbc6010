"""The SDK's side of a selfie's face check (issue 13): the FaceCheck read by name, the
receipt's fields with the face verdict (a changed verdict does not hash the same), and the
typed errors of the face refusals."""

from __future__ import annotations

import grpc

from dataward import receipts
from dataward.client import (
    AttemptsExhausted,
    FaceNotEnrolled,
    FaceResult,
    IdentityResult,
    ImageInvalid,
    InvalidArgument,
)
from dataward.client._convert import identity_result, receipt_from_proto
from dataward.client._release import release_of
from dataward.client.errors import error_for
from dataward.v1 import common_pb2, identity_pb2

NONCE = "n" * 32
RECEIPT = common_pb2.Receipt(leaf_index=1, leaf_hash=b"\x01" * 32, request_id="req_1")
SENTENCE = "validated on LFW fold 1"


def test_a_face_check_crosses_by_name_and_unspecified_is_empty() -> None:
    response = identity_pb2.VerifyResponse(
        id_number_valid=True,
        name_matches=True,
        registry_status=identity_pb2.REGISTRY_STATUS_ACTIVE,
        receipt=RECEIPT,
        face=identity_pb2.FaceCheck(
            outcome=identity_pb2.FACE_OUTCOME_INCONCLUSIVE,
            retake=identity_pb2.RETAKE_REASON_PRESENTATION_SUSPECTED,
            validated_on=SENTENCE,
        ),
    )
    result = identity_result(response, NONCE)
    assert result.face == FaceResult("INCONCLUSIVE", "", "PRESENTATION_SUSPECTED", SENTENCE)
    assert not result.face.matched
    without = identity_result(identity_pb2.VerifyResponse(receipt=RECEIPT), NONCE)
    assert without.face is None


def test_the_receipt_hashes_the_face_verdict() -> None:
    receipt = receipt_from_proto(RECEIPT)
    match = IdentityResult(True, True, "ACTIVE", receipt, "req_1", NONCE,
                           FaceResult("MATCH", "HIGH", "", SENTENCE))  # fmt: skip
    method, fields = release_of(match)
    assert method == receipts.IDENTITY_VERIFY
    assert fields == {
        "id_number_valid": True,
        "name_matches": True,
        "registry_status": "ACTIVE",
        "face_outcome": "MATCH",
        "face_band": "HIGH",
        "face_retake": "",
        "face_validated_on": SENTENCE,
    }
    no_match = IdentityResult(True, True, "ACTIVE", receipt, "req_1", NONCE,
                              FaceResult("NO_MATCH", "HIGH", "", SENTENCE))  # fmt: skip
    digest = receipts.result_hash(method, "req_1", fields, client_nonce=NONCE)
    assert receipts.result_hash(method, "req_1", release_of(no_match)[1], client_nonce=NONCE) != (
        digest
    )
    # Without a selfie the fields are the three document fields, as before issue 13.
    plain = IdentityResult(True, True, "ACTIVE", receipt)
    assert set(release_of(plain)[1]) == {"id_number_valid", "name_matches", "registry_status"}


def test_face_refusals_are_typed() -> None:
    image = error_for(grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_INVALID", "m", {"problem": "EMPTY"})
    assert isinstance(image, ImageInvalid) and isinstance(image, InvalidArgument)
    assert image.problem == "EMPTY"
    attempts = error_for(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "ATTEMPTS_EXHAUSTED", "m", {"limit": "PERSON_DAY"}
    )
    assert isinstance(attempts, AttemptsExhausted) and attempts.limit == "PERSON_DAY"
    enrolled = error_for(grpc.StatusCode.FAILED_PRECONDITION, "FACE_NOT_ENROLLED", "m")
    assert isinstance(enrolled, FaceNotEnrolled)
