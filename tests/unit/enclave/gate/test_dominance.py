"""A sum one person dominates is withheld, however many persons the cell has: its released
total would tell that person's amount within rounding (the review found one patient holding
42% of a released cell's sum). Primary suppression, so secondary suppression protects it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa
import pytest

import query_engine
from enclave.gate import (
    MARKER_COLUMN,
    PERSONS_COLUMN,
    AggregateKind,
    AggregateSpec,
    DominanceSpec,
    GateRules,
    GateRulesInvalid,
    release,
    rules_for,
)

TOP = "__top_s"


def _table(rows: list[tuple[str, int, int, int, int]]) -> pa.Table:
    """(key, count, sum, persons, the largest one person's part of the sum) per cell."""
    columns: dict[str, pa.Array[Any]] = {"k": pa.array([r[0] for r in rows], type=pa.string())}
    for i, name in ((1, "n"), (2, "s"), (3, PERSONS_COLUMN), (4, TOP)):
        columns[name] = pa.array([r[i] for r in rows], type=pa.int64())
    return pa.table(columns)


def _rules(**changes: Any) -> GateRules:
    rules = GateRules(
        sum_base=1,
        row_cap=100,
        dimensions=("k",),
        aggregates=(AggregateSpec("n", AggregateKind.COUNT), AggregateSpec("s", AggregateKind.SUM)),
        dominance=(DominanceSpec("s", TOP),),
    )
    return dataclasses.replace(rules, **changes)


def test_a_cell_one_person_dominates_is_suppressed_and_the_top_never_leaves() -> None:
    table = _table(
        [
            ("a", 40, 10_000, 30, 4_200),  # 42%: released
            ("b", 40, 10_000, 30, 5_001),  # one person holds over half of the sum
            ("c", 40, 10_000, 30, 5_000),  # exactly half: released
        ]
    )
    out = release(table, _rules())
    rows = {row["k"]: row for row in out.table.to_pylist()}
    assert rows["b"][MARKER_COLUMN] and rows["b"]["s"] is None and rows["b"]["n"] is None
    assert not rows["a"][MARKER_COLUMN] and not rows["c"][MARKER_COLUMN]
    assert TOP not in out.table.column_names
    tighter = release(table, _rules(max_share=(2, 5))).table.to_pylist()  # 40%
    assert [row[MARKER_COLUMN] for row in tighter] == [True, True, True]


@pytest.mark.parametrize(
    "changes",
    [
        {"max_share": (0, 2)},
        {"max_share": (3, 2)},
        {"dominance": (DominanceSpec("n", TOP),)},  # a count, not a sum
        {"dominance": (DominanceSpec("s", "n"),)},  # the top named like an aggregate
        {"dominance": (DominanceSpec("s", TOP), DominanceSpec("s", TOP))},
    ],
)
def test_dominance_rules_that_do_not_fit_are_refused(changes: dict[str, Any]) -> None:
    table = _table([("a", 40, 10_000, 30, 100)])
    with pytest.raises(GateRulesInvalid):
        release(table, _rules(**changes))


def test_rules_for_checks_every_sum_and_fails_closed_without_its_top() -> None:
    kind = query_engine.OutputKind
    dimension = query_engine.OutputColumn(
        name="k", kind=kind.DIMENSION, item="k", domain=("a", "b")
    )
    total = query_engine.OutputColumn(name="s", kind=kind.SUM, item="s", measure="m")
    persons = query_engine.OutputColumn(name=PERSONS_COLUMN, kind=kind.PERSONS, item="p")
    top = query_engine.OutputColumn(name=TOP, kind=kind.TOP, item="m", measure="m")
    rewritten = query_engine.Rewritten(
        sql="SELECT 1", dialect="duckdb", parameters={}, tables=(), columns=(dimension, total)
    )
    with pytest.raises(GateRulesInvalid):
        rules_for(
            dataclasses.replace(rewritten, columns=(dimension, total, persons)),
            min_persons=11,
            rounding_base=5,
            row_cap=10,
        )
    spec = rules_for(
        dataclasses.replace(rewritten, columns=(dimension, total, persons, top)),
        min_persons=11,
        rounding_base=5,
        row_cap=10,
    )
    assert spec.dominance == (DominanceSpec("s", TOP),)
