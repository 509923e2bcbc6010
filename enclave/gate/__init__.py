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
- at most ``row_cap`` rows leave, the first in dimension order;
- any column not declared (an identifier, a join key) is refused, and the persons column never
  leaves.

Pure functions: no DuckDB, no I/O. Differential privacy (the next issue) comes beside it.
"""

from enclave.gate._gate import release
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
    GateResult,
    GateRules,
)

__all__ = [
    "MARKER_COLUMN",
    "PERSONS_COLUMN",
    "AggregateKind",
    "AggregateSpec",
    "ColumnMissing",
    "ColumnNotAllowed",
    "ColumnTypeInvalid",
    "DuplicateCell",
    "GateError",
    "GateResult",
    "GateRules",
    "GateRulesInvalid",
    "UnsupportedShape",
    "release",
]
