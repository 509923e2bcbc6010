"""The one table from exceptions to gRPC status codes and ErrorInfo reasons.

Every refusal leaves the server as a ``google.rpc.Status`` (in the ``grpc-status-details-bin``
trailer) with a ``google.rpc.ErrorInfo(domain="dataward.v1", reason=...)``, plus a
``google.rpc.RetryInfo`` for rate limits. Messages are the exceptions' public messages. An
exception not in the table is a bug: INTERNAL with a generic message (never a traceback).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from enclave import DatasetError, InvalidIdNumber, ZoneError
from enclave.audit import (
    AuditBeyondLogError,
    AuditNotYetSigned,
    AuditRangeError,
    AuditUnknownEntryError,
)
from enclave.person_errors import (
    ConsentNotFound,
    ConsentRequired,
    InvalidField,
    PersonNotFound,
    SelfieNotSupported,
)
from grpc_api.errors import (
    ApiError,
    DeadlineTooShort,
    InvalidRequest,
    MalformedRequest,
    PermissionRefused,
    RateLimited,
    TooManyItems,
    Unauthenticated,
    Unavailable,
)

__all__ = ["DOMAIN", "STATUS_TABLE", "Refusal", "abort", "refusal_for"]

DOMAIN = "dataward.v1"
C = grpc.StatusCode

# Most specific first: the first isinstance match wins. ``None`` as reason: the exception's own.
STATUS_TABLE: tuple[tuple[type[BaseException], grpc.StatusCode, str | None], ...] = (
    (Unauthenticated, C.UNAUTHENTICATED, None),
    (PermissionRefused, C.PERMISSION_DENIED, None),
    (RateLimited, C.RESOURCE_EXHAUSTED, None),
    (TooManyItems, C.RESOURCE_EXHAUSTED, None),
    (DeadlineTooShort, C.DEADLINE_EXCEEDED, None),
    (InvalidRequest, C.INVALID_ARGUMENT, None),
    (MalformedRequest, C.INVALID_ARGUMENT, None),
    (Unavailable, C.UNAVAILABLE, None),
    (ApiError, C.INTERNAL, None),
    (InvalidIdNumber, C.INVALID_ARGUMENT, "ID_NUMBER_INVALID"),
    (InvalidField, C.INVALID_ARGUMENT, "FIELD_INVALID"),
    (ConsentRequired, C.FAILED_PRECONDITION, "CONSENT_REQUIRED"),
    (ConsentNotFound, C.NOT_FOUND, "NOT_FOUND"),
    (PersonNotFound, C.NOT_FOUND, "NOT_FOUND"),
    (SelfieNotSupported, C.UNIMPLEMENTED, "NOT_IMPLEMENTED"),
    (DatasetError, C.UNAVAILABLE, "UNAVAILABLE"),
    # AuditService.GetConsistencyProof: a tree size past the log (a subclass of the entry
    # error below, listed first for its own message), or sizes out of order.
    (AuditBeyondLogError, C.NOT_FOUND, "NOT_FOUND"),
    (AuditRangeError, C.INVALID_ARGUMENT, "FIELD_INVALID"),
    # AuditService.GetReceipt: an index past the log, or an entry no checkpoint covers yet
    # (the zone does not sign on demand; RetryInfo says when the next checkpoint is due).
    (AuditUnknownEntryError, C.NOT_FOUND, "NOT_FOUND"),
    (AuditNotYetSigned, C.FAILED_PRECONDITION, "NOT_YET_SIGNED"),
    (ZoneError, C.INTERNAL, "INTERNAL"),
)


# Exceptions whose own message names a value the caller sent: a fixed public message instead.
_FIXED_MESSAGES: Mapping[type[BaseException], str] = {
    AuditBeyondLogError: "new_size is larger than the audit log",
    AuditUnknownEntryError: "the audit log has no entry with this index",
    AuditRangeError: "old_size must not be larger than new_size",
}


@dataclass(frozen=True)
class Refusal:
    code: grpc.StatusCode
    reason: str
    message: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    retry_after: float | None = None


def refusal_for(exc: BaseException) -> Refusal:
    """The status, reason and public message of an exception (INTERNAL if unmapped)."""
    for kind, code, reason in STATUS_TABLE:
        if isinstance(exc, kind):
            message = _FIXED_MESSAGES.get(kind) or str(getattr(exc, "public_message", None) or exc)
            metadata: dict[str, str] = {}
            if isinstance(exc, InvalidIdNumber):
                metadata["rule"] = str(exc.reason)
            elif isinstance(exc, (InvalidField, InvalidRequest, AuditRangeError)):
                metadata["field"] = exc.field
            retry = exc.retry_after if isinstance(exc, RateLimited | AuditNotYetSigned) else None
            return Refusal(
                code, reason or str(getattr(exc, "reason", "")), message, metadata, retry
            )
    return Refusal(C.INTERNAL, "INTERNAL", "internal error; this is a bug")


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
