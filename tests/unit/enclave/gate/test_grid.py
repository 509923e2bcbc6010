"""The gate releases the whole grid of the dimensions' public domains: which cells the data
holds never shows in the answer's shape (the attack run saw one man's diagnosis chapters
listed, suppressed, because only the chapters he had came back)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa
import pytest

import query_engine
from enclave.gate import MARKER_COLUMN, PERSONS_COLUMN, GateRulesInvalid, release, rules_for
from tests.unit.enclave.gate.tables import Cell, rules

CHAPTERS = ("I", "II", "IX", "X")
SEXES = ("F", "M")


def aggregate(cells: list[Cell], dimensions: list[str]) -> pa.Table:
    """The engine's output for ``cells``, with text dimensions (as domains are)."""
    columns: dict[str, pa.Array[Any]] = {
        d: pa.array([c[0][i] for c in cells], type=pa.string()) for i, d in enumerate(dimensions)
    }
    for i, name in ((1, "n"), (2, "s"), (3, PERSONS_COLUMN)):
        columns[name] = pa.array([c[i] for c in cells], type=pa.int64())
    return pa.table(columns)


def _gridded(**overrides: int) -> object:
    return dataclasses.replace(rules(["chapter", "sex"], **overrides), domains=(CHAPTERS, SEXES))


def test_every_combination_leaves_once_and_missing_ones_are_suppressed() -> None:
    # The data holds two cells: one large, one of a single person.
    table = aggregate([(("IX", "M"), 40, 9000, 30), (("X", "F"), 1, 100, 1)], ["chapter", "sex"])
    out = release(table, _gridded()).table  # type: ignore[arg-type]
    keys = list(zip(out.column("chapter").to_pylist(), out.column("sex").to_pylist(), strict=True))
    assert sorted(keys) == sorted((c, s) for c in CHAPTERS for s in SEXES)
    by_key = dict(zip(keys, out.to_pylist(), strict=True))
    assert by_key[("IX", "M")]["n"] == 40 and not by_key[("IX", "M")][MARKER_COLUMN]
    hidden = [k for k, row in by_key.items() if row[MARKER_COLUMN]]
    assert len(hidden) == len(keys) - 1  # the lone person's cell looks like the empty ones
    assert all(by_key[k]["n"] is None and by_key[k]["s"] is None for k in hidden)


def test_rows_outside_the_domains_or_null_are_not_released() -> None:
    table = aggregate(
        [(("IX", "M"), 40, 9000, 30), (("XXII", "M"), 50, 9000, 40), ((None, "F"), 60, 1, 50)],
        ["chapter", "sex"],
    )
    out = release(table, _gridded()).table  # type: ignore[arg-type]
    assert set(out.column("chapter").to_pylist()) == set(CHAPTERS)
    assert out.column("chapter").null_count == 0
    assert sum(1 for row in out.to_pylist() if not row[MARKER_COLUMN]) == 1


def test_no_dimension_is_one_cell_even_when_nothing_matched() -> None:
    empty = pa.table(
        {
            "n": pa.array([], type=pa.int64()),
            "s": pa.array([], type=pa.int64()),
            PERSONS_COLUMN: pa.array([], type=pa.int64()),
        }
    )
    spec = dataclasses.replace(rules([]), domains=())
    out = release(empty, spec).table
    assert out.num_rows == 1 and out.column(MARKER_COLUMN).to_pylist() == [True]


@pytest.mark.parametrize(
    "domains",
    [
        (CHAPTERS,),  # one domain for two dimensions
        (CHAPTERS, ()),  # an empty domain
        (CHAPTERS, ("F", "F")),  # a repeated value
    ],
)
def test_domains_that_do_not_fit_the_dimensions_are_refused(
    domains: tuple[tuple[str, ...], ...],
) -> None:
    table = aggregate([(("IX", "M"), 40, 9000, 30)], ["chapter", "sex"])
    spec = dataclasses.replace(rules(["chapter", "sex"]), domains=domains)
    with pytest.raises(GateRulesInvalid):
        release(table, spec)


def test_a_grid_larger_than_the_row_cap_is_refused() -> None:
    table = aggregate([(("IX", "M"), 40, 9000, 30)], ["chapter", "sex"])
    with pytest.raises(GateRulesInvalid):
        release(table, _gridded(row_cap=7))  # type: ignore[arg-type]


def test_rules_for_fails_closed_on_a_dimension_without_its_domain() -> None:
    columns = (
        query_engine.OutputColumn(name="sex", kind=query_engine.OutputKind.DIMENSION, item="sex"),
        query_engine.OutputColumn(
            name=PERSONS_COLUMN, kind=query_engine.OutputKind.PERSONS, item=PERSONS_COLUMN
        ),
    )
    rewritten = query_engine.Rewritten(
        sql="SELECT 1", dialect="duckdb", parameters={}, tables=(), columns=columns
    )
    with pytest.raises(GateRulesInvalid):
        rules_for(rewritten, min_persons=11, rounding_base=5, row_cap=10)
    given = (dataclasses.replace(columns[0], domain=SEXES), columns[1])
    spec = rules_for(
        dataclasses.replace(rewritten, columns=given), min_persons=11, rounding_base=5, row_cap=10
    )
    assert spec.domains == (SEXES,)
