"""The output gate: the single exit of aggregates from the zone (exact mode).

:func:`release` takes a computed aggregate (a ``pyarrow.Table`` of dimension columns,
``int64`` aggregate columns and the distinct persons per cell, :data:`PERSONS_COLUMN`) and
:class:`GateRules`, and returns a :class:`GateResult` whose table holds only the dimension and
aggregate columns and the :data:`MARKER_COLUMN`:

- a cell with fewer distinct persons than ``min_persons`` is suppressed (its aggregates null);
- secondary suppression: no suppressed cell is a linear function of the released cells of the
  same answer -- margins and totals (a null dimension value means "all", as ``ROLLUP`` and
  ``CUBE`` give) over one dimension, two dimensions (one or both margins, grand total) or a
  hierarchy; other shapes are refused (:class:`UnsupportedShape`);
- counts are rounded to ``count_base``, sums to ``sum_base``;
- an average (:class:`AverageSpec`) leaves as the rounded sum over the rounded count of its
  two parts (``float64``), null where they are withheld or the count is 0; the parts do not
  leave;
- at most ``row_cap`` rows leave, the first in dimension order;
- any column not declared (an identifier, a join key) is refused, and the persons column never
  leaves.

:func:`rules_for` maps a ``query_engine.Rewritten``'s result columns (an ``AVG`` is its
``__sum`` and ``__count`` parts) onto :class:`GateRules`, with the rule's limits.

Pure functions: no DuckDB, no I/O. Differential privacy (the next issue) comes beside it.
"""

from enclave.gate._gate import checked, release
from enclave.gate._rules import rules_for
from enclave.gate.errors import (
    ColumnMissing,
    ColumnNotAllowed,
    ColumnTypeInvalid,
    DuplicateCell,
    GateError,
    GateRulesInvalid,
    UnsupportedShape,
)
from enclave.gate.interface import (
    MARKER_COLUMN,
    PERSONS_COLUMN,
    AggregateKind,
    AggregateSpec,
    AverageSpec,
    DominanceSpec,
    GateResult,
    GateRules,
)

__all__ = [
    "MARKER_COLUMN",
    "PERSONS_COLUMN",
    "AggregateKind",
    "AggregateSpec",
    "AverageSpec",
    "ColumnMissing",
    "ColumnNotAllowed",
    "ColumnTypeInvalid",
    "DominanceSpec",
    "DuplicateCell",
    "GateError",
    "GateResult",
    "GateRules",
    "GateRulesInvalid",
    "UnsupportedShape",
    "checked",
    "release",
    "rules_for",
]
