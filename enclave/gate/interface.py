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


@dataclass(frozen=True)
class NoiseSpec:
    """One noisy input column of a DP answer (an aggregate or :data:`PERSONS_COLUMN`) and
    its L1 sensitivity: the most adding or removing one person changes the column summed
    over the whole answer (its per-cell bound times the cells one person counts in).
    ``nonnegative``: the true values cannot be negative, so noisy ones are clamped at 0."""

    column: str
    sensitivity: int
    nonnegative: bool = True
    #: the most cells one person changes (the L0 part of the sensitivity, which partition
    #: selection's threshold needs; ``sensitivity / cells`` is the most in one cell)
    cells: int = 1


@dataclass(frozen=True, kw_only=True)
class DpRules:
    """What the gate enforces for one differentially private answer.

    ``rules`` as for exact release (dimensions with their domains -- required: every cell
    of the public grid is released, noisy, so which cells exist reveals nothing --,
    aggregates, averages, ``min_persons``, rounding bases, ``row_cap``); its dominance checks
    are not applied (the noise is scaled to any one person's whole contribution). ``noise``
    lists every aggregate and the persons column once; ``epsilon_micro`` (integer
    micro-epsilon, the query's charge) is split equally across them."""

    rules: GateRules
    epsilon_micro: int
    noise: tuple[NoiseSpec, ...]
    #: the noised column whose value is the distinct persons of each cell: the threshold
    #: reads it (a ``COUNT(DISTINCT person)`` of the query, or the persons column, noised
    #: only when the query has no such count)
    threshold: str = PERSONS_COLUMN
    #: Partition selection, where a dimension has no public domain (``rules.domains`` is
    #: then None): each dimension's domain or None, in the order of ``rules.dimensions``.
    #: The cells released are those OpenDP's noisy threshold (``make_laplace_threshold``
    #: on the threshold column) keeps, with probability at most ``delta`` of keeping one
    #: that a single person makes; rows whose value lies outside a dimension's domain are
    #: dropped first.
    selection_domains: tuple[tuple[str, ...] | None, ...] | None = None
    delta: float = 0.0


@dataclass(frozen=True)
class NoiseInfo:
    """How one column was noised: its share of epsilon (micro), the noise distribution's
    scale, and ``error_bound_95``: the distance from the true value that the released value
    (noise and rounding together) stays within with 95% probability."""

    column: str
    epsilon_micro: int
    scale: float
    error_bound_95: float
    mechanism: str = "discrete_laplace"
    #: partition selection: the noisy value a cell needs to be released at all
    threshold: int | None = None


@dataclass(frozen=True)
class DpResult:
    """A DP answer: ``table`` as :class:`GateResult`'s (dimensions, aggregates, averages,
    :data:`MARKER_COLUMN`: ``True`` where the noisy persons count fell under
    ``min_persons``), the noise of each column and the epsilon spent in all."""

    table: pa.Table
    suppressed_cells: int
    noise: tuple[NoiseInfo, ...]
    epsilon_micro: int
