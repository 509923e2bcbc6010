"""The partner SDK: a typed client for the zone's gRPC API.

Depends only on grpcio, protobuf (with the ``google.rpc`` messages of
googleapis-common-protos for error details), the generated stubs, ``cryptography`` and
``joserfc`` (the ``private_key_jwt`` assertion); query answers are Arrow tables, read with
``pyarrow`` when one arrives (the ``dataward-sdk[query]`` extra)::

    from dataward.client import Benefit, Client, Purpose

    # The portal's URL, the app's id and secret (or private_key=PEM, private_key_jwt):
    # the token endpoint, the zone's gRPC target and its key come from the portal's metadata.
    with Client.from_issuer(
        "https://portal.example", client_id, client_secret, scope="eligibility:check audit:read"
    ) as c:
        result = c.check_eligibility(id_number, Benefit.OUTPATIENT, Purpose.INSURANCE_UNDERWRITING)
        c.verify_answer(result)  # against the zone key the portal publishes (or audit_key=...)
        table = c.run_query(
            "SELECT province, COUNT(DISTINCT person_key) AS persons FROM claims_analysis"
            " GROUP BY province", purpose="INSURANCE_UNDERWRITING",
        ).table  # a pyarrow.Table; suppressed cells are null with the row marked

Every type a call takes or returns is exported here, with the access vocabulary
(:class:`Purpose`, :class:`Scope`) and the receipt types (:class:`Receipt`,
:class:`Checkpoint`): a partner imports from ``dataward.client`` only.

``verify_answer`` also holds each receipt's checkpoint to the largest one the client has seen,
with the zone's consistency proofs (scope ``audit:read``): ``LogForked`` / ``LogRolledBack``
when the zone's log is not one append-only history. Keep ``c.largest_checkpoint()`` and pass
it to the next client as ``trusted_checkpoint``.

Encrypted scoring (issue 12) has its own public module, :mod:`dataward.client.compute` (it
also needs phe with gmpy2 and TenSEAL, so it is imported only when asked for): the partner's
Paillier and CKKS keys, model cards for the auditor, and decrypting the zone's scores.
"""

from dataward.access import Purpose, Scope
from dataward.client._attestation import CardFileInvalid, parse_attestation
from dataward.client._audit_view import AppUsage, AuditEntry, AuditPage, DayUsage, UsageSummary
from dataward.client._client import Client
from dataward.client._discovery import ServerMetadata, discover
from dataward.client._enums import Benefit
from dataward.client._query import (
    BudgetLimit,
    BudgetState,
    ColumnNoise,
    DpInfo,
    Explanation,
    ParameterValue,
    QueryPage,
    QueryRejection,
    QueryResult,
    QuerySubmission,
    ReviewConditions,
    StoredQuery,
)
from dataward.client._release import Answer
from dataward.client._scoring import (
    CkksBatchAnswer,
    FaceMatchAnswer,
    ModelAttestation,
    ModelInfo,
    PaillierScoreAnswer,
    PendingModels,
)
from dataward.client._tokens import (
    ClientCredentialsTokenSource,
    PrivateKeyJwtTokenSource,
    StaticTokenSource,
    TokenSource,
)
from dataward.client._types import (
    BatchItem,
    ConsentGrant,
    CreditBand,
    EligibilityQuery,
    EligibilityResult,
    FaceResult,
    IdentityResult,
)
from dataward.client.errors import (
    AlreadyExists,
    AttemptsExhausted,
    AttestationInvalid,
    BudgetExhausted,
    CiphertextInvalid,
    ConsentRequired,
    ContextInvalid,
    DatawardError,
    DeadlineExceeded,
    DiscoveryError,
    FaceNotEnrolled,
    FailedPrecondition,
    IdNumberInvalid,
    ImageInvalid,
    InvalidArgument,
    LogForked,
    LogInconsistent,
    LogRolledBack,
    MessageTooLarge,
    ModelExists,
    ModelMismatch,
    ModelNotAttested,
    ModelNotFound,
    NotFound,
    NotYetSigned,
    PermissionDenied,
    QueryRejected,
    RateLimited,
    ReceiptInvalid,
    ScoreAlreadyGiven,
    ServerError,
    TokenError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    WeightsInvalid,
)
from dataward.compute import ModelCard
from dataward.transparency import Checkpoint, Receipt, load_named_public_key

__all__ = [
    "AlreadyExists",
    "Answer",
    "AppUsage",
    "AttemptsExhausted",
    "AttestationInvalid",
    "AuditEntry",
    "AuditPage",
    "BatchItem",
    "Benefit",
    "BudgetExhausted",
    "BudgetLimit",
    "BudgetState",
    "CardFileInvalid",
    "Checkpoint",
    "CiphertextInvalid",
    "CkksBatchAnswer",
    "Client",
    "ClientCredentialsTokenSource",
    "ColumnNoise",
    "ConsentGrant",
    "ConsentRequired",
    "ContextInvalid",
    "CreditBand",
    "DatawardError",
    "DayUsage",
    "DeadlineExceeded",
    "DiscoveryError",
    "DpInfo",
    "EligibilityQuery",
    "EligibilityResult",
    "Explanation",
    "FaceMatchAnswer",
    "FaceNotEnrolled",
    "FaceResult",
    "FailedPrecondition",
    "IdNumberInvalid",
    "IdentityResult",
    "ImageInvalid",
    "InvalidArgument",
    "LogForked",
    "LogInconsistent",
    "LogRolledBack",
    "MessageTooLarge",
    "ModelAttestation",
    "ModelCard",
    "ModelExists",
    "ModelInfo",
    "ModelMismatch",
    "ModelNotAttested",
    "ModelNotFound",
    "NotFound",
    "NotYetSigned",
    "PaillierScoreAnswer",
    "ParameterValue",
    "PendingModels",
    "PermissionDenied",
    "PrivateKeyJwtTokenSource",
    "Purpose",
    "QueryPage",
    "QueryRejected",
    "QueryRejection",
    "QueryResult",
    "QuerySubmission",
    "RateLimited",
    "Receipt",
    "ReceiptInvalid",
    "ReviewConditions",
    "Scope",
    "ScoreAlreadyGiven",
    "ServerError",
    "ServerMetadata",
    "StaticTokenSource",
    "StoredQuery",
    "TokenError",
    "TokenSource",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "UsageSummary",
    "WeightsInvalid",
    "discover",
    "load_named_public_key",
    "parse_attestation",
]
