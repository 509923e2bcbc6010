"""What a partner app can be granted, in a steward's words: one table of scopes and purposes.

Each entry says in one sentence what the grant lets the app do (scopes: which calls; purposes:
why it may call them) and whether the zone serves it yet. An entry whose feature is not built
is shown on the review and registration pages as such and is never grantable: registering,
approving or changing grants with it is refused (:class:`~portal.errors.InvalidInputError`,
HTTP 400) before anything is stored, so no app holds a grant the zone cannot honour.

The sentences are the portal's; the zone's contract for each scope is the set of methods in
``grpc_api``'s ``METHOD_SCOPES`` (a test holds :data:`SCOPE_METHODS` to it, so a scope is
"built" exactly when the zone serves a method under it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dataward.access import Purpose, Scope
from portal.errors import InvalidInputError

__all__ = ["CATALOG", "SCOPE_METHODS", "Catalog", "Entry"]


@dataclass(frozen=True)
class Entry:
    """One scope or purpose: its ``value`` (as in tokens), a short ``title``, the ``sentence``
    a steward reads, and whether the zone serves it (``built``)."""

    value: str
    title: str
    sentence: str
    built: bool = True


# The zone's methods under each partner scope (the gRPC full names' last two parts).
SCOPE_METHODS: dict[str, tuple[str, ...]] = {
    Scope.ELIGIBILITY_CHECK: ("EligibilityService/Check", "EligibilityService/CheckBatch"),
    Scope.IDENTITY_VERIFY: ("IdentityService/Verify", "ComputeService/EncryptedFaceMatch"),
    Scope.QUERY_SUBMIT: (
        "QueryService/Explain",
        "QueryService/Submit",
        "QueryService/Get",
        "QueryService/List",
        "QueryService/GetBudget",
    ),
    Scope.QUERY_RUN: ("QueryService/Run",),
    Scope.COMPUTE_SCORE: (
        "ComputeService/CreditBand",
        "ComputeService/RegisterModel",
        "ComputeService/GetModel",
        "ComputeService/PaillierScore",
        "ComputeService/CkksBatchScore",
    ),
    Scope.AUDIT_READ: (
        "AuditService/GetPublicKey",
        "AuditService/GetReceipt",
        "AuditService/GetConsistencyProof",
    ),
}

_SCOPES = (
    Entry(
        Scope.ELIGIBILITY_CHECK,
        "Eligibility checks",
        "Ask whether a consenting person is covered for a kind of care on a date: yes or no, "
        "the coverage class and the reason; never the enrolment record.",
    ),
    Entry(
        Scope.IDENTITY_VERIFY,
        "Identity checks",
        "Check that a consenting person's ID number exists with the name given and their "
        "registry status, and with a selfie whether it is the face of their ID-card photo "
        "(one to one, never a search); never the photo, the template or a score.",
    ),
    Entry(
        Scope.QUERY_SUBMIT,
        "Submit aggregate questions",
        "Send SQL over the published analysis views (never the tables), see how the zone "
        "would answer it and what it costs, and read the organization's privacy budget; a "
        "question no rule allows waits for a steward's review.",
    ),
    Entry(
        Scope.QUERY_RUN,
        "Run aggregate questions",
        "Run an allowed or approved question and receive only the gated result: small cells "
        "suppressed, counts rounded, noise where the grant is differentially private, each "
        "run charged to the organization's privacy budget.",
    ),
    Entry(
        Scope.COMPUTE_SCORE,
        "Scores",
        "Get a consenting person's credit band from the zone's own model, or a score from the "
        "partner's model computed under encryption (only the partner can read it) once an "
        "auditor attested the model; never the features in clear.",
    ),
    Entry(
        Scope.AUDIT_READ,
        "Receipts and proofs",
        "Read the zone's public keys, receipts and consistency proofs, to verify the answers "
        "the app received; reveals no data.",
    ),
)

_PURPOSES = (
    Entry(
        Purpose.INSURANCE_UNDERWRITING,
        "Insurance underwriting",
        "Pricing and accepting insurance: a consenting applicant's coverage, and aggregate "
        "claims statistics for pricing products.",
    ),
    Entry(
        Purpose.CLAIM_SETTLEMENT,
        "Claim settlement",
        "Settling a claim: whether the consenting claimant was covered for that care on the "
        "date of care.",
    ),
    Entry(
        Purpose.LOAN_ORIGINATION,
        "Loan origination",
        "Granting a loan: confirm a consenting applicant's identity and get a credit band or "
        "an encrypted score of the bank's own model.",
    ),
    Entry(
        Purpose.IDENTITY_VERIFICATION,
        "Identity verification",
        "Confirming a consenting person is who they say: ID number, name, and a selfie against "
        "the ID-card photo.",
    ),
    Entry(
        Purpose.RESEARCH,
        "Research",
        "Aggregate statistics for research, differentially private where the policy says so; "
        "no person is ever singled out.",
    ),
    Entry(
        Purpose.PUBLIC_HEALTH,
        "Public health",
        "Monitoring by a public body: aggregate statistics over claims and enrolment, under "
        "the same disclosure control.",
    ),
)


@dataclass(frozen=True)
class Catalog:
    """The scopes and purposes a partner app can ask for, in display order."""

    scopes: tuple[Entry, ...]
    purposes: tuple[Entry, ...]

    def scope(self, value: str) -> Entry | None:
        return next((e for e in self.scopes if e.value == value), None)

    def purpose(self, value: str) -> Entry | None:
        return next((e for e in self.purposes if e.value == value), None)

    def check_scopes(self, values: Iterable[str]) -> list[str]:
        """``values`` sorted and deduplicated; :class:`InvalidInputError` for none, one that
        is not a partner scope, or one whose feature is not built yet (named: it is ours)."""
        return _check(
            values, self.scopes, "scope", "unknown scope, or a scope partners cannot have"
        )

    def check_purposes(self, values: Iterable[str]) -> list[str]:
        return _check(values, self.purposes, "purpose", "unknown purpose")


def _check(values: Iterable[str], entries: tuple[Entry, ...], what: str, unknown: str) -> list[str]:
    chosen = sorted(set(values))
    if not chosen:
        raise InvalidInputError(f"choose at least one {what}")
    by_value = {e.value: e for e in entries}
    for value in chosen:
        entry = by_value.get(value)
        if entry is None:
            raise InvalidInputError(unknown)  # never echoes what was sent
        if not entry.built:
            raise InvalidInputError(f"{what} {entry.value} is not built yet and cannot be granted")
    return chosen


CATALOG = Catalog(_SCOPES, _PURPOSES)
