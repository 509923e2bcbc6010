"""The values the policy store answers with, and the audit trail it writes to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, Protocol

from dataward.transparency import Receipt
from enclave.release import AuditTrail
from policies import AggregationRule, Policy

__all__ = [
    "APPLY_POLICY",
    "GET_POLICY",
    "AppliedVersion",
    "GrantSummary",
    "InForce",
    "PolicyApplied",
    "PolicyRead",
    "PolicyTrail",
    "ViewSummary",
    "apply_fields",
    "read_fields",
    "summarize",
]

#: The method the zone logs (and hashes into the release) for applying a policy.
APPLY_POLICY = "StewardService/ApplyPolicy"
#: The method the zone logs for reading the policy in force and its history.
GET_POLICY = "StewardService/GetPolicy"
RuleKind = Literal["aggregation", "templates"]


class PolicyTrail(AuditTrail, Protocol):
    """The release skeleton's trail, plus the ``policy_changed`` leaf."""

    def policy_changed(
        self,
        *,
        request_id: str,
        version: str,
        previous_version: str,
        client_id: str,
        organization: str,
    ) -> None:
        """Log that ``version`` replaces ``previous_version``; returns once it is durable."""


@dataclass(frozen=True)
class AppliedVersion:
    """One applied version: its sequence number (1, 2, ...), content hash, when (UTC) and by
    whom (the caller's client id and organization)."""

    sequence: int
    version: str
    applied_at: dt.datetime
    client_id: str
    organization: str


@dataclass(frozen=True)
class ViewSummary:
    """A view as a steward reads it: its rule kind, release mode and templates (if any)."""

    name: str
    rule: RuleKind
    release_mode: str
    templates: tuple[str, ...]


@dataclass(frozen=True)
class GrantSummary:
    organization: str
    purpose: str
    views: tuple[str, ...]


@dataclass(frozen=True)
class InForce:
    """The policy in force. ``applied`` is None when no version was ever applied -- or the last
    applied one is ``unusable`` (it no longer loads or hashes to its version): then the policy
    is the EMPTY one (no views, no grants), under which every query is refused."""

    policy: Policy
    document: str
    applied: AppliedVersion | None
    #: the last applied version when it could not be put in force (then the policy in force
    #: is the EMPTY one, every query refused, until a valid document is applied), and why
    unusable: AppliedVersion | None = None
    problem: str = ""

    @property
    def version(self) -> str:
        return self.policy.version

    @property
    def views(self) -> tuple[ViewSummary, ...]:
        return summarize(self.policy)[0]

    @property
    def grants(self) -> tuple[GrantSummary, ...]:
        return summarize(self.policy)[1]


@dataclass(frozen=True)
class PolicyApplied:
    """The answer to an apply: the version in force now, whether this call changed it, since
    when it is in force, and the receipt of the release leaf (request ``request_id``)."""

    version: str
    changed: bool
    applied_at: dt.datetime
    receipt: Receipt
    request_id: str


@dataclass(frozen=True)
class PolicyRead:
    """The answer to a read: the policy in force, every applied version (oldest first), and
    the receipt of the read's release leaf (request ``request_id``)."""

    in_force: InForce
    history: tuple[AppliedVersion, ...]
    receipt: Receipt
    request_id: str


def read_fields(*, version: str, applied: int) -> dict[str, str | bool | int]:
    """The release fields of a read: the version in force and how many versions were applied."""
    return {"version": str(version), "applied_versions": int(applied)}


def summarize(policy: Policy) -> tuple[tuple[ViewSummary, ...], tuple[GrantSummary, ...]]:
    """The views (by name) and grants of ``policy`` as steward-readable summaries."""
    views = []
    for name, view in sorted(policy.views.items()):
        rule = view.rule
        if isinstance(rule, AggregationRule):
            views.append(ViewSummary(name, "aggregation", rule.release, ()))
        else:  # a template rule: templates release in exact mode
            views.append(ViewSummary(name, "templates", "exact", tuple(sorted(rule.templates))))
    grants = tuple(
        GrantSummary(g.organization, g.purpose, tuple(sorted(g.views))) for g in policy.grants
    )
    return tuple(views), grants


def apply_fields(*, version: str, changed: bool, applied_at: int) -> dict[str, str | bool | int]:
    """The release fields of an apply: the version in force, whether it changed, since when
    (seconds since the Unix epoch) -- what the receipt's result hash covers."""
    return {"version": str(version), "changed": bool(changed), "applied_at": int(applied_at)}
