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

:func:`release_dp` is the differentially private release beside it (``release: dp`` views):
OpenDP's discrete-Laplace noise on every aggregate over the full public grid, scaled to
each column's sensitivity (:func:`dp_rules_for`), then the threshold on the *noisy* persons
count and the rounding, as post-processing (see :mod:`enclave.gate._dp`).

Pure functions: no DuckDB, no I/O.
"""

from enclave.gate._dp import noise_plan, release_dp
from enclave.gate._gate import checked, release
from enclave.gate._rules import dp_rules_for, rules_for
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
    DpResult,
    DpRules,
    GateResult,
    GateRules,
    NoiseInfo,
    NoiseSpec,
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
    "DpResult",
    "DpRules",
    "DuplicateCell",
    "GateError",
    "GateResult",
    "GateRules",
    "GateRulesInvalid",
    "NoiseInfo",
    "NoiseSpec",
    "UnsupportedShape",
    "checked",
    "dp_rules_for",
    "noise_plan",
    "release",
    "release_dp",
    "rules_for",
]
