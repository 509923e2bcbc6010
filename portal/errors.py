"""The portal's exception tree. Every error carries a public message (no data values).

::

    PortalError                      base; ``public_message`` is safe to show
    ├── NotFoundError                no such organization, user or app
    │   ├── UnknownOrganizationError no organization has this slug (or it is not a partner's)
    │   └── UnknownUserError         no user has this username
    ├── ConflictError                the name is taken
    ├── InvalidInputError            a form or argument is malformed (unknown scope, empty name)
    ├── PermissionDeniedError        the signed-in account may not do this
    ├── InvalidTransitionError       the app's status does not allow this change
    ├── AuthenticationError          wrong username or password
    ├── LoginThrottledError          too many failed sign-ins: locked for the window
    ├── CsrfError                    a form arrived without a valid CSRF token
    ├── SigningKeyError              the portal's key files are missing, unreadable or altered
    │   ├── WrongPortalKeyError      the portal key does not open them (or none was given)
    │   └── UnsealedKeysError        key files in clear from an earlier release: seal them first
    ├── LogUnavailableError          the portal log cannot be read for verification (no
    │                                database, no log tables, no published public key)
    ├── ZoneRefusedError             the zone answered a steward page's call with a refusal:
    │   │                            ``reason`` is its ErrorInfo reason, the message its words
    │   ├── ZoneConflictError        FAILED_PRECONDITION (your own submission, an approval you
    │   │                            already gave, a query no longer pending)
    │   ├── ZoneNotFoundError        NOT_FOUND (no such query)
    │   ├── ZoneInvalidArgumentError INVALID_ARGUMENT (``field`` names the form field)
    │   └── ZonePermissionError      UNAUTHENTICATED or PERMISSION_DENIED (the steward's token)
    └── ZoneUnavailableError         the zone's gRPC API is not reachable from the portal, did
                                     not answer in time, or failed (a steward page's call)

OAuth 2.0 protocol errors (``invalid_client``, ``invalid_grant`` ...) are not in this tree:
they are Authlib's, answered in the RFC 6749 JSON format by the OAuth endpoints. Nor is
``portal.config.InvalidOptionError``, a ``ValueError``: an option out of range when the
options are built, before any portal runs (the launcher reports it as a setting error).
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "CsrfError",
    "InvalidInputError",
    "InvalidTransitionError",
    "LogUnavailableError",
    "LoginThrottledError",
    "NotFoundError",
    "PermissionDeniedError",
    "PortalBindError",
    "PortalError",
    "SigningKeyError",
    "UnknownOrganizationError",
    "UnknownUserError",
    "UnsealedKeysError",
    "WrongPortalKeyError",
    "ZoneConflictError",
    "ZoneInvalidArgumentError",
    "ZoneNotFoundError",
    "ZonePermissionError",
    "ZoneRefusedError",
    "ZoneUnavailableError",
]


class PortalError(Exception):
    """Base of the portal's errors. ``str(error)`` is the public message."""

    def __init__(self, public_message: str) -> None:
        super().__init__(public_message)
        self.public_message = public_message


class NotFoundError(PortalError):
    pass


class UnknownOrganizationError(NotFoundError):
    pass


class UnknownUserError(NotFoundError):
    pass


class ConflictError(PortalError):
    pass


class InvalidInputError(PortalError):
    pass


class PermissionDeniedError(PortalError):
    pass


class InvalidTransitionError(PortalError):
    pass


class AuthenticationError(PortalError):
    pass


class LoginThrottledError(PortalError):
    def __init__(self, public_message: str, retry_after_seconds: int) -> None:
        super().__init__(public_message)
        self.retry_after_seconds = retry_after_seconds


class CsrfError(PortalError):
    pass


class SigningKeyError(PortalError):
    pass


class WrongPortalKeyError(SigningKeyError):
    pass


class UnsealedKeysError(SigningKeyError):
    pass


class LogUnavailableError(PortalError):
    pass


class PortalBindError(PortalError):
    """The portal cannot listen on its bind address (in use, or not this machine's)."""


class ZoneUnavailableError(PortalError):
    """The zone's API is not reachable from the portal, or refused the portal's call."""


class ZoneRefusedError(PortalError):
    """The zone refused a steward page's call: ``reason`` is the zone's reason code (e.g.
    ``SELF_APPROVAL``), the public message the zone's own words."""

    def __init__(self, public_message: str, reason: str = "") -> None:
        super().__init__(public_message)
        self.reason = reason


class ZoneConflictError(ZoneRefusedError):
    pass


class ZoneNotFoundError(ZoneRefusedError):
    pass


class ZoneInvalidArgumentError(ZoneRefusedError):
    def __init__(self, public_message: str, reason: str = "", field: str = "") -> None:
        super().__init__(public_message, reason)
        self.field = field


class ZonePermissionError(ZoneRefusedError):
    pass
