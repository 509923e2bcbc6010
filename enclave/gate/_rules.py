""":func:`rules_for`: what the gate enforces for a rewritten query's result.

The query engine describes each column of its result (``query_engine.OutputColumn``): a
dimension, a count, a sum, the persons column, and for an ``AVG`` item two columns, a SUM
``<item>__sum`` and a COUNT ``<item>__count``, which the gate releases as one average named
``<item>``. Anything else is a bug of the caller's, refused before anything runs.
"""

from __future__ import annotations

import math

import query_engine
from enclave.gate.errors import GateRulesInvalid
from enclave.gate.interface import (
    PERSONS_COLUMN,
    AggregateKind,
    AggregateSpec,
    AverageSpec,
    DominanceSpec,
    DpRules,
    GateRules,
    NoiseSpec,
)

__all__ = ["dp_rules_for", "rules_for"]

_KINDS = {
    query_engine.OutputKind.COUNT: AggregateKind.COUNT,
    query_engine.OutputKind.SUM: AggregateKind.SUM,
}


def rules_for(
    rewritten: query_engine.Rewritten,
    *,
    min_persons: int,
    rounding_base: int,
    row_cap: int,
    require_domains: bool = True,
) -> GateRules:
    """The gate rules for ``rewritten``'s result under the limits of its rule.

    ``rounding_base`` is the sums' base (counts keep the gate's base 5); every dimension's
    public domain becomes the grid the gate releases (:attr:`GateRules.domains`). Raises
    :class:`GateRulesInvalid` when the columns do not fit the gate (no persons column or one
    named otherwise, an average without exactly its SUM and its COUNT, a kind it does not
    know, a dimension without its domain): a bug, never released. With
    ``require_domains=False`` (DP partition selection) a dimension may lack its domain: then
    the rules have no grid (``domains`` None).
    """
    dimensions: list[str] = []
    domains: list[tuple[str, ...]] = []
    aggregates: list[AggregateSpec] = []
    parts: dict[str, dict[AggregateKind, str]] = {}
    tops: dict[str, str] = {}
    persons = 0
    for column in rewritten.columns:
        if column.kind is query_engine.OutputKind.TOP:
            if column.measure is None or column.measure in tops:
                raise GateRulesInvalid(f"column {column.name!r} is not one measure's top part")
            tops[column.measure] = column.name
            continue
        if column.kind is query_engine.OutputKind.DIMENSION:
            if column.domain is None and require_domains:  # fail closed, never release as is
                raise GateRulesInvalid(f"dimension {column.name!r} has no public domain")
            dimensions.append(column.name)
            domains.append(column.domain or ())
            continue
        if column.kind is query_engine.OutputKind.PERSONS:
            if column.name != PERSONS_COLUMN:
                raise GateRulesInvalid("the persons column is not the one the gate reads")
            persons += 1
            continue
        kind = _KINDS.get(column.kind)
        if kind is None:
            raise GateRulesInvalid(f"column {column.name!r} is of a kind the gate does not know")
        aggregates.append(AggregateSpec(column.name, kind))
        if column.name != column.item:  # a part of an AVG
            expected = f"{column.item}__{kind.value}"
            named = parts.setdefault(column.item, {})
            if column.name != expected or kind in named:
                raise GateRulesInvalid(f"average {column.item!r} has an unexpected part")
            named[kind] = column.name
    if persons != 1:
        raise GateRulesInvalid("a rewritten query has exactly one persons column")
    averages: list[AverageSpec] = []
    for item, named in parts.items():
        if set(named) != {AggregateKind.SUM, AggregateKind.COUNT}:
            raise GateRulesInvalid(f"average {item!r} needs its sum and its count")
        averages.append(AverageSpec(item, named[AggregateKind.SUM], named[AggregateKind.COUNT]))
    dominance: list[DominanceSpec] = []
    for column in rewritten.columns:
        if column.kind is query_engine.OutputKind.SUM:
            top = tops.get(column.measure or "")
            if top is None:  # every sum is checked for a dominant person: fail closed
                raise GateRulesInvalid(f"sum {column.name!r} has no top part to check")
            dominance.append(DominanceSpec(column.name, top))
    return GateRules(
        min_persons=min_persons,
        sum_base=rounding_base,
        row_cap=row_cap,
        dimensions=tuple(dimensions),
        aggregates=tuple(aggregates),
        averages=tuple(averages),
        domains=tuple(domains) if all(domains) else None,
        dominance=tuple(dominance),
    )


def dp_rules_for(
    rewritten: query_engine.Rewritten,
    *,
    min_persons: int,
    rounding_base: int,
    row_cap: int,
    epsilon_micro: int,
    signed_measures: frozenset[str] = frozenset(),
    delta: float = 1e-10,
) -> DpRules:
    """The DP rules for ``rewritten``'s result: :func:`rules_for`'s, and for every aggregate
    and the persons column its L1 sensitivity -- its per-cell bound
    (``OutputColumn.per_person``) times the cells one person counts in (the rewrite's
    ``cells_per_person``, at most the grid's size; 1 without dimensions). Sums of the
    ``signed_measures`` (a negative lower clip bound) are not clamped at zero.

    Where a grouped dimension has no public domain, the cells are chosen by OpenDP's noisy
    threshold with ``delta`` (:attr:`DpRules.selection_domains`).

    Raises :class:`GateRulesInvalid` (nothing runs) when a column has no per-person bound or
    the query groups without bounding the cells per person: its sensitivity is unknown.
    """
    rules = rules_for(
        rewritten,
        min_persons=min_persons,
        rounding_base=rounding_base,
        row_cap=row_cap,
        require_domains=False,
    )
    dimensions = [c for c in rewritten.columns if c.kind is query_engine.OutputKind.DIMENSION]
    selecting = rules.domains is None and bool(rules.dimensions)
    cells = math.prod(len(domain) for domain in rules.domains or ())
    if selecting:
        cells = rewritten.cells_per_person or 0
    if rules.dimensions:
        if rewritten.cells_per_person is None:
            raise GateRulesInvalid("a DP answer bounds the cells each person counts in")
        cells = min(cells, rewritten.cells_per_person)
    noise: list[NoiseSpec] = []
    distinct = [c.name for c in rewritten.columns if c.distinct_persons]
    threshold = distinct[0] if distinct else PERSONS_COLUMN
    for column in rewritten.columns:
        if column.kind in (query_engine.OutputKind.DIMENSION, query_engine.OutputKind.TOP):
            continue
        if column.kind is query_engine.OutputKind.PERSONS and threshold != PERSONS_COLUMN:
            continue  # the query's own distinct-persons count is the threshold's
        if column.per_person is None or column.per_person < 1:
            raise GateRulesInvalid(f"column {column.name!r} has no per-person bound")
        signed = column.kind is query_engine.OutputKind.SUM and column.measure in signed_measures
        noise.append(
            NoiseSpec(column.name, column.per_person * cells, nonnegative=not signed, cells=cells)
        )
    return DpRules(
        rules=rules,
        epsilon_micro=epsilon_micro,
        noise=tuple(noise),
        threshold=threshold,
        selection_domains=tuple(c.domain for c in dimensions) if selecting else None,
        delta=delta if selecting else 0.0,
    )
