"""The portal's exception tree. Every error carries a public message (no data values).

::

    PortalError                      base; ``public_message`` is safe to show
    ├── NotFoundError                no such organization, user or app
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
    └── ZoneUnavailableError         the zone's gRPC API is not reachable from the portal, or
                                     refused the call (a steward page that reads the zone)

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
    "PortalError",
    "SigningKeyError",
    "UnsealedKeysError",
    "WrongPortalKeyError",
    "ZoneUnavailableError",
]


class PortalError(Exception):
    """Base of the portal's errors. ``str(error)`` is the public message."""

    def __init__(self, public_message: str) -> None:
        super().__init__(public_message)
        self.public_message = public_message


class NotFoundError(PortalError):
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


class ZoneUnavailableError(PortalError):
    """The zone's API is not reachable from the portal, or refused the portal's call."""
