"""What the zone hashed into an answer's release leaf, recomputed from the SDK's answer value.

:meth:`Client.verify_answer` checks a receipt against these: the method the answer came from
and its result fields, in the form :mod:`dataward.receipts` hashes them.
"""

from __future__ import annotations

from dataward import receipts
from dataward.client._audit_view import AuditPage, UsageSummary, release_of_audit
from dataward.client._query import (
    BudgetState,
    Explanation,
    QueryResult,
    QuerySubmission,
    release_of_query,
)
from dataward.client._scoring import (
    CkksBatchAnswer,
    FaceMatchAnswer,
    ModelInfo,
    PaillierScoreAnswer,
    PendingModels,
    release_of_scoring,
)
from dataward.client._types import ConsentGrant, CreditBand, EligibilityResult, IdentityResult

__all__ = ["Answer", "release_of"]

Answer = (
    EligibilityResult
    | IdentityResult
    | ConsentGrant
    | CreditBand
    | Explanation
    | QuerySubmission
    | QueryResult
    | BudgetState
    | ModelInfo
    | PendingModels
    | PaillierScoreAnswer
    | CkksBatchAnswer
    | FaceMatchAnswer
    | AuditPage
    | UsageSummary
)
"""An answer the zone released with a receipt."""


def release_of(result: Answer) -> tuple[str, receipts.ResultFields]:
    """The method and result fields the zone hashed into the release of ``result``."""
    if isinstance(result, EligibilityResult):
        fields = receipts.eligibility_fields(
            eligible=result.eligible, coverage_class=result.coverage_class, reasons=result.reasons
        )
        return receipts.ELIGIBILITY_CHECK, fields
    if isinstance(result, IdentityResult):
        face = result.face
        fields = receipts.identity_fields(
            id_number_valid=result.id_number_valid,
            name_matches=result.name_matches,
            registry_status=result.registry_status,
            face=None
            if face is None
            else receipts.FaceFields(face.outcome, face.band, face.retake, face.validated_on),
        )
        return receipts.IDENTITY_VERIFY, fields
    if isinstance(result, CreditBand):
        fields = receipts.credit_band_fields(
            band=result.band, scorecard=result.scorecard, policy_version=result.policy_version
        )
        return receipts.COMPUTE_CREDIT_BAND, fields
    if isinstance(result, ConsentGrant):
        fields = receipts.consent_grant_fields(
            consent_ref=result.consent_ref, valid_until=result.valid_until
        )
        return receipts.GRANT_CONSENT, fields
    if isinstance(result, Explanation | QuerySubmission | QueryResult | BudgetState):
        return release_of_query(result)
    if isinstance(
        result,
        ModelInfo | PendingModels | PaillierScoreAnswer | CkksBatchAnswer | FaceMatchAnswer,
    ):
        return release_of_scoring(result)
    if isinstance(result, AuditPage | UsageSummary):
        return release_of_audit(result)
    raise TypeError(f"not an answer with a receipt: {type(result).__name__}")
