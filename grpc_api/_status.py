"""The one table from exceptions to gRPC status codes, and the ErrorInfo each refusal carries.

Every refusal leaves the server as a ``google.rpc.Status`` (in the ``grpc-status-details-bin``
trailer) with a ``google.rpc.ErrorInfo(domain="dataward.v1", reason=...)``, plus a
``google.rpc.RetryInfo`` for rate limits, unsigned entries and the zone's storage faults.
The reason is the exception's own ``reason`` code -- the one the zone also writes into the
audit log's decision leaf -- and the message its public message.

:data:`STATUS_CODES` maps classes to codes; :func:`refusal_for` takes the MOST SPECIFIC class
of the exception that has a row (its method resolution order), whatever order the rows are
in, as httpx's ``map_exceptions`` does. The roots (:data:`CATCH_ALL`) are rows too, so an
exception without a row of its own is INTERNAL; a test fails for any exported exception that
only a catch-all row maps. An exception outside both trees is a bug: INTERNAL with a generic
message (never a traceback).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from enclave import (
    DatasetError,
    IngestError,
    KeyringError,
    LookupRefused,
    PolicyInvalid,
    PolicyStoreCorrupt,
    SourceError,
    ZoneError,
)

# The errors module, not the face: the face also holds the query pipeline (query_engine,
# policies), which grpc_api must not reach; the errors import nothing but the zone's root.
from enclave.analytics import errors as analytics
from enclave.audit import (
    AuditBeyondLogError,
    AuditClosedError,
    AuditError,
    AuditEventError,
    AuditIntegrityError,
    AuditLogBusy,
    AuditNotYetSigned,
    AuditRangeError,
    AuditStorageError,
    AuditTrustedCheckpointError,
    AuditUnknownEntryError,
)
from enclave.biometrics import errors as faces
from enclave.budget import (
    BudgetError,
    BudgetExhausted,
    BudgetLedgerCorrupt,
    ChargeNotFound,
    ResultAlreadyStored,
)
from enclave.compute import ckks_errors as ckks
from enclave.compute import errors as compute
from enclave.consent import ConsentError, ConsentNotFound
from enclave.gate import (
    ColumnMissing,
    ColumnNotAllowed,
    ColumnTypeInvalid,
    DuplicateCell,
    GateError,
    GateRulesInvalid,
    UnsupportedShape,
)
from enclave.persons import (
    ConsentRequired,
    InvalidField,
    InvalidIdNumber,
    PersonCheckError,
    PersonNotFound,
    PurposeNotGranted,
    SelfieNotSupported,
)
from grpc_api.errors import (
    ApiError,
    DeadlineTooShort,
    InvalidRequest,
    MalformedRequest,
    MessageTooLarge,
    NotServed,
    PermissionRefused,
    RateLimited,
    TooManyItems,
    TooManyStreams,
    Unauthenticated,
    Unavailable,
)

__all__ = ["CATCH_ALL", "DOMAIN", "STATUS_CODES", "Refusal", "abort", "refusal_for", "row_for"]

DOMAIN = "dataward.v1"
C = grpc.StatusCode

STATUS_CODES: Mapping[type[BaseException], grpc.StatusCode] = {
    # the API front end's refusals
    Unauthenticated: C.UNAUTHENTICATED,
    PermissionRefused: C.PERMISSION_DENIED,
    RateLimited: C.RESOURCE_EXHAUSTED,
    TooManyItems: C.RESOURCE_EXHAUSTED,
    MessageTooLarge: C.RESOURCE_EXHAUSTED,
    TooManyStreams: C.RESOURCE_EXHAUSTED,
    DeadlineTooShort: C.DEADLINE_EXCEEDED,
    InvalidRequest: C.INVALID_ARGUMENT,
    MalformedRequest: C.INVALID_ARGUMENT,
    NotServed: C.UNIMPLEMENTED,
    Unavailable: C.UNAVAILABLE,
    # person-level checks and consent
    InvalidIdNumber: C.INVALID_ARGUMENT,
    InvalidField: C.INVALID_ARGUMENT,
    PurposeNotGranted: C.PERMISSION_DENIED,
    ConsentRequired: C.FAILED_PRECONDITION,
    ConsentNotFound: C.NOT_FOUND,
    PersonNotFound: C.NOT_FOUND,
    SelfieNotSupported: C.UNIMPLEMENTED,
    # face checks (issue 13): the selfie is the partner's input; the attempts its and the
    # person's limits; an ID-card template the zone lacks is the person's state; the face
    # workers failing is the zone's (retry). Enrolment and calibration are operator commands.
    faces.ImageInvalid: C.INVALID_ARGUMENT,
    faces.AttemptsExhausted: C.RESOURCE_EXHAUSTED,
    faces.FaceNotEnrolled: C.FAILED_PRECONDITION,
    faces.FaceWorkerFailed: C.UNAVAILABLE,
    faces.EnrolmentSourceInvalid: C.INVALID_ARGUMENT,
    faces.CalibrationSourceInvalid: C.INVALID_ARGUMENT,
    # the audit log: AuditService's lookups, and the zone's storage faults (never the caller's)
    AuditUnknownEntryError: C.NOT_FOUND,
    AuditBeyondLogError: C.NOT_FOUND,
    AuditRangeError: C.INVALID_ARGUMENT,
    AuditNotYetSigned: C.FAILED_PRECONDITION,
    AuditTrustedCheckpointError: C.INVALID_ARGUMENT,
    AuditStorageError: C.UNAVAILABLE,
    AuditClosedError: C.UNAVAILABLE,
    AuditLogBusy: C.UNAVAILABLE,
    AuditEventError: C.INTERNAL,  # an event the zone built is malformed: a bug
    AuditIntegrityError: C.INTERNAL,
    # the output gate: a query shape it cannot protect is the partner's; the rest would be a
    # bug of the query path (it built the gate's input wrongly)
    UnsupportedShape: C.INVALID_ARGUMENT,
    GateRulesInvalid: C.INTERNAL,
    ColumnNotAllowed: C.INTERNAL,
    ColumnMissing: C.INTERNAL,
    ColumnTypeInvalid: C.INTERNAL,
    DuplicateCell: C.INTERNAL,
    # aggregate queries: the partner's query, grant or the view's release mode
    analytics.QueryRejected: C.INVALID_ARGUMENT,
    analytics.ViewNotGranted: C.PERMISSION_DENIED,
    analytics.DpModeRequired: C.FAILED_PRECONDITION,
    analytics.QueryNotRun: C.UNAVAILABLE,
    analytics.QueryNotFound: C.NOT_FOUND,
    analytics.QueryNotRunnable: C.FAILED_PRECONDITION,
    analytics.InvalidPageToken: C.INVALID_ARGUMENT,
    analytics.ApprovalExpired: C.FAILED_PRECONDITION,
    analytics.RunsExhausted: C.FAILED_PRECONDITION,
    # steward review: a condition out of range is the steward's; the rest are the query's state
    analytics.ReviewFieldInvalid: C.INVALID_ARGUMENT,
    analytics.ReviewRefused: C.FAILED_PRECONDITION,
    analytics.QueryNotPending: C.FAILED_PRECONDITION,
    analytics.ReviewSameSteward: C.FAILED_PRECONDITION,
    analytics.ReviewOwnSubmission: C.FAILED_PRECONDITION,
    analytics.AnalyticsError: C.INTERNAL,
    # the privacy budget: spent is the partner's; a ledger that does not verify, or a charge
    # or result the query path got wrong, is a bug
    BudgetExhausted: C.RESOURCE_EXHAUSTED,
    BudgetLedgerCorrupt: C.INTERNAL,
    ChargeNotFound: C.INTERNAL,
    ResultAlreadyStored: C.INTERNAL,
    # compute on zone data. A credit band's request is checked by the person checks against
    # the one policy they compute with (an unknown scorecard is their InvalidField naming
    # `scorecard`, a person the dataset does not hold their ConsentRequired), so on that path
    # what the feature pipeline raises is the zone's bug; ScorecardUnknown is for a caller
    # naming a scorecard without that check. The Paillier core's refusals of a partner's key,
    # weights or model are the partner's; the rest are the zone's.
    compute.ScorecardUnknown: C.NOT_FOUND,
    compute.FeatureSetUnknown: C.INTERNAL,
    compute.FeatureRequestInvalid: C.INTERNAL,
    compute.FeatureBatchTooLarge: C.INTERNAL,
    compute.FeaturePersonUnknown: C.INTERNAL,
    compute.FeatureComputationFailed: C.INTERNAL,
    compute.PartnerKeyRefused: C.INVALID_ARGUMENT,
    compute.WeightsRefused: C.INVALID_ARGUMENT,
    compute.ModelInvalid: C.INVALID_ARGUMENT,
    compute.GmpyMissing: C.UNAVAILABLE,
    compute.FeatureOutOfBounds: C.INTERNAL,
    compute.ObfuscatorPoolClosed: C.INTERNAL,
    # model cards (issue 12): a card, key, ciphertext or submitted attestation is the
    # partner's (or the steward's) input; a model that is not scorable now is the model's state
    compute.ModelCardInvalid: C.INVALID_ARGUMENT,
    compute.ModelNotAttested: C.FAILED_PRECONDITION,
    compute.AttestationInvalid: C.INVALID_ARGUMENT,
    compute.ModelNotFound: C.NOT_FOUND,
    compute.ModelExists: C.ALREADY_EXISTS,
    compute.ModelMismatch: C.FAILED_PRECONDITION,
    compute.ScoreAlreadyGiven: C.FAILED_PRECONDITION,
    compute.ModelPurposeNotGranted: C.PERMISSION_DENIED,
    compute.ModelUploadTooLarge: C.RESOURCE_EXHAUSTED,
    ckks.ContextInvalid: C.INVALID_ARGUMENT,
    ckks.CiphertextInvalid: C.INVALID_ARGUMENT,
    ckks.CkksBatchTooLarge: C.INTERNAL,
    ckks.FeaturesInvalid: C.INTERNAL,
    ckks.CkksWorkerFailed: C.UNAVAILABLE,
    ckks.CkksWorkerTimeout: C.DEADLINE_EXCEEDED,
    # keys and datasets: the zone cannot serve (operator errors, never a partner's)
    KeyringError: C.UNAVAILABLE,
    DatasetError: C.UNAVAILABLE,
    IngestError: C.UNAVAILABLE,
    SourceError: C.INVALID_ARGUMENT,
    LookupRefused: C.PERMISSION_DENIED,
    # the policy in force: a document to apply with an error (path, problem), or a store the
    # zone cannot trust
    PolicyInvalid: C.INVALID_ARGUMENT,
    PolicyStoreCorrupt: C.UNAVAILABLE,
    # catch-alls: a subclass without a row of its own
    ApiError: C.INTERNAL,
    ZoneError: C.INTERNAL,
    AuditError: C.INTERNAL,
    PersonCheckError: C.INTERNAL,
    ConsentError: C.INTERNAL,
    GateError: C.INTERNAL,
    BudgetError: C.INTERNAL,
    compute.FeatureError: C.INTERNAL,
    compute.PaillierError: C.INTERNAL,
    compute.ModelError: C.INTERNAL,
    ckks.CkksError: C.INTERNAL,
    faces.BiometricsError: C.INTERNAL,
}
CATCH_ALL: frozenset[type[BaseException]] = frozenset(
    {
        ApiError,
        ZoneError,
        AuditError,
        PersonCheckError,
        ConsentError,
        GateError,
        BudgetError,
        compute.FeatureError,
        compute.PaillierError,
        compute.ModelError,
        ckks.CkksError,
        faces.BiometricsError,
    }
)

# Exceptions whose own message names a value the caller sent: a fixed public message instead.
_FIXED_MESSAGES: Mapping[type[BaseException], str] = {
    AuditBeyondLogError: "new_size is larger than the audit log",
    AuditUnknownEntryError: "the audit log has no entry with this index",
    AuditRangeError: "old_size must not be larger than new_size",
}
_BUG = "internal error; this is a bug"


@dataclass(frozen=True)
class Refusal:
    code: grpc.StatusCode
    reason: str
    message: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    retry_after: float | None = None


def row_for(exc: BaseException) -> type[BaseException] | None:
    """The most specific class of ``exc`` that has a row (None: outside both trees)."""
    return next((cls for cls in type(exc).__mro__ if cls in STATUS_CODES), None)


def refusal_for(exc: BaseException) -> Refusal:
    """The status, reason and public message of an exception (INTERNAL if unmapped)."""
    row = row_for(exc)
    if row is None:
        return Refusal(C.INTERNAL, "INTERNAL", _BUG)
    code = STATUS_CODES[row]
    reason = str(getattr(exc, "reason", "") or "INTERNAL")
    if code is C.INTERNAL:
        return Refusal(code, "INTERNAL", _BUG)
    message = _FIXED_MESSAGES.get(row) or str(getattr(exc, "public_message", None) or exc)
    metadata: dict[str, str] = {}
    if isinstance(exc, InvalidIdNumber):
        metadata["rule"] = str(exc.rule)
    elif isinstance(exc, PolicyInvalid):
        metadata["path"] = exc.path
        metadata["problem"] = exc.problem
    elif isinstance(exc, analytics.QueryRejected):
        metadata["rule"] = exc.rule
        metadata["construct"] = exc.construct
    elif isinstance(exc, compute.ModelCardInvalid):
        metadata["field"] = exc.field
    elif isinstance(exc, compute.ModelUploadTooLarge):
        metadata["field"] = exc.part
    elif isinstance(
        exc,
        compute.ModelNotAttested
        | ckks.ContextInvalid
        | ckks.CiphertextInvalid
        | ckks.CkksWorkerFailed
        | faces.ImageInvalid
        | faces.FaceWorkerFailed,
    ):
        metadata["problem"] = exc.problem
    elif isinstance(exc, faces.AttemptsExhausted):  # which limit; never another's counts
        metadata["limit"] = exc.limit
    elif isinstance(exc, compute.PartnerKeyRefused):
        metadata["problem"] = exc.check
    elif isinstance(exc, compute.WeightsRefused):
        metadata["problem"] = exc.check
        if exc.index is not None:
            metadata["index"] = str(exc.index)
    elif isinstance(exc, BudgetExhausted):  # the budget state: integers, never data
        metadata["limit"] = exc.limit
        metadata["requested_micro"] = str(exc.requested)
        # the partner's own limits only: the all-partner cap's spent is the others' activity
        shown = exc.state.for_partner().details()
        metadata |= {key: str(value) for key, value in shown.items()}
    elif isinstance(
        exc,
        InvalidField
        | InvalidRequest
        | AuditRangeError
        | analytics.InvalidPageToken
        | analytics.ReviewFieldInvalid,
    ):
        metadata["field"] = exc.field
    retry = getattr(exc, "retry_after", None)
    return Refusal(code, reason, message, metadata, float(retry) if retry is not None else None)


def to_rpc_status(refusal: Refusal) -> grpc.Status:
    info = any_pb2.Any()
    info.Pack(
        error_details_pb2.ErrorInfo(
            reason=refusal.reason, domain=DOMAIN, metadata=dict(refusal.metadata)
        )
    )
    details = [info]
    if refusal.retry_after is not None:
        retry = any_pb2.Any()
        seconds = max(refusal.retry_after, 0.0)
        retry.Pack(
            error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(
                    seconds=int(seconds), nanos=int((seconds % 1) * 1e9)
                )
            )
        )
        details.append(retry)
    status = status_pb2.Status(code=refusal.code.value[0], message=refusal.message, details=details)
    return rpc_status.to_status(status)  # type: ignore[no-any-return]


def abort(context: grpc.ServicerContext, exc: BaseException) -> NoReturn:
    """End the call with the table's status for ``exc`` (raises, as grpc's abort does)."""
    context.abort_with_status(to_rpc_status(refusal_for(exc)))
    raise AssertionError("abort_with_status returned")  # pragma: no cover
