"""Averages at the gate: the released value is the gate's rounded sum over its rounded count,
null where the parts are withheld or the count rounds to 0; the parts never leave; an average
never releases a cell its parts would not (hypothesis). `rules_for` maps a rewritten query's
columns onto the gate's rules, and a template with AVG runs end to end on DuckDB."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import query_engine
from enclave.gate import (
    MARKER_COLUMN,
    PERSONS_COLUMN,
    AggregateKind,
    AggregateSpec,
    AverageSpec,
    GateRules,
    GateRulesInvalid,
    release,
    rules_for,
)
from policies import TemplateRule, default_policy
from tests.support.query_export import Export, synthetic_export
from tests.unit.enclave.gate.tables import Cell, aggregate, rules
from tests.unit.enclave.gate.test_properties import answers

MIN = 11
MEAN = AverageSpec("mean", sum="s", count="n")


def _with_mean(dimensions: Sequence[str], **overrides: int) -> GateRules:
    return dataclasses.replace(rules(dimensions, **overrides), averages=(MEAN,))


def _rounded(value: int, base: int) -> int:
    return base * ((value + base // 2) // base)


def test_the_average_is_the_rounded_sum_over_the_rounded_count() -> None:
    cells: list[Cell] = [((1,), 23, 12_345, 20), ((2,), 51, 99_999, 40)]
    out = release(aggregate(cells, ["d"]), _with_mean(["d"], min_persons=MIN)).table
    assert out.column_names == ["d", "mean", MARKER_COLUMN]
    assert out.schema.field("mean").type == pa.float64()
    assert out.column("mean").to_pylist() == [
        _rounded(12_345, 100) / _rounded(23, 5),
        _rounded(99_999, 100) / _rounded(51, 5),
    ]


def test_the_average_is_null_where_its_parts_are_suppressed() -> None:
    cells: list[Cell] = [((1,), 30, 5_000, 25), ((2,), 9, 800, 3), ((None,), 39, 5_800, 28)]
    result = release(aggregate(cells, ["d"]), _with_mean(["d"], min_persons=MIN))
    rows = {row["d"]: row for row in result.table.to_pylist()}
    assert rows[2][MARKER_COLUMN] and rows[2]["mean"] is None
    # Secondary suppression on the parts: the total would give 2 away, so 1 goes too.
    assert rows[1][MARKER_COLUMN] and rows[1]["mean"] is None
    assert rows[None]["mean"] == _rounded(5_800, 100) / _rounded(39, 5)
    assert result.suppressed_cells == 2


def test_the_average_is_null_where_the_count_rounds_to_zero() -> None:
    cells: list[Cell] = [((1,), 20, 5_000, 20)]
    out = release(aggregate(cells, ["d"]), _with_mean(["d"], count_base=100)).table
    assert out.to_pylist() == [{"d": 1, "mean": None, MARKER_COLUMN: False}]


def test_the_average_stands_where_its_sum_stands_and_its_parts_do_not_leave() -> None:
    table = pa.table(
        {
            "d": ["a"],
            "k": pa.array([40], type=pa.int64()),
            "x__sum": pa.array([1_000], type=pa.int64()),
            "x__count": pa.array([40], type=pa.int64()),
            "t": pa.array([700], type=pa.int64()),
            PERSONS_COLUMN: pa.array([30], type=pa.int64()),
        }
    )
    spec = GateRules(
        sum_base=10,
        row_cap=10,
        dimensions=("d",),
        aggregates=(
            AggregateSpec("k", AggregateKind.COUNT),
            AggregateSpec("x__sum", AggregateKind.SUM),
            AggregateSpec("x__count", AggregateKind.COUNT),
            AggregateSpec("t", AggregateKind.SUM),
        ),
        averages=(AverageSpec("x", "x__sum", "x__count"),),
    )
    out = release(table, spec).table
    assert out.to_pylist() == [{"d": "a", "k": 40, "x": 25.0, "t": 700, MARKER_COLUMN: False}]


@pytest.mark.parametrize(
    "averages",
    [
        (AverageSpec("mean", "missing", "n"),),
        (AverageSpec("mean", "n", "s"),),  # the parts the wrong way round
        (AverageSpec("mean", "s", "n"), AverageSpec("other", "s", "n")),
        (AverageSpec("n", "s", "n"),),  # named like a column
        (AverageSpec(MARKER_COLUMN, "s", "n"),),
    ],
)
def test_averages_that_do_not_hold_together_are_refused(averages: tuple[AverageSpec, ...]) -> None:
    spec = dataclasses.replace(rules(["d"]), averages=averages)
    with pytest.raises(GateRulesInvalid):
        release(aggregate([((1,), 20, 100, 20)], ["d"]), spec)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_an_average_never_releases_what_its_parts_would_not(
    answer: tuple[tuple[str, ...], list[Cell]],
) -> None:
    dims, rows = answer
    table = aggregate(rows, dims)
    parts = release(table, rules(dims, min_persons=MIN)).table.to_pylist()
    result = release(table, _with_mean(dims, min_persons=MIN))
    out = result.table.to_pylist()
    assert result.table.column_names == [*dims, "mean", MARKER_COLUMN]
    assert len(out) == len(parts)
    persons = {tuple(r[0]): r[3] for r in rows}
    for with_mean, alone in zip(out, parts, strict=True):
        assert [with_mean[d] for d in dims] == [alone[d] for d in dims]
        assert with_mean[MARKER_COLUMN] == alone[MARKER_COLUMN]
        if alone[MARKER_COLUMN] or alone["n"] == 0:
            assert with_mean["mean"] is None
        else:
            assert with_mean["mean"] == alone["s"] / alone["n"]
        if with_mean["mean"] is not None:
            p = persons[tuple(with_mean[d] for d in dims)]
            assert p is not None and p >= MIN


# -- rules_for ------------------------------------------------------------------------------
def test_rules_for_maps_an_avg_onto_an_average_of_its_parts() -> None:
    sql = (
        "SELECT gender, COUNT(*) AS n, AVG(total_cents) AS mean"
        " FROM claims_analysis GROUP BY gender"
    )
    view = default_policy().views["claims_analysis"]
    rewritten = query_engine.rewrite(query_engine.parse(sql), view, {})
    spec = rules_for(rewritten, min_persons=12, rounding_base=100, row_cap=50)
    assert spec.dimensions == ("gender",)
    assert spec.aggregates == (
        AggregateSpec("n", AggregateKind.COUNT),
        AggregateSpec("mean__sum", AggregateKind.SUM),
        AggregateSpec("mean__count", AggregateKind.COUNT),
    )
    assert spec.averages == (AverageSpec("mean", "mean__sum", "mean__count"),)
    assert (spec.min_persons, spec.count_base, spec.sum_base, spec.row_cap) == (12, 5, 100, 50)


def _column(name: str, kind: query_engine.OutputKind, item: str = "") -> query_engine.OutputColumn:
    return query_engine.OutputColumn(name=name, kind=kind, item=item or name)


_PERSONS = _column(PERSONS_COLUMN, query_engine.OutputKind.PERSONS)
_SUM, _COUNT = query_engine.OutputKind.SUM, query_engine.OutputKind.COUNT


@pytest.mark.parametrize(
    "columns",
    [
        (),
        (_column("n", _COUNT),),
        (_column("n", _COUNT), _PERSONS, _PERSONS),
        (_column("people", query_engine.OutputKind.PERSONS),),
        (_column("m__sum", _SUM, "m"), _PERSONS),
        (_column("m__count", _COUNT, "m"), _PERSONS),
        (_column("m__sum", _SUM, "m"), _column("m__sum2", _COUNT, "m"), _PERSONS),
        (_column("m__sum", _SUM, "m"), _column("m__sum", _SUM, "m"), _PERSONS),
    ],
)
def test_rules_for_refuses_columns_that_do_not_fit_the_gate(
    columns: tuple[query_engine.OutputColumn, ...],
) -> None:
    rewritten = query_engine.Rewritten(
        sql="SELECT 1", dialect="duckdb", parameters={}, tables=(), columns=columns
    )
    with pytest.raises(GateRulesInvalid):
        rules_for(rewritten, min_persons=11, rounding_base=5, row_cap=10)


# -- end to end -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return synthetic_export(Path(tmp_path_factory.mktemp("gate-average")))


def test_an_avg_template_leaves_the_gate_as_rounded_sum_over_rounded_count(
    export: Export,
) -> None:
    view = default_policy().views["visits_by_type"]
    assert isinstance(view.rule, TemplateRule)
    engine = query_engine.DuckDBEngine()
    limits = query_engine.ExecutionLimits(timeout_seconds=30, memory_bytes=300_000_000)
    released: list[dict[str, object]] = []
    for province in ("110000", "440000", "510000", "320000", "370000"):
        done = query_engine.rewrite_template(view, "average_cost_by_type", {"province": province})
        raw = engine.execute(done.rewritten.request(export.files, limits)).table
        rule = done.rule
        spec = rules_for(
            done.rewritten,
            min_persons=rule.min_persons,
            rounding_base=rule.rounding_base,
            row_cap=rule.row_cap,
        )
        out = release(raw, spec).table
        assert out.column_names == ["visit_type", "persons", "mean_total_cents", MARKER_COLUMN]
        truth = {row["visit_type"]: row for row in raw.to_pylist()}
        assert [row["visit_type"] for row in out.to_pylist()] == sorted(
            view.columns["visit_type"].domain or ()
        )  # the whole grid of the public domain, whatever the data holds
        for row in out.to_pylist():
            source = truth.get(row["visit_type"])
            if source is None:  # no claim of that type: a suppressed cell, like a small one
                assert row[MARKER_COLUMN] and row["persons"] is None
                continue
            if row[MARKER_COLUMN]:
                assert row["mean_total_cents"] is None and row["persons"] is None
                continue
            assert source[PERSONS_COLUMN] >= rule.min_persons
            total = _rounded(source["mean_total_cents__sum"], rule.rounding_base)
            count = _rounded(source["mean_total_cents__count"], 5)
            assert row["mean_total_cents"] == total / count
            released.append(row)
    assert released  # at 300 persons some cells pass the threshold
