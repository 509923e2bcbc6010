"""The face checks' refusals on the wire (issue 13): status, reason, the problem or limit in
the ErrorInfo metadata, RetryInfo where a retry helps; never a value of the request."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from enclave.biometrics import (
    AttemptsExhausted,
    FaceNotEnrolled,
    FaceWorkerFailed,
    ImageInvalid,
)
from enclave.persons import SelfieNotSupported
from grpc_api import refusal_for
from grpc_api._status import to_rpc_status

C = grpc.StatusCode


@pytest.mark.parametrize(
    ("exc", "code", "reason", "metadata"),
    [
        (ImageInvalid("TOO_MANY_PIXELS", "20000 x 20000"), C.INVALID_ARGUMENT, "IMAGE_INVALID",
         {"problem": "TOO_MANY_PIXELS"}),
        (AttemptsExhausted("PERSON_DAY", 3600.0), C.RESOURCE_EXHAUSTED, "ATTEMPTS_EXHAUSTED",
         {"limit": "PERSON_DAY"}),
        (FaceNotEnrolled(), C.FAILED_PRECONDITION, "FACE_NOT_ENROLLED", {}),
        (FaceWorkerFailed("CRASHED", "exit -9"), C.UNAVAILABLE, "UNAVAILABLE",
         {"problem": "CRASHED"}),
        (SelfieNotSupported(), C.UNIMPLEMENTED, "NOT_IMPLEMENTED", {}),
    ],
)  # fmt: skip
def test_face_refusals(
    exc: Exception, code: grpc.StatusCode, reason: str, metadata: dict[str, str]
) -> None:
    refusal = refusal_for(exc)
    assert (refusal.code, refusal.reason, dict(refusal.metadata)) == (code, reason, metadata)
    assert "this is a bug" not in refusal.message


def _details(exc: Exception) -> list[object]:
    status = to_rpc_status(refusal_for(exc))
    found: list[object] = []
    for key, value in status.trailing_metadata:
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                for kind in (error_details_pb2.ErrorInfo, error_details_pb2.RetryInfo):
                    message = kind()
                    if detail.Unpack(message):
                        found.append(message)
    return found


def test_attempts_exhausted_carries_retry_info_with_the_wait() -> None:
    details = _details(AttemptsExhausted("PERSON_MONTH", 86_400.5))
    retry = [d for d in details if isinstance(d, error_details_pb2.RetryInfo)]
    assert len(retry) == 1
    assert retry[0].retry_delay.seconds == 86_400
    assert retry[0].retry_delay.nanos == 500_000_000


def test_worker_failure_is_retryable() -> None:
    details = _details(FaceWorkerFailed("TIMEOUT", "30 s"))
    assert any(isinstance(d, error_details_pb2.RetryInfo) for d in details)


def test_a_refused_image_has_no_retry_info() -> None:
    assert not any(
        isinstance(d, error_details_pb2.RetryInfo)
        for d in _details(ImageInvalid("EMPTY", "no bytes"))
    )
