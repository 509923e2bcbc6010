"""The gate itself: :func:`release` turns a computed aggregate into what may leave the zone.

Order of work: check the rules and the columns (refuse anything not declared), lay the rows
on the grid of the dimensions' public domains when the rules give them (every combination
once, zeros where the data has none; rows outside the domains dropped), sort by the
dimensions, suppress (primary and secondary, over the whole answer), round, cap rows, then
replace the parts of each average by their quotient (of the rounded, released parts).
Suppression runs before the cap so that it sees every margin; the cap only withholds more.
The cap keeps the first rows in dimension order (margins, nulls, after their cells): which
rows leave never depends on cell values, so ``ORDER BY ... LIMIT 1`` cannot single out an
extreme cell, and the output's order is the dimension order whatever the query asked.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from enclave.gate._margins import margins_of
from enclave.gate._suppress import suppressed_rows
from enclave.gate.errors import (
    ColumnMissing,
    ColumnNotAllowed,
    ColumnTypeInvalid,
    DuplicateCell,
    GateRulesInvalid,
)
from enclave.gate.interface import (
    MARKER_COLUMN,
    PERSONS_COLUMN,
    AggregateKind,
    AverageSpec,
    GateResult,
    GateRules,
)

__all__ = ["checked", "release", "released_table"]

RESERVED = (PERSONS_COLUMN, MARKER_COLUMN)


def checked(rules: GateRules) -> GateRules:
    """``rules`` once they are consistent (each column once, the averages' and dominance
    checks' parts declared, one domain per dimension, a grid within the row cap): the query
    path checks them before the engine runs; :func:`release` checks them again. Raises
    :class:`GateRulesInvalid`."""
    check_rules(rules)
    return rules


def release(table: pa.Table, rules: GateRules) -> GateResult:
    """Gate ``table`` (dimensions, aggregates, :data:`PERSONS_COLUMN`) under ``rules``.

    Raises a :class:`enclave.gate.GateError` and releases nothing when the rules or the input
    are not what the gate expects, or the margins have a shape it cannot protect."""
    check_rules(rules)
    check_columns(table, rules)
    if rules.domains is not None:
        table = on_grid(table, rules, rules.domains)
    if rules.dimensions:
        # Per-key null placement (pyarrow >= 25); the stubs still know only (name, order).
        by = [(d, "ascending", "at_end") for d in rules.dimensions]
        order = pc.SortOptions(sort_keys=by)  # type: ignore[arg-type]
        table = table.take(pc.sort_indices(table, options=order))
    keys: list[tuple[Hashable, ...]] = (
        list(zip(*(table.column(d).to_pylist() for d in rules.dimensions), strict=True))
        if rules.dimensions
        else [()] * table.num_rows
    )
    if len(set(keys)) != len(keys):
        raise DuplicateCell()
    persons: list[int | None] = table.column(PERSONS_COLUMN).to_pylist()
    dominated = _dominated(table, rules)
    hidden = suppressed_rows(persons, rules.min_persons, margins_of(keys), dominated)
    kept = min(table.num_rows, rules.row_cap)
    dimensions = {d: table.column(d).slice(0, kept).combine_chunks() for d in rules.dimensions}
    values: dict[str, list[int | None]] = {
        spec.name: table.column(spec.name).slice(0, kept).to_pylist() for spec in rules.aggregates
    }
    released = released_table(rules, dimensions, values, hidden, kept)
    return GateResult(
        table=released,
        suppressed_cells=sum(1 for i in hidden if i < kept),
        rows_capped=kept < table.num_rows,
    )


def released_table(
    rules: GateRules,
    dimensions: dict[str, pa.Array[Any]],
    values: dict[str, list[int | None]],
    hidden: set[int],
    rows: int,
) -> pa.Table:
    """What leaves: the dimension columns, each aggregate rounded (counts to ``count_base``,
    sums to ``sum_base``; null in the ``hidden`` rows), each average as the released sum over
    the released count (its parts do not leave), and the marker column."""
    columns: dict[str, pa.Array[Any]] = dict(dimensions)
    released: dict[str, list[int | None]] = {}
    for spec in rules.aggregates:
        base = rules.count_base if spec.kind is AggregateKind.COUNT else rules.sum_base
        released[spec.name] = [
            None if i in hidden else rounded(v, base) for i, v in enumerate(values[spec.name])
        ]
    averages = {average.sum: average for average in rules.averages}
    parts = {average.count for average in rules.averages}
    for spec in rules.aggregates:
        if spec.name in averages:
            average = averages[spec.name]
            columns[average.name] = quotients(released[average.sum], released[average.count])
        elif spec.name not in parts:
            columns[spec.name] = pa.array(released[spec.name], type=pa.int64())
    columns[MARKER_COLUMN] = pa.array([i in hidden for i in range(rows)], type=pa.bool_())
    return pa.table(columns)


def on_grid(table: pa.Table, rules: GateRules, domains: Sequence[Sequence[str]]) -> pa.Table:
    """``table`` as the full grid of ``domains``: one row per combination, in domain order,
    the data's row where it has one and zeros (no persons: suppressed) where it has none;
    a row whose dimension values are not all in their domains is left out."""
    dimensions = rules.dimensions
    found: dict[tuple[Hashable, ...], int] = {}
    keys = zip(*(table.column(d).to_pylist() for d in dimensions), strict=True)
    for row, key in enumerate(keys if dimensions else [()] * table.num_rows):
        if key in found:
            raise DuplicateCell()
        found[key] = row
    grid = list(itertools.product(*domains))
    rows = [found.get(key) for key in grid]
    columns: dict[str, pa.Array[Any]] = {
        d: pa.array([key[i] for key in grid], type=pa.string()) for i, d in enumerate(dimensions)
    }
    tops = (spec.top for spec in rules.dominance)
    for name in (*(spec.name for spec in rules.aggregates), *tops, PERSONS_COLUMN):
        values = table.column(name).to_pylist()
        columns[name] = pa.array(
            [0 if row is None else values[row] for row in rows], type=pa.int64()
        )
    return pa.table(columns)


def _dominated(table: pa.Table, rules: GateRules) -> set[int]:
    """The rows where one person holds more than ``max_share`` of a declared sum (or whose
    parts are unknown): withheld like small cells, before secondary suppression."""
    numerator, denominator = rules.max_share
    rows: set[int] = set()
    for spec in rules.dominance:
        totals = table.column(spec.total).to_pylist()
        tops = table.column(spec.top).to_pylist()
        for i, (total, top) in enumerate(zip(totals, tops, strict=True)):
            if total is None or top is None or top * denominator > total * numerator:
                rows.add(i)
    return rows


def quotients(sums: list[int | None], counts: list[int | None]) -> pa.Array[Any]:
    """Each released sum over its released count; null where either is withheld or the
    count is 0 (the parts were rounded, so this is never more than they would tell)."""
    return pa.array(
        [
            None if s is None or c is None or c == 0 else s / c
            for s, c in zip(sums, counts, strict=True)
        ],
        type=pa.float64(),
    )


def rounded(value: int | None, base: int) -> int | None:
    """``value`` to the nearest multiple of ``base``, ties upward (exact, in integers)."""
    if value is None:
        return None
    return base * ((value + base // 2) // base)


def check_rules(rules: GateRules) -> None:
    for name, value in (
        ("min_persons", rules.min_persons),
        ("count_base", rules.count_base),
        ("sum_base", rules.sum_base),
        ("row_cap", rules.row_cap),
    ):
        if value < 1:
            raise GateRulesInvalid(f"gate rule {name} must be at least 1")
    names = [
        *rules.dimensions,
        *(spec.name for spec in rules.aggregates),
        *(average.name for average in rules.averages),
    ]
    if len(set(names)) != len(names):
        raise GateRulesInvalid("a column is named twice in the gate rules")
    for reserved in RESERVED:
        if reserved in names:
            raise GateRulesInvalid(f"column name {reserved!r} is reserved by the gate")
    _check_averages(rules)
    _check_domains(rules)
    _check_dominance(rules)


def _check_dominance(rules: GateRules) -> None:
    """Each dominance check names a declared SUM and a top column of its own; a share in (0, 1]."""
    numerator, denominator = rules.max_share
    if not 0 < numerator <= denominator:
        raise GateRulesInvalid("the dominance share must be in (0, 1]")
    kinds = {spec.name: spec.kind for spec in rules.aggregates}
    tops = [spec.top for spec in rules.dominance]
    if len(set(tops)) != len(tops) and len({(s.total, s.top) for s in rules.dominance}) != len(
        tops
    ):
        raise GateRulesInvalid("a sum is checked for dominance twice")
    for spec in rules.dominance:
        if kinds.get(spec.total) is not AggregateKind.SUM:
            raise GateRulesInvalid(f"dominance of {spec.total!r}, which is not a declared sum")
        if spec.top in kinds or spec.top in rules.dimensions or spec.top in RESERVED:
            raise GateRulesInvalid(f"the top column {spec.top!r} is named like another")


def _check_domains(rules: GateRules) -> None:
    """One non-empty domain of distinct values per dimension; a grid within the row cap."""
    if rules.domains is None:
        return
    if len(rules.domains) != len(rules.dimensions):
        raise GateRulesInvalid("the gate rules need one domain per dimension")
    cells = 1
    for domain in rules.domains:
        if not domain or len(set(domain)) != len(domain):
            raise GateRulesInvalid("a dimension's domain is empty or repeats a value")
        cells *= len(domain)
    if cells > rules.row_cap:
        raise GateRulesInvalid("the grid of the domains has more cells than the row cap")


def _check_averages(rules: GateRules) -> None:
    """Each average's parts: a declared SUM and a declared COUNT, each part of one average."""
    kinds = {spec.name: spec.kind for spec in rules.aggregates}
    parts: list[str] = []
    for average in rules.averages:
        _part(kinds, average, average.sum, AggregateKind.SUM)
        _part(kinds, average, average.count, AggregateKind.COUNT)
        parts += [average.sum, average.count]
    if len(set(parts)) != len(parts):
        raise GateRulesInvalid("an aggregate is a part of two averages")


def _part(
    kinds: dict[str, AggregateKind], average: AverageSpec, name: str, kind: AggregateKind
) -> None:
    if kinds.get(name) is not kind:
        raise GateRulesInvalid(
            f"average {average.name!r} needs a declared {kind.name} aggregate {name!r}"
        )


def check_columns(table: pa.Table, rules: GateRules) -> None:
    tops = {spec.top for spec in rules.dominance}
    allowed = {*rules.dimensions, *(spec.name for spec in rules.aggregates), *tops, PERSONS_COLUMN}
    present: Sequence[str] = table.column_names
    if len(set(present)) != len(present):
        raise GateRulesInvalid("the aggregate has two columns of the same name")
    for name in present:
        if name not in allowed:
            raise ColumnNotAllowed(name)
    for name in allowed:
        if name not in present:
            raise ColumnMissing(name)
    for name in (PERSONS_COLUMN, *(spec.name for spec in rules.aggregates), *tops):
        if table.schema.field(name).type != pa.int64():
            raise ColumnTypeInvalid(name)
    for name in rules.dimensions:
        if pa.types.is_nested(table.schema.field(name).type):
            raise ColumnTypeInvalid(name, "of a scalar type")
