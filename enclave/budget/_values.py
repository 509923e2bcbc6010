"""The value types of the budget ledger: limits, the budget state, a charge."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

__all__ = [
    "MICRO_EPSILON",
    "PER_PARTNER_PER_DATASET_VERSION",
    "PER_PARTNER_PER_DAY",
    "PER_QUERY",
    "TOTAL_PER_DATASET_VERSION",
    "BudgetLimits",
    "BudgetState",
    "Charge",
    "LimitState",
]

#: One epsilon in the ledger's unit. Amounts are integers: float sums drift, and a budget
#: that rounds in the partner's favour leaks.
MICRO_EPSILON = 1_000_000

PER_QUERY = "per_query"
PER_PARTNER_PER_DAY = "per_partner_per_day"
PER_PARTNER_PER_DATASET_VERSION = "per_partner_per_dataset_version"
TOTAL_PER_DATASET_VERSION = "total_per_dataset_version"


@dataclass(frozen=True)
class BudgetLimits:
    """The ledger's limits, in micro-epsilon (DESIGN.md, "Budget ledger"): 1.0 per query, 2.0
    per partner per UTC day, 10 per partner per dataset version, and a global cap on what
    all partners together spend on one dataset version (every release on the same data
    composes, whoever asked)."""

    per_query: int = 1 * MICRO_EPSILON
    per_partner_per_day: int = 2 * MICRO_EPSILON
    per_partner_per_dataset_version: int = 10 * MICRO_EPSILON
    total_per_dataset_version: int = 100 * MICRO_EPSILON

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if type(value) is not int or value <= 0:
                raise ValueError(f"budget limit {name} must be a positive integer micro-epsilon")


@dataclass(frozen=True)
class LimitState:
    """One limit: its size, what is spent against it and what is left (micro-epsilon)."""

    name: str
    limit: int
    spent: int

    @property
    def left(self) -> int:
        return max(0, self.limit - self.spent)


@dataclass(frozen=True)
class BudgetState:
    """The budget of one partner on one dataset version on one UTC day. ``per_query`` is the
    most one query may take; ``limits`` are the cumulative limits; :attr:`available` is the
    most the next charge may be."""

    partner: str
    dataset_version: str
    day: dt.date
    per_query: int
    limits: tuple[LimitState, ...]
    #: what is left under limits not listed (:meth:`for_partner` hides the all-partner cap)
    hidden_left: int | None = None

    @property
    def available(self) -> int:
        hidden = [] if self.hidden_left is None else [self.hidden_left]
        return min([self.per_query, *(limit.left for limit in self.limits), *hidden])

    def for_partner(self) -> BudgetState:
        """This state as its partner may read it: its own limits only. The cap on all
        partners together is not listed (its spent would show the others' activity); it
        still bounds :attr:`available`."""
        shown = tuple(lim for lim in self.limits if lim.name != TOTAL_PER_DATASET_VERSION)
        total = [lim.left for lim in self.limits if lim.name == TOTAL_PER_DATASET_VERSION]
        hidden = min(
            [*total, *([self.hidden_left] if self.hidden_left is not None else [])], default=None
        )
        return dataclasses.replace(self, limits=shown, hidden_left=hidden)

    def left_of(self, name: str) -> int:
        if name == PER_QUERY:
            return self.per_query
        return next(limit.left for limit in self.limits if limit.name == name)

    def details(self) -> dict[str, int]:
        """Flat integers for the wire's details: ``<limit>.limit``, ``.spent``, ``.left``."""
        out = {f"{PER_QUERY}.limit": self.per_query}
        for limit in self.limits:
            out |= {
                f"{limit.name}.limit": limit.limit,
                f"{limit.name}.spent": limit.spent,
                f"{limit.name}.left": limit.left,
            }
        return out


@dataclass(frozen=True)
class Charge:
    """One ledger entry. ``new`` is False when the query key was already charged for this
    partner and dataset version: nothing was spent, and the caller returns the stored result.
    ``entry_hash`` (hex) is the chain's hash after this entry, for the audit leaf."""

    charge_id: str
    sequence: int
    partner: str
    dataset_version: str
    query_key: str
    micro_epsilon: int
    charged_at: dt.datetime
    entry_hash: str
    new: bool
