"""The partner SDK: a typed client for the zone's gRPC API.

Depends only on grpcio, protobuf (with the ``google.rpc`` messages of
googleapis-common-protos for error details), the generated stubs and ``cryptography``::

    from dataward.client import Client, ClientCredentialsTokenSource

    tokens = ClientCredentialsTokenSource(
        "https://portal.example/oauth/token", client_id, client_secret, "eligibility:check"
    )
    with Client("zone.example:50051", tokens, credentials=grpc.ssl_channel_credentials()) as c:
        result = c.check_eligibility(id_number, "OUTPATIENT", "INSURANCE_UNDERWRITING")
        c.verify_answer(result)  # pin the key: Client(..., audit_key=...)
"""

from dataward.client._client import (
    BatchItem,
    Benefit,
    Client,
    ConsentGrant,
    EligibilityQuery,
    EligibilityResult,
    IdentityResult,
)
from dataward.client._tokens import ClientCredentialsTokenSource, StaticTokenSource, TokenSource
from dataward.client.errors import (
    ConsentRequired,
    DatawardError,
    DeadlineExceeded,
    IdNumberInvalid,
    InvalidArgument,
    MessageTooLarge,
    NotFound,
    NotYetSigned,
    PermissionDenied,
    RateLimited,
    ReceiptInvalid,
    ServerError,
    TokenError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)

__all__ = [
    "BatchItem",
    "Benefit",
    "Client",
    "ClientCredentialsTokenSource",
    "ConsentGrant",
    "ConsentRequired",
    "DatawardError",
    "DeadlineExceeded",
    "EligibilityQuery",
    "EligibilityResult",
    "IdNumberInvalid",
    "IdentityResult",
    "InvalidArgument",
    "MessageTooLarge",
    "NotFound",
    "NotYetSigned",
    "PermissionDenied",
    "RateLimited",
    "ReceiptInvalid",
    "ServerError",
    "StaticTokenSource",
    "TokenError",
    "TokenSource",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
]
