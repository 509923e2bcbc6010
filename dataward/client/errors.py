"""Typed errors of the SDK, mapped from the gRPC status and the ``ErrorInfo`` reason::

DatawardError                  (.code, .reason, .message)
├── Unauthenticated            TOKEN_* reasons: missing, invalid, expired, revoked, ...
├── PermissionDenied           SCOPE_NOT_GRANTED, PURPOSE_NOT_GRANTED, METHOD_NOT_ALLOWED
├── InvalidArgument            FIELD_INVALID
│   ├── IdNumberInvalid        ID_NUMBER_INVALID (.rule)
│   ├── WeightsInvalid         WEIGHTS_INVALID: a Paillier key or ciphertext the zone refuses
│   ├── ContextInvalid         CONTEXT_INVALID: a CKKS context the zone refuses (.problem)
│   ├── CiphertextInvalid      CIPHERTEXT_INVALID: a CKKS ciphertext the zone refuses (.problem)
│   ├── AttestationInvalid     MODEL_NOT_ATTESTED on a submitted attestation (.problem)
│   └── ImageInvalid           IMAGE_INVALID: the selfie is not an image the zone takes
│                              (.problem: EMPTY, TOO_LARGE, NOT_AN_IMAGE, TOO_MANY_PIXELS,
│                              TOO_MANY_SCANS, TRUNCATED, UNDECODABLE); no face attempt
│                              was counted
├── FailedPrecondition         (.reason says which)
│   ├── ConsentRequired        CONSENT_REQUIRED (also: the registry does not hold the person)
│   ├── ModelNotAttested       MODEL_NOT_ATTESTED when scoring (.problem: UNSIGNED, SIGNATURE,
│   │                          EXPIRED, AUDITOR_UNKNOWN)
│   ├── ScoreAlreadyGiven      SCORE_ALREADY_GIVEN: one score per consent and model version
│   ├── ModelMismatch          MODEL_MISMATCH: the card does not fit the policy's feature set
│   └── FaceNotEnrolled        FACE_NOT_ENROLLED: the zone holds no ID-card face of the person
├── AlreadyExists
│   └── ModelExists            MODEL_EXISTS: that model version is registered already
├── NotYetSigned               NOT_YET_SIGNED (.retry_after seconds): no checkpoint covers it yet
├── NotFound
│   └── ModelNotFound          MODEL_NOT_FOUND
├── RateLimited                RATE_LIMITED (.retry_after seconds)
├── AttemptsExhausted          ATTEMPTS_EXHAUSTED: face attempts used up (.limit: PERSON_DAY,
│                              PERSON_MONTH, PARTNER_RATE; .retry_after seconds)
├── BudgetExhausted            BUDGET_EXHAUSTED: the organization's privacy budget (.limit,
│                              .left_micro(name), .requested_micro)
├── MessageTooLarge            RESOURCE_EXHAUSTED without a rate-limit reason
├── DeadlineExceeded
├── Unimplemented              NOT_IMPLEMENTED (e.g. a selfie)
├── Unavailable
├── ServerError                INTERNAL and anything unexpected
├── TokenError                 the token endpoint refused or failed
├── DiscoveryError             the portal's RFC 8414 metadata is unreachable or not what it
│                              claims (issuer, token endpoint, zone target or key)
└── ReceiptInvalid             a receipt does not verify against the zone's key
    └── LogInconsistent        the zone's log is not one append-only history (.seen,
        │                      .presented: the two signed checkpoint notes, as evidence)
        ├── LogForked          a checkpoint not consistent with one seen before
        └── LogRolledBack      the log no longer holds entries a checkpoint it signed covers
"""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

__all__ = [
    "AlreadyExists",
    "AttemptsExhausted",
    "AttestationInvalid",
    "BudgetExhausted",
    "CiphertextInvalid",
    "ConsentRequired",
    "ContextInvalid",
    "DatawardError",
    "DeadlineExceeded",
    "DiscoveryError",
    "FaceNotEnrolled",
    "FailedPrecondition",
    "IdNumberInvalid",
    "ImageInvalid",
    "InvalidArgument",
    "LogForked",
    "LogInconsistent",
    "LogRolledBack",
    "MessageTooLarge",
    "ModelExists",
    "ModelMismatch",
    "ModelNotAttested",
    "ModelNotFound",
    "NotFound",
    "NotYetSigned",
    "PermissionDenied",
    "QueryRejected",
    "RateLimited",
    "ReceiptInvalid",
    "ScoreAlreadyGiven",
    "ServerError",
    "TokenError",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "WeightsInvalid",
    "error_for",
    "error_from_rpc",
]

DOMAIN = "dataward.v1"


class DatawardError(Exception):
    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.metadata = metadata or {}


class Unauthenticated(DatawardError): ...  # noqa: N818 (named after the gRPC status)


class PermissionDenied(DatawardError): ...  # noqa: N818


class InvalidArgument(DatawardError): ...  # noqa: N818


class IdNumberInvalid(InvalidArgument):
    @property
    def rule(self) -> str:
        return self.metadata.get("rule", "")


class FailedPrecondition(DatawardError):  # noqa: N818
    """The zone's state does not allow the call now (``reason`` says which: e.g.
    DP_MODE_REQUIRED, QUERY_NOT_RUNNABLE)."""


class ConsentRequired(FailedPrecondition): ...


class QueryRejected(InvalidArgument):
    """The query is outside the restricted SQL or its view's rule."""

    @property
    def rule(self) -> str:
        """The rejection's rule (e.g. COLUMN_HIDDEN)."""
        return self.metadata.get("rule", "")

    @property
    def construct(self) -> str:
        """The grammar element or column behind it (never a data value)."""
        return self.metadata.get("construct", "")


class NotFound(DatawardError): ...  # noqa: N818


class AlreadyExists(DatawardError): ...  # noqa: N818


# -- encrypted scoring (issue 12) --------------------------------------------------------------
class _HasProblem(DatawardError):  # noqa: N818 (a mixin: .problem)
    @property
    def problem(self) -> str:
        """The zone's problem code (e.g. SIGNATURE, EXPIRED; SECRET_KEY for a context)."""
        return self.metadata.get("problem", "")


class WeightsInvalid(InvalidArgument):
    """The zone refuses the model's Paillier key or a weight ciphertext."""


class ContextInvalid(InvalidArgument, _HasProblem):
    """The zone refuses the model's CKKS context (e.g. a secret key, Galois keys, N)."""


class CiphertextInvalid(InvalidArgument, _HasProblem):
    """The zone refuses a CKKS weight ciphertext (size, slots, level, scale)."""


class ModelMismatch(FailedPrecondition):
    """The model does not fit the request or the policy in force (reason MODEL_MISMATCH,
    FAILED_PRECONDITION): an unknown feature set or another weight count, another scheme than
    the method's, a request purpose other than the card's."""


class AttestationInvalid(InvalidArgument, _HasProblem):
    """A submitted attestation does not verify for the card (reason MODEL_NOT_ATTESTED)."""


class ModelNotAttested(FailedPrecondition, _HasProblem):
    """The model is not scorable: unsigned, its card altered, the attestation expired or its
    auditor no longer listed (``problem``)."""


class ScoreAlreadyGiven(FailedPrecondition):
    """This consent was used for a score under this model version already."""


class ModelNotFound(NotFound):
    """No model of the caller's organization by that id and version."""


class ModelExists(AlreadyExists):
    """That model version is registered already: register a new version."""


# -- face checks (issue 13) --------------------------------------------------------------------
class ImageInvalid(InvalidArgument, _HasProblem):
    """The zone refuses the selfie before any face work (``problem``); no attempt counted."""


class FaceNotEnrolled(FailedPrecondition):
    """The zone holds no ID-card face template of this person: verify with documents only."""


class AttemptsExhausted(DatawardError):  # noqa: N818 (named after the reason)
    """The person's (across all partners) or the caller's face attempts are used up."""

    retry_after: float | None = None

    @property
    def limit(self) -> str:
        """PERSON_DAY, PERSON_MONTH or PARTNER_RATE."""
        return self.metadata.get("limit", "")


class NotYetSigned(DatawardError):  # noqa: N818 (a state, not a failure)
    retry_after: float | None = None


class RateLimited(DatawardError):  # noqa: N818
    retry_after: float = 1.0


class BudgetExhausted(DatawardError):  # noqa: N818
    """A DP query would pass a limit of the organization's privacy budget; nothing was
    charged or run. ``metadata`` holds every limit's ``<name>.limit``, ``.spent`` and
    ``.left`` (micro-epsilon)."""

    @property
    def limit(self) -> str:
        """The limit it would pass (e.g. ``per_partner_per_day``)."""
        return self.metadata.get("limit", "")

    @property
    def requested_micro(self) -> int:
        return int(self.metadata.get("requested_micro", "0") or 0)

    def left_micro(self, name: str) -> int:
        """What is left of the limit ``name``, in micro-epsilon."""
        return int(self.metadata.get(f"{name}.left", "0") or 0)


class MessageTooLarge(DatawardError): ...  # noqa: N818


class DeadlineExceeded(DatawardError): ...  # noqa: N818


class Unimplemented(DatawardError): ...  # noqa: N818


class Unavailable(DatawardError): ...  # noqa: N818


class ServerError(DatawardError): ...


class TokenError(DatawardError): ...


class DiscoveryError(DatawardError):
    """The portal's authorization server metadata (RFC 8414) could not be used."""


class ReceiptInvalid(DatawardError): ...  # noqa: N818


class LogInconsistent(ReceiptInvalid):
    """Two checkpoints the zone signed cannot both belong to one append-only log.

    ``seen`` is the signed note of the largest checkpoint the client had kept, ``presented``
    the one that contradicts it: both verify with the zone's key, so together they prove the
    zone's misbehaviour to anyone (see :mod:`dataward.client._checkpoints`).
    """

    def __init__(self, message: str, *, seen: str, presented: str) -> None:
        super().__init__(message)
        self.seen = seen
        self.presented = presented


class LogForked(LogInconsistent):
    """A checkpoint is not consistent with one seen before (the proof fails, or one size has
    two roots): the zone rewrote its history or shows different clients different logs."""


class LogRolledBack(LogInconsistent):
    """The zone's log no longer holds the entries of a checkpoint it signed (it answers that
    the log is smaller): entries were deleted after they were signed."""


_BY_REASON: dict[str, type[DatawardError]] = {
    "ID_NUMBER_INVALID": IdNumberInvalid,
    "CONSENT_REQUIRED": ConsentRequired,
    "QUERY_REJECTED": QueryRejected,
    "RATE_LIMITED": RateLimited,
    "BUDGET_EXHAUSTED": BudgetExhausted,
    "NOT_YET_SIGNED": NotYetSigned,
    "WEIGHTS_INVALID": WeightsInvalid,
    "CONTEXT_INVALID": ContextInvalid,
    "CIPHERTEXT_INVALID": CiphertextInvalid,
    "MODEL_MISMATCH": ModelMismatch,
    "MODEL_NOT_FOUND": ModelNotFound,
    "MODEL_EXISTS": ModelExists,
    "SCORE_ALREADY_GIVEN": ScoreAlreadyGiven,
    "IMAGE_INVALID": ImageInvalid,
    "FACE_NOT_ENROLLED": FaceNotEnrolled,
    "ATTEMPTS_EXHAUSTED": AttemptsExhausted,
}
# One reason, two meanings by status: a submitted attestation that fails (INVALID_ARGUMENT)
# is the caller's input; a model not attested at scoring (FAILED_PRECONDITION) is state.
_BY_REASON_AND_CODE: dict[tuple[str, grpc.StatusCode], type[DatawardError]] = {
    ("MODEL_NOT_ATTESTED", grpc.StatusCode.INVALID_ARGUMENT): AttestationInvalid,
    ("MODEL_NOT_ATTESTED", grpc.StatusCode.FAILED_PRECONDITION): ModelNotAttested,
}
_BY_CODE: dict[grpc.StatusCode, type[DatawardError]] = {
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.RESOURCE_EXHAUSTED: MessageTooLarge,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
}


def error_from_rpc(error: grpc.RpcError) -> DatawardError:
    """The typed error for a failed call (reads ``grpc-status-details-bin`` if present)."""
    code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
    message = str(error.details() or "")  # type: ignore[attr-defined]
    reason, metadata, retry_after = "", {}, None
    trailers: Any = error.trailing_metadata() or ()  # type: ignore[attr-defined]
    for key, value in trailers:
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            retry = error_details_pb2.RetryInfo()
            if detail.Unpack(info) and info.domain == DOMAIN:
                reason, metadata = info.reason, dict(info.metadata)
            elif detail.Unpack(retry):
                retry_after = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
    result = error_for(code, reason, message, metadata)
    if (
        isinstance(result, RateLimited | NotYetSigned | AttemptsExhausted)
        and retry_after is not None
    ):
        result.retry_after = retry_after
    return result


def error_for(
    code: grpc.StatusCode | None,
    reason: str,
    message: str,
    metadata: dict[str, str] | None = None,
) -> DatawardError:
    """The typed error for a status code and ErrorInfo reason (reason wins when known)."""
    kind = (
        (_BY_REASON_AND_CODE.get((reason, code)) if code else None)
        or _BY_REASON.get(reason)
        or (_BY_CODE.get(code, ServerError) if code else ServerError)
    )
    return kind(message, code=code, reason=reason, metadata=metadata)
