"""The access vocabulary shared by the portal, the gRPC API and partners: scopes and purposes.

A steward grants an app some scopes (what it may call) and some purposes (why it may call).
Access tokens carry both (``scope`` as a space-separated string per RFC 9068, ``purposes`` as
a list); the gRPC API checks the method's scope and the request's purpose against them.
"""

from __future__ import annotations

import enum

__all__ = ["PARTNER_SCOPES", "Purpose", "Scope"]


class Scope(enum.StrEnum):
    ELIGIBILITY_CHECK = "eligibility:check"
    IDENTITY_VERIFY = "identity:verify"
    QUERY_SUBMIT = "query:submit"
    QUERY_RUN = "query:run"
    COMPUTE_SCORE = "compute:score"
    AUDIT_READ = "audit:read"
    STEWARD_ADMIN = "steward:admin"
    # Internal: the zone's own client reads the revocation feed of the portal with it.
    ZONE_REVOCATIONS = "zone:revocations"


# What a partner app may request; steward:admin and the zone's own scope are never grantable
# to an app a partner registers.
PARTNER_SCOPES: frozenset[Scope] = frozenset(
    {
        Scope.ELIGIBILITY_CHECK,
        Scope.IDENTITY_VERIFY,
        Scope.QUERY_SUBMIT,
        Scope.QUERY_RUN,
        Scope.COMPUTE_SCORE,
        Scope.AUDIT_READ,
    }
)


class Purpose(enum.StrEnum):
    """Why a partner asks. Every person-level request names one; consent is per purpose."""

    INSURANCE_UNDERWRITING = "INSURANCE_UNDERWRITING"
    CLAIM_SETTLEMENT = "CLAIM_SETTLEMENT"
    LOAN_ORIGINATION = "LOAN_ORIGINATION"
    IDENTITY_VERIFICATION = "IDENTITY_VERIFICATION"
    RESEARCH = "RESEARCH"
    PUBLIC_HEALTH = "PUBLIC_HEALTH"
