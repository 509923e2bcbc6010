"""The seam between the query path and the policy in force.

:class:`AggregateQueries` reads the policy through a :class:`PolicySource` once per request
and uses that one snapshot for the whole answer (its checks, the gate's rules and the version
its leaves record), so a steward applying a new policy while queries run never mixes two.
The zone's store of applied policies implements it; :class:`FixedPolicy` serves one policy
(tests, offline tools).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from policies import Policy

__all__ = ["FixedPolicy", "PolicySource"]


class PolicySource(Protocol):
    def current(self) -> Policy:
        """The policy in force now (a validated, frozen value)."""


@dataclass(frozen=True)
class FixedPolicy:
    """Always the same policy."""

    policy: Policy

    def current(self) -> Policy:
        return self.policy
