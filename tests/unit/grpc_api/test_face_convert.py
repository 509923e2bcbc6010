"""A face verdict on the wire (issue 13): every outcome, band and retake reason of the domain
has its proto value; the empty band and retake are UNSPECIFIED; no distance field exists."""

from __future__ import annotations

import pytest

from dataward.transparency import Receipt
from dataward.v1 import identity_pb2
from enclave.biometrics import FaceBand, FaceOutcome, FaceVerdict, Retake
from enclave.persons import DocumentVerdict, RegistryStatus
from grpc_api._convert import face_to_proto, verdict_to_proto

SENTENCE = "validated on LFW fold 1"


@pytest.mark.parametrize("retake", list(Retake))
def test_every_retake_reason_has_its_wire_value(retake: Retake) -> None:
    outcome = FaceOutcome.INCONCLUSIVE if retake is not Retake.NONE else FaceOutcome.MATCH
    band = FaceBand.NONE if retake is not Retake.NONE else FaceBand.HIGH
    wire = face_to_proto(FaceVerdict(outcome, band, retake, SENTENCE))
    name = identity_pb2.RetakeReason.Name(wire.retake)
    assert name == (
        f"RETAKE_REASON_{retake.value}" if retake.value else "RETAKE_REASON_UNSPECIFIED"
    )
    assert wire.validated_on == SENTENCE


@pytest.mark.parametrize("outcome", list(FaceOutcome))
@pytest.mark.parametrize("band", list(FaceBand))
def test_every_outcome_and_band(outcome: FaceOutcome, band: FaceBand) -> None:
    wire = face_to_proto(FaceVerdict(outcome, band, Retake.NONE, SENTENCE))
    assert identity_pb2.FaceOutcome.Name(wire.outcome) == f"FACE_OUTCOME_{outcome.value}"
    expected = f"FACE_BAND_{band.value}" if band.value else "FACE_BAND_UNSPECIFIED"
    assert identity_pb2.FaceBand.Name(wire.band) == expected


def test_the_face_is_set_only_with_a_selfie() -> None:
    receipt = Receipt(0, b"\x00" * 32, "", ())
    plain = verdict_to_proto(DocumentVerdict(True, True, RegistryStatus.ACTIVE), receipt,
                             request_id="r")  # fmt: skip
    assert not plain.HasField("face")
    face = FaceVerdict(FaceOutcome.NO_MATCH, FaceBand.MEDIUM, Retake.NONE, SENTENCE)
    with_face = verdict_to_proto(
        DocumentVerdict(True, True, RegistryStatus.ACTIVE, face), receipt, request_id="r"
    )
    assert with_face.face.outcome == identity_pb2.FACE_OUTCOME_NO_MATCH


def test_no_distance_or_score_on_the_wire() -> None:
    names = {f.name for f in identity_pb2.FaceCheck.DESCRIPTOR.fields}
    names |= {f.name for f in identity_pb2.VerifyResponse.DESCRIPTOR.fields}
    assert not {n for n in names if any(w in n for w in ("distance", "score", "template"))}
