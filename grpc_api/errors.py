"""The gRPC API's own errors: authentication, authorization, limits.

Each carries a ``reason`` (the ``google.rpc.ErrorInfo`` reason, see ``ErrorReason`` in
``protos/dataward/v1/common.proto``) and a public message without data values::

    ApiError
    ├── Unauthenticated      TOKEN_MISSING | TOKEN_INVALID | TOKEN_EXPIRED | TOKEN_AUDIENCE
    │                        | TOKEN_ISSUER | TOKEN_REVOKED
    ├── PermissionRefused    SCOPE_NOT_GRANTED | PURPOSE_NOT_GRANTED | METHOD_NOT_ALLOWED
    ├── RateLimited          RATE_LIMITED (``retry_after`` seconds)
    ├── TooManyItems         BATCH_TOO_LARGE (a stream past ``grpc.max_batch_items``)
    ├── TooManyStreams       RATE_LIMITED (a partner's, or an address's anonymous, open
    │                        streams past the limit)
    ├── DeadlineTooShort     DEADLINE_EXCEEDED
    ├── InvalidRequest       FIELD_INVALID (``field``)
    ├── MalformedRequest     MALFORMED_REQUEST (the body is not the method's message)
    └── Unavailable          UNAVAILABLE (token keys or the revocation feed unreachable)
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "DeadlineTooShort",
    "InvalidRequest",
    "MalformedRequest",
    "MessageTooLarge",
    "NotServed",
    "PermissionRefused",
    "RateLimited",
    "TooManyItems",
    "TooManyStreams",
    "Unauthenticated",
    "Unavailable",
]


class ApiError(Exception):
    reason = "INTERNAL"
    default_message = "request refused"
    # Set once the refusal is an audit leaf (the guard logs every API refusal exactly once).
    logged = False

    def __init__(self, public_message: str | None = None, *, reason: str | None = None) -> None:
        self.public_message = public_message or self.default_message
        if reason is not None:
            self.reason = reason
        super().__init__(self.public_message)


class Unauthenticated(ApiError):  # noqa: N818 (named after the gRPC status)
    reason = "TOKEN_INVALID"
    default_message = "the access token is not valid"
    # The token's ``Principal`` when its signature verified (expired, revoked): for the audit
    # leaf of the refusal only, never for authorization.
    verified: object | None = None


class PermissionRefused(ApiError):  # noqa: N818
    reason = "SCOPE_NOT_GRANTED"
    default_message = "the access token does not grant this call"


class RateLimited(ApiError):  # noqa: N818
    reason = "RATE_LIMITED"

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message or "rate limit of the partner exceeded; retry later")


class TooManyItems(ApiError):  # noqa: N818
    """A request stream carried more items than the server takes in one stream."""

    reason = "BATCH_TOO_LARGE"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"at most {limit} items per stream; open another stream for the rest")


class TooManyStreams(ApiError):  # noqa: N818
    """A partner (or, for the public streams, a client address or all anonymous callers)
    holds as many streams open as the server allows."""

    reason = "RATE_LIMITED"
    retry_after = 1.0

    def __init__(self, limit: int, per: str = "partner") -> None:
        self.limit = limit
        super().__init__(f"at most {limit} streams open per {per}; close one first")


class DeadlineTooShort(ApiError):  # noqa: N818
    reason = "DEADLINE_EXCEEDED"
    default_message = "the deadline leaves no time to answer"


class InvalidRequest(ApiError):  # noqa: N818
    reason = "FIELD_INVALID"

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        super().__init__(f"field {field!r}: {rule}")


class MalformedRequest(ApiError):  # noqa: N818
    reason = "MALFORMED_REQUEST"
    default_message = "the request is not a valid protobuf message of this method's type"


class MessageTooLarge(ApiError):  # noqa: N818
    """A streamed message over its method's byte bound, refused before it is parsed."""

    reason = "MESSAGE_TOO_LARGE"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"a message of this stream carries at most {limit} bytes; send fewer items per message"
        )


class NotServed(ApiError):  # noqa: N818
    """A method this server does not serve (yet): UNIMPLEMENTED, reason NOT_IMPLEMENTED."""

    reason = "NOT_IMPLEMENTED"
    default_message = "this server does not serve this method"


class Unavailable(ApiError):  # noqa: N818
    reason = "UNAVAILABLE"
    default_message = "the zone cannot verify tokens right now; retry later"
