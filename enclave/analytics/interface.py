"""The seam between the query path and the policy in force.

:class:`AggregateQueries` reads the policy through a :class:`PolicySource` once per request
and uses that one snapshot for the whole answer (its checks, the gate's rules and the version
its leaves record), so a steward applying a new policy while queries run never mixes two.
The zone's store of applied policies implements it; :class:`FixedPolicy` serves one policy
(tests, offline tools).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from enclave.budget import BudgetLedger
from policies import Policy

__all__ = ["Budget", "ChargeTrail", "FixedPolicy", "PolicySource"]


class PolicySource(Protocol):
    def current(self) -> Policy:
        """The policy in force now (a validated, frozen value)."""


@dataclass(frozen=True)
class FixedPolicy:
    """Always the same policy."""

    policy: Policy

    def current(self) -> Policy:
        return self.policy


class ChargeTrail(Protocol):
    """Logs each budget charge (:class:`enclave.audit.AuditLogTrail` implements it)."""

    def budget_charged(
        self, *, request_id: str, charge_id: str, micro_epsilon: int, entry_hash: str, new: bool
    ) -> None:
        """Log the charge; returns once its leaf is durable."""


@dataclass(frozen=True)
class Budget:
    """What differentially private answers need: the durable ledger they are charged to,
    the trail their charges are logged on, and the live dataset version (budgets are per
    dataset version: a new version is new data)."""

    ledger: BudgetLedger
    trail: ChargeTrail
    dataset_version: Callable[[], str]
