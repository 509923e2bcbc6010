"""Proto messages to domain values and back; nothing else."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TypeVar

from google.protobuf.descriptor import EnumDescriptor

from dataward.access import Purpose
from dataward.transparency import Receipt
from dataward.v1 import common_pb2, compute_pb2, eligibility_pb2, identity_pb2
from enclave.biometrics import FaceBand, FaceVerdict, Retake
from enclave.persons import (
    BatchMember,
    BatchScores,
    Benefit,
    CkksBatchQuery,
    CoverageClass,
    CreditBandQuery,
    DocumentVerdict,
    EligibilityDecision,
    EligibilityQuery,
    EligibilityReason,
    EncryptedScore,
    IdentityQuery,
    PaillierScoreQuery,
    RegistryStatus,
    ScoredBand,
    field_problem,
)
from grpc_api.errors import InvalidRequest

_E = TypeVar("_E")

__all__ = [
    "band_to_proto",
    "batch_scores_to_proto",
    "check_fields",
    "ckks_batch_query",
    "credit_band_query",
    "date_from_proto",
    "date_to_proto",
    "decision_to_proto",
    "eligibility_query",
    "encrypted_score_to_proto",
    "face_to_proto",
    "identity_query",
    "paillier_score_query",
    "purpose_from_proto",
    "purpose_to_proto",
    "receipt_to_proto",
    "verdict_to_proto",
]


def _by_number(enum: EnumDescriptor, prefix: str, members: Mapping[str, _E]) -> dict[int, _E]:
    """Wire number -> domain member for the proto enum values named ``prefix`` + a member."""
    found = ((v.number, members.get(v.name.removeprefix(prefix))) for v in enum.values)
    return {number: member for number, member in found if member is not None}


# Built once from the generated descriptors: a dict hit per call instead of an enum walk.
_PURPOSES = _by_number(common_pb2.Purpose.DESCRIPTOR, "PURPOSE_", Purpose.__members__)
_BENEFITS = _by_number(eligibility_pb2.Benefit.DESCRIPTOR, "BENEFIT_", Benefit.__members__)


def purpose_from_proto(value: int) -> Purpose:
    purpose = _PURPOSES.get(value)
    if purpose is None:
        raise InvalidRequest("purpose", "required (one of the Purpose values)")
    return purpose


def purpose_to_proto(purpose: str) -> common_pb2.Purpose.ValueType:
    """The wire number of a purpose (UNSPECIFIED for one the proto does not list)."""
    number = _PURPOSE_NUMBERS.get(purpose, common_pb2.PURPOSE_UNSPECIFIED)
    return common_pb2.Purpose.ValueType(number)


_PURPOSE_NUMBERS = {purpose.value: number for number, purpose in _PURPOSES.items()}


def benefit_from_proto(value: int) -> Benefit:
    benefit = _BENEFITS.get(value)
    if benefit is None:
        raise InvalidRequest("benefit", "required (one of the Benefit values)")
    return benefit


def date_from_proto(value: common_pb2.Date) -> dt.date:
    try:
        return dt.date(value.year, value.month, value.day)
    except ValueError:
        raise InvalidRequest("as_of", "not a calendar date") from None


def date_to_proto(value: dt.date) -> common_pb2.Date:
    return common_pb2.Date(year=value.year, month=value.month, day=value.day)


def receipt_to_proto(receipt: Receipt, *, request_id: str) -> common_pb2.Receipt:
    """The wire receipt; an answer's carries its request id and release leaf ("" otherwise)."""
    message = common_pb2.Receipt()
    _set_receipt(message, receipt, request_id)
    return message


def _set_receipt(target: common_pb2.Receipt, receipt: Receipt, request_id: str) -> None:
    """Fill ``target`` -- a response's own receipt field -- with the receipt, in place: a
    Receipt message passed to a response's constructor is copied into it (issue 15: building
    a CheckResponse this way takes half the time)."""
    target.SetInParent()
    target.leaf_index = receipt.leaf_index
    target.leaf_hash = receipt.leaf_hash
    target.checkpoint_note = receipt.checkpoint_note
    target.inclusion_proof.extend(receipt.inclusion_proof)
    target.leaf = receipt.leaf or b""
    target.request_id = request_id


def check_fields(
    *,
    id_number: str = "",
    name: str = "",
    consent_ref: str = "",
    partner: str = "",
    client_nonce: str = "",
) -> None:
    """Refuse a text field over its documented limit or out of its format (before any log)."""
    problem = field_problem(
        id_number=id_number,
        name=name,
        consent_ref=consent_ref,
        partner=partner,
        client_nonce=client_nonce,
    )
    if problem is not None:
        raise InvalidRequest(problem.field, problem.rule)


def eligibility_query(request: eligibility_pb2.CheckRequest) -> EligibilityQuery:
    check_fields(
        id_number=request.id_number,
        consent_ref=request.consent_ref,
        client_nonce=request.client_nonce,
    )
    return EligibilityQuery(
        id_number=request.id_number,
        benefit=benefit_from_proto(request.benefit),
        as_of=date_from_proto(request.as_of) if request.HasField("as_of") else None,
        purpose=purpose_from_proto(request.purpose).value,
        consent_ref=request.consent_ref,
        client_nonce=request.client_nonce,
    )


# The wire value of each domain value, looked up once (a missing one fails at import).
_COVERAGE = {
    c: eligibility_pb2.CoverageClass.Value(f"COVERAGE_CLASS_{c.value}") for c in CoverageClass
}
_REASON = {
    r: eligibility_pb2.EligibilityReason.Value(f"ELIGIBILITY_REASON_{r.value}")
    for r in EligibilityReason
}
_REGISTRY_STATUS = {
    s: identity_pb2.RegistryStatus.Value(f"REGISTRY_STATUS_{s.value}") for s in RegistryStatus
}


def decision_to_proto(
    decision: EligibilityDecision, receipt: Receipt, *, request_id: str
) -> eligibility_pb2.CheckResponse:
    coverage = (
        _COVERAGE[decision.coverage_class]
        if decision.coverage_class is not None
        else eligibility_pb2.COVERAGE_CLASS_UNSPECIFIED
    )
    response = eligibility_pb2.CheckResponse(
        eligible=decision.eligible,
        coverage_class=coverage,
        reasons=[_REASON[r] for r in decision.reasons],
    )
    _set_receipt(response.receipt, receipt, request_id)
    return response


def identity_query(request: identity_pb2.VerifyRequest) -> IdentityQuery:
    check_fields(
        id_number=request.id_number,
        name=request.name,
        consent_ref=request.consent_ref,
        client_nonce=request.client_nonce,
    )
    return IdentityQuery(
        id_number=request.id_number,
        name=request.name,
        purpose=purpose_from_proto(request.purpose).value,
        consent_ref=request.consent_ref,
        selfie=request.selfie,
        client_nonce=request.client_nonce,
    )


def verdict_to_proto(
    verdict: DocumentVerdict, receipt: Receipt, *, request_id: str
) -> identity_pb2.VerifyResponse:
    return identity_pb2.VerifyResponse(
        id_number_valid=verdict.id_number_valid,
        name_matches=verdict.name_matches,
        registry_status=_REGISTRY_STATUS[verdict.registry_status],
        receipt=receipt_to_proto(receipt, request_id=request_id),
        face=face_to_proto(verdict.face) if verdict.face is not None else None,
    )


def face_to_proto(face: FaceVerdict) -> identity_pb2.FaceCheck:
    """The face check of a selfie (issue 13): outcome, band, retake reason and the
    validation sentence; the domain's empty band and retake are the wire's UNSPECIFIED."""
    return identity_pb2.FaceCheck(
        outcome=identity_pb2.FaceOutcome.Value(f"FACE_OUTCOME_{face.outcome.value}"),
        band=(
            identity_pb2.FaceBand.Value(f"FACE_BAND_{face.band.value}")
            if face.band is not FaceBand.NONE
            else identity_pb2.FACE_BAND_UNSPECIFIED
        ),
        retake=(
            identity_pb2.RetakeReason.Value(f"RETAKE_REASON_{face.retake.value}")
            if face.retake is not Retake.NONE
            else identity_pb2.RETAKE_REASON_UNSPECIFIED
        ),
        validated_on=face.validated_on,
    )


def credit_band_query(request: compute_pb2.CreditBandRequest) -> CreditBandQuery:
    check_fields(id_number=request.id_number, client_nonce=request.client_nonce)
    return CreditBandQuery(
        id_number=request.id_number,
        purpose=purpose_from_proto(request.purpose).value,
        scorecard=request.scorecard,
        client_nonce=request.client_nonce,
    )


def band_to_proto(
    band: ScoredBand, receipt: Receipt, *, request_id: str
) -> compute_pb2.CreditBandResponse:
    return compute_pb2.CreditBandResponse(
        band=band.band,
        scorecard=band.scorecard,
        policy_version=band.policy_version,
        receipt=receipt_to_proto(receipt, request_id=request_id),
    )


def paillier_score_query(request: compute_pb2.PaillierScoreRequest) -> PaillierScoreQuery:
    check_fields(
        id_number=request.id_number,
        consent_ref=request.consent_ref,
        client_nonce=request.client_nonce,
    )
    return PaillierScoreQuery(
        id_number=request.id_number,
        purpose=purpose_from_proto(request.purpose).value,
        model_id=request.model_id,
        model_version=request.model_version,
        consent_ref=request.consent_ref,
        client_nonce=request.client_nonce,
    )


def encrypted_score_to_proto(
    score: EncryptedScore, receipt: Receipt, *, request_id: str
) -> compute_pb2.PaillierScoreResponse:
    return compute_pb2.PaillierScoreResponse(
        ciphertext=score.ciphertext,
        exponent=score.exponent,
        output_bits=score.output_bits,
        model_id=score.model_id,
        model_version=score.model_version,
        policy_version=score.policy_version,
        receipt=receipt_to_proto(receipt, request_id=request_id),
    )


def ckks_batch_query(request: compute_pb2.CkksBatchScoreRequest) -> CkksBatchQuery:
    """The batch as asked; each person's fields are checked by the zone, slot by slot (a
    malformed one is that slot's refusal, logged without its text)."""
    check_fields(client_nonce=request.client_nonce)
    return CkksBatchQuery(
        model_id=request.model_id,
        model_version=request.model_version,
        purpose=purpose_from_proto(request.purpose).value,
        persons=tuple(BatchMember(p.id_number, p.consent_ref) for p in request.persons),
        client_nonce=request.client_nonce,
    )


def batch_scores_to_proto(
    scores: BatchScores, receipt: Receipt, *, request_id: str
) -> compute_pb2.CkksBatchScoreResponse:
    return compute_pb2.CkksBatchScoreResponse(
        ciphertext=scores.ciphertext,
        scored=scores.scored,
        model_id=scores.model_id,
        model_version=scores.model_version,
        policy_version=scores.policy_version,
        receipt=receipt_to_proto(receipt, request_id=request_id),
    )
