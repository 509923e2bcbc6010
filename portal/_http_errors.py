"""The one mapping table from portal exceptions to HTTP status codes."""

from __future__ import annotations

from portal.errors import (
    AuthenticationError,
    ConflictError,
    CsrfError,
    InvalidInputError,
    InvalidTransitionError,
    LoginThrottledError,
    LogUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    PortalBindError,
    PortalError,
    SigningKeyError,
    UnknownOrganizationError,
    UnknownUserError,
    UnsealedKeysError,
    WrongPortalKeyError,
    ZoneConflictError,
    ZoneInvalidArgumentError,
    ZoneNotFoundError,
    ZonePermissionError,
    ZoneRefusedError,
    ZoneUnavailableError,
)

__all__ = ["HTTP_STATUS", "status_for"]

# Most specific first: the first isinstance match wins. PortalError last (a bug: 500).
HTTP_STATUS: list[tuple[type[PortalError], int]] = [
    (UnknownOrganizationError, 404),
    (UnknownUserError, 404),
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidInputError, 400),
    (PermissionDeniedError, 403),
    (InvalidTransitionError, 409),
    (AuthenticationError, 401),
    (LoginThrottledError, 429),
    (CsrfError, 400),
    (WrongPortalKeyError, 500),
    (UnsealedKeysError, 500),
    (SigningKeyError, 500),
    (LogUnavailableError, 500),
    (PortalBindError, 500),  # raised before serving; never an answer
    (ZoneConflictError, 409),
    (ZoneNotFoundError, 404),
    (ZoneInvalidArgumentError, 400),
    (ZonePermissionError, 403),
    (ZoneRefusedError, 502),  # a refusal of another kind: the zone's answer, not the user's
    (ZoneUnavailableError, 503),
    (PortalError, 500),
]


def status_for(error: PortalError) -> int:
    for kind, status in HTTP_STATUS:
        if isinstance(error, kind):
            return status
    return 500
