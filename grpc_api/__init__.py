"""gRPC servicers and interceptors: authentication, scopes, rate limits, error mapping.

:func:`build_server` assembles the API from its collaborators (the zone's
:class:`enclave.persons.PersonChecks`, a :class:`TokenVerifier` over the portal's JWKS
and revocation feed, the audit log's receipts). Every refusal leaves through one table
(``STATUS_CODES``) as a ``google.rpc.Status`` with an ``ErrorInfo`` reason.

Its options are defined once, with their defaults, checks (raising :class:`InvalidOptionError`)
and documentation: :class:`ServerOptions` for ``build_server``, :class:`VerifierOptions` for the
token checks. The launcher's ``[grpc]`` settings section is both.

Every call's outcome goes to the operational log (logger ``dataward.grpc``) and, given a
:class:`CallMetrics`, to Prometheus metrics (:mod:`grpc_api._observe`); the caller gets the
call's request id in the trailing metadata, a streaming call's in its initial metadata too
(:data:`REQUEST_ID_KEY`).
"""

from grpc_api._guard import METHOD_SCOPES
from grpc_api._jwks import JwksCache
from grpc_api._observe import REQUEST_ID_KEY, CallMetrics
from grpc_api._operator import OperatorKey, mint_operator_token, operator_issuer
from grpc_api._options import InvalidOptionError, ServerOptions, VerifierOptions
from grpc_api._revocations import RevocationFeed
from grpc_api._server import ApiServer, build_server
from grpc_api._servicers import ReceiptSource, raw_public_key
from grpc_api._status import CATCH_ALL, STATUS_CODES, refusal_for, row_for
from grpc_api._tokens import Principal, TokenVerifier
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

__all__ = [
    "CATCH_ALL",
    "METHOD_SCOPES",
    "REQUEST_ID_KEY",
    "STATUS_CODES",
    "ApiError",
    "ApiServer",
    "CallMetrics",
    "DeadlineTooShort",
    "InvalidOptionError",
    "InvalidRequest",
    "JwksCache",
    "MalformedRequest",
    "OperatorKey",
    "PermissionRefused",
    "Principal",
    "RateLimited",
    "ReceiptSource",
    "RevocationFeed",
    "ServerOptions",
    "TokenVerifier",
    "TooManyItems",
    "Unauthenticated",
    "Unavailable",
    "VerifierOptions",
    "build_server",
    "mint_operator_token",
    "operator_issuer",
    "raw_public_key",
    "refusal_for",
    "row_for",
]
