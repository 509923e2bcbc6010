"""The gate's seam: the frozen values that cross it.

The caller (the query path) runs the aggregate, then hands the gate a ``pyarrow.Table`` with
exactly these columns: the query's dimension columns, its aggregate columns (``int64``) and one
``int64`` column :data:`PERSONS_COLUMN` holding the distinct persons behind each cell.
:func:`enclave.gate.rules_for` maps a ``query_engine.Rewritten``'s columns onto
:class:`GateRules`; the limits (persons, rounding, rows) come from the caller's rule as plain
numbers: the gate depends on no policy type.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import pyarrow as pa

__all__ = [
    "MARKER_COLUMN",
    "PERSONS_COLUMN",
    "AggregateKind",
    "AggregateSpec",
    "AverageSpec",
    "DominanceSpec",
    "GateResult",
    "GateRules",
]

PERSONS_COLUMN = "__persons"
"""The input column of distinct persons per cell; it never leaves the gate."""

MARKER_COLUMN = "suppressed"
"""The output's per-row marker: ``True`` where the row's aggregates were withheld (null)."""


class AggregateKind(enum.Enum):
    """How an aggregate column is rounded: counts to ``count_base``, sums to ``sum_base``."""

    COUNT = "count"
    SUM = "sum"


@dataclass(frozen=True)
class AggregateSpec:
    """One aggregate column of the answer (``COUNT(*)``, ``COUNT(DISTINCT person)``, ``SUM``)."""

    name: str
    kind: AggregateKind


@dataclass(frozen=True)
class AverageSpec:
    """An average, released in place of two aggregate columns of the input.

    ``sum`` (a SUM) and ``count`` (a COUNT of the same values) are declared in
    :attr:`GateRules.aggregates`, so suppression and rounding treat them like any aggregate;
    they do not leave. ``name`` leaves instead, where ``sum`` stands in the aggregates, as
    ``float64``: the gate's *rounded* sum over its *rounded* count, null where the row is
    suppressed or the rounded count is 0. Computed only from values the gate would release,
    it says no more than they would.
    """

    name: str
    sum: str
    count: str


@dataclass(frozen=True)
class DominanceSpec:
    """A released sum (``total``, a SUM in :attr:`GateRules.aggregates`) and the input column
    ``top`` holding the largest one person's part of it in the cell; ``top`` never leaves."""

    total: str
    top: str


@dataclass(frozen=True, kw_only=True)
class GateRules:
    """What the gate enforces for one answer.

    ``min_persons``: a cell with fewer distinct persons is suppressed. ``count_base`` and
    ``sum_base``: released counts and sums are rounded to the nearest multiple (ties upward).
    ``row_cap``: at most this many rows leave, the first ones in dimension order.
    ``dimensions`` and ``aggregates``: the only columns that may leave, in this order, except
    that the parts of each of ``averages`` leave as the average (:class:`AverageSpec`).
    A null in a dimension column means "all values" (a margin, as ``GROUP BY ROLLUP``/``CUBE``
    gives, or a total the caller added).
    ``dominance``: sums whose cells are suppressed when one person holds more than
    ``max_share`` (numerator, denominator) of the sum -- a cell of many persons still tells a
    dominant one's amount within rounding (the p% idea of statistical disclosure control).
    ``domains``: each dimension's public domain, in the order of ``dimensions`` (None: the
    rows as given). With them the gate releases exactly the grid of the domains, in domain
    order: a combination the data lacks is a cell of zero persons (suppressed), and a row
    whose value is outside a domain (or null) is not released, so which cells exist in the
    data -- who has which diagnosis in a small group -- never shows in the answer's shape.
    """

    min_persons: int = 11
    count_base: int = 5
    sum_base: int
    row_cap: int
    dimensions: tuple[str, ...]
    aggregates: tuple[AggregateSpec, ...]
    averages: tuple[AverageSpec, ...] = ()
    domains: tuple[tuple[str, ...], ...] | None = None
    dominance: tuple[DominanceSpec, ...] = ()
    max_share: tuple[int, int] = (1, 2)


@dataclass(frozen=True)
class GateResult:
    """What may leave the zone: ``table`` has the dimension, aggregate and average columns and
    :data:`MARKER_COLUMN`, nothing else. ``suppressed_cells`` counts the marked rows of
    ``table``; ``rows_capped`` says the row cap dropped rows."""

    table: pa.Table
    suppressed_cells: int
    rows_capped: bool
