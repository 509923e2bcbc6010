"""Between the SDK's values and the wire's messages: requests out, answers in; nothing else.

Enums cross by name: the SDK's ``OUTPATIENT`` is the wire's ``BENEFIT_OUTPATIENT``, and a
wire value the SDK reads back loses its prefix (``COVERAGE_CLASS_EMPLOYEE`` -> ``EMPLOYEE``;
``*_UNSPECIFIED`` -> ``None``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc

from dataward.access import Purpose
from dataward.client._enums import Benefit
from dataward.client._types import (
    ConsentGrant,
    CreditBand,
    EligibilityQuery,
    EligibilityResult,
    FaceResult,
    IdentityResult,
)
from dataward.client.errors import DatawardError, error_for
from dataward.transparency import Receipt
from dataward.v1 import common_pb2, compute_pb2, eligibility_pb2, identity_pb2, steward_pb2

__all__ = [
    "benefit_to_proto",
    "check_request",
    "consent_grant",
    "credit_band",
    "eligibility_result",
    "identity_result",
    "item_error",
    "purpose_to_proto",
    "receipt_from_proto",
]


def purpose_to_proto(purpose: Purpose | str) -> common_pb2.Purpose.ValueType:
    """The wire number of ``purpose``; ``ValueError`` for a string that is not a Purpose."""
    return common_pb2.Purpose.Value(f"PURPOSE_{Purpose(purpose).value}")


def benefit_to_proto(benefit: Benefit | str) -> eligibility_pb2.Benefit.ValueType:
    """The wire number of ``benefit``; ``ValueError`` for a string that is not a Benefit."""
    return eligibility_pb2.Benefit.Value(f"BENEFIT_{Benefit(benefit).value}")


def _enum_name(wrapper: Any, value: int, prefix: str) -> str | None:
    name = str(wrapper.Name(value))
    return None if name.endswith("_UNSPECIFIED") else name.removeprefix(prefix)


def receipt_from_proto(message: common_pb2.Receipt) -> Receipt:
    return Receipt(
        message.leaf_index,
        bytes(message.leaf_hash),
        message.checkpoint_note,
        tuple(bytes(p) for p in message.inclusion_proof),
        bytes(message.leaf) or None,
    )


def check_request(query: EligibilityQuery, nonce: str) -> eligibility_pb2.CheckRequest:
    request = eligibility_pb2.CheckRequest(
        id_number=query.id_number,
        benefit=benefit_to_proto(query.benefit),
        purpose=purpose_to_proto(query.purpose),
        consent_ref=query.consent_ref,
        client_nonce=nonce,
    )
    if query.as_of is not None:
        request.as_of.CopyFrom(
            common_pb2.Date(year=query.as_of.year, month=query.as_of.month, day=query.as_of.day)
        )
    return request


def eligibility_result(response: eligibility_pb2.CheckResponse, nonce: str) -> EligibilityResult:
    """The answer to the request sent with ``nonce`` (the nonce is kept, never read back)."""
    reasons = tuple(
        _enum_name(eligibility_pb2.EligibilityReason, r, "ELIGIBILITY_REASON_") or ""
        for r in response.reasons
    )
    return EligibilityResult(
        response.eligible,
        _enum_name(eligibility_pb2.CoverageClass, response.coverage_class, "COVERAGE_CLASS_"),
        reasons,
        receipt_from_proto(response.receipt),
        response.receipt.request_id,
        nonce,
    )


def identity_result(response: identity_pb2.VerifyResponse, nonce: str) -> IdentityResult:
    """The answer to the request sent with ``nonce`` (the nonce is kept, never read back)."""
    return IdentityResult(
        response.id_number_valid,
        response.name_matches,
        _enum_name(identity_pb2.RegistryStatus, response.registry_status, "REGISTRY_STATUS_") or "",
        receipt_from_proto(response.receipt),
        response.receipt.request_id,
        nonce,
        face_result(response.face) if response.HasField("face") else None,
    )


def face_result(face: identity_pb2.FaceCheck) -> FaceResult:
    """A selfie's face check, the enums' names without their prefixes ("" for UNSPECIFIED)."""
    return FaceResult(
        _enum_name(identity_pb2.FaceOutcome, face.outcome, "FACE_OUTCOME_") or "",
        _enum_name(identity_pb2.FaceBand, face.band, "FACE_BAND_") or "",
        _enum_name(identity_pb2.RetakeReason, face.retake, "RETAKE_REASON_") or "",
        face.validated_on,
    )


def credit_band(response: compute_pb2.CreditBandResponse, nonce: str) -> CreditBand:
    """The band answered to the request sent with ``nonce``."""
    return CreditBand(
        response.band,
        response.scorecard,
        response.policy_version,
        receipt_from_proto(response.receipt),
        response.receipt.request_id,
        nonce,
    )


def consent_grant(response: steward_pb2.GrantConsentResponse, nonce: str) -> ConsentGrant:
    """The grant answered to the request sent with ``nonce``."""
    until = response.valid_until
    return ConsentGrant(
        response.consent_ref,
        dt.date(until.year, until.month, until.day),
        receipt_from_proto(response.receipt),
        response.receipt.request_id,
        nonce,
    )


def item_error(error: eligibility_pb2.ItemError) -> DatawardError:
    """The typed error of one refused item of a batch (the stream itself goes on)."""
    status = next((s for s in grpc.StatusCode if s.value[0] == error.code), None)
    return error_for(status, error.reason, error.message)
