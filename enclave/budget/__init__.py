"""The durable privacy-budget ledger (DESIGN.md, "Budget ledger").

Amounts are integer micro-epsilon (:data:`MICRO_EPSILON` = one epsilon), never floats.
:meth:`BudgetLedger.charge` charges a query BEFORE it runs, in one durable SQLite
transaction (``ZONE/state/budget.db``, WAL, ``synchronous=FULL`` by default), against the
:class:`BudgetLimits`: per query, per partner per UTC day, per partner per dataset version,
and all partners together per dataset version. A charge past any of them is
:class:`BudgetExhausted` (``BUDGET_EXHAUSTED``, with the :class:`BudgetState`) and changes
nothing.

**Repetition costs nothing and reveals nothing new.** A query key (the caller's hash of the
query, its parameters, the dataset and policy version) already charged for the partner and
dataset version returns the existing :class:`Charge` (``new=False``); its noisy result is
stored with it once (:meth:`BudgetLedger.store_result`, never overwritten) and returned again
(:meth:`BudgetLedger.result`), so identical queries cannot average the noise away. A charge
without a stored result (the process died between charge and release) stays spent: the
caller may run the query again under the same charge, never charge twice.

**Tamper evidence.** The ledger is append-only (triggers refuse UPDATE and DELETE) and
hash-chained: each entry stores ``sha256(previous hash || canonical entry)``;
:meth:`BudgetLedger.verify` recomputes it and names the first bad entry
(:class:`BudgetLedgerCorrupt`). :attr:`Charge.entry_hash` is meant for the charge's audit leaf.
"""

from enclave.budget._ledger import BUDGET_DB, BudgetLedger
from enclave.budget._values import (
    MICRO_EPSILON,
    PER_PARTNER_PER_DATASET_VERSION,
    PER_PARTNER_PER_DAY,
    PER_QUERY,
    TOTAL_PER_DATASET_VERSION,
    BudgetLimits,
    BudgetState,
    Charge,
    LimitState,
)
from enclave.budget.errors import (
    BudgetError,
    BudgetExhausted,
    BudgetLedgerCorrupt,
    ChargeNotFound,
    ResultAlreadyStored,
)

__all__ = [
    "BUDGET_DB",
    "MICRO_EPSILON",
    "PER_PARTNER_PER_DATASET_VERSION",
    "PER_PARTNER_PER_DAY",
    "PER_QUERY",
    "TOTAL_PER_DATASET_VERSION",
    "BudgetError",
    "BudgetExhausted",
    "BudgetLedger",
    "BudgetLedgerCorrupt",
    "BudgetLimits",
    "BudgetState",
    "Charge",
    "ChargeNotFound",
    "LimitState",
    "ResultAlreadyStored",
]
