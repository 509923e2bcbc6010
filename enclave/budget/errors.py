"""Errors of the budget ledger (part of the zone's one tree, :mod:`enclave.errors`)::

    ZoneError
    └── BudgetError
        ├── BudgetExhausted         a charge would pass a limit: refused, nothing changed; it
        │                           carries the budget state (spent and left per limit)
        ├── BudgetLedgerCorrupt     the hash chain (or a stored result) does not verify: names
        │                           the first bad entry
        ├── ChargeNotFound          no charge with this id (a bug of the caller)
        └── ResultAlreadyStored     a different result for a charge that has one: the first
                                    stays (a second draw of noise must never be released)

Public messages carry amounts of budget and entry numbers, never a data value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from enclave.errors import ZoneError

if TYPE_CHECKING:
    from enclave.budget._values import BudgetState

__all__ = [
    "BudgetError",
    "BudgetExhausted",
    "BudgetLedgerCorrupt",
    "ChargeNotFound",
    "ResultAlreadyStored",
]


class BudgetError(ZoneError):
    reason: ClassVar[str] = "INTERNAL"
    default_message = "privacy budget error"


class BudgetExhausted(BudgetError):  # noqa: N818 (API names)
    """The charge of ``requested`` micro-epsilon would pass ``limit`` (a limit's name, e.g.
    ``per_partner_per_day``); ``state`` is the budget before the refused charge."""

    reason: ClassVar[str] = "BUDGET_EXHAUSTED"

    def __init__(self, limit: str, requested: int, state: BudgetState) -> None:
        self.limit = limit
        self.requested = requested
        self.state = state
        left = state.left_of(limit)
        super().__init__(
            f"privacy budget exhausted: a charge of {requested} micro-epsilon passes the "
            f"{limit} limit ({left} micro-epsilon left)"
        )


class BudgetLedgerCorrupt(BudgetError):  # noqa: N818 (API names)
    """Entry ``sequence`` (1-based; the first bad one) fails verification: ``problem`` says how."""

    reason: ClassVar[str] = "INTERNAL"

    def __init__(self, sequence: int, problem: str) -> None:
        self.sequence = sequence
        self.problem = problem
        super().__init__(f"the budget ledger is corrupt at entry {sequence}: {problem}")


class ChargeNotFound(BudgetError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "INTERNAL"
    default_message = "the budget ledger has no charge with this id"


class ResultAlreadyStored(BudgetError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "INTERNAL"
    default_message = "a different result is already stored for this charge; the stored one stays"
