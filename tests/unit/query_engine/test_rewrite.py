"""`rewrite` against a real DuckDB over a real synthetic export (the default `claims_analysis`).

Each expected number comes from a hand-written DuckDB query over the same Parquet files with
the same bounds, never from the rewritten SQL itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest

from policies import AggregationRule, View, default_policy
from query_engine.duckdb import DuckDBEngine
from query_engine.errors import QueryRejected, Reason
from query_engine.interface import PERSONS_COLUMN, ExecutionLimits, OutputKind, ParameterValue
from query_engine.parse import parse
from query_engine.rewrite import rewrite

LIMITS = ExecutionLimits(timeout_seconds=10, memory_bytes=500_000_000)
Files = Mapping[str, tuple[str, ...]]


def _view(*, limit: int | None = None, upper: int | None = None, sql: str | None = None) -> View:
    view = default_policy().views["claims_analysis"]
    rule = view.rule
    assert isinstance(rule, AggregationRule)
    if limit is not None:
        rule = dataclasses.replace(rule, contribution_limit=limit)
    columns = dict(view.columns)
    if upper is not None:
        columns["total_cents"] = dataclasses.replace(columns["total_cents"], upper=upper)
    return View(view.name, sql or view.sql, columns, rule)


def _run(
    files: Files, sql: str, view: View, parameters: Mapping[str, ParameterValue] | None = None
) -> pa.Table:
    rewritten = rewrite(parse(sql), view, parameters or {})
    return DuckDBEngine().execute(rewritten.request(files, LIMITS)).table


def _by_key(table: pa.Table, key: str) -> dict[object, dict[str, object]]:
    return {row[key]: row for row in table.to_pylist()}


def _hand(files: Files, sql: str) -> list[tuple[object, ...]]:
    """A hand-written query over the export; `{claims}` etc. name the Parquet files."""
    paths = {table: f"read_parquet('{paths[0]}')" for table, paths in files.items()}
    return duckdb.connect().sql(sql.format(**paths)).fetchall()


# The view's visit type and the person, per claim, with the view's clipping of total_cents.
_PER_CLAIM = """
    SELECT c.person_id, c.visit_type, c.total_cents AS raw,
           CASE WHEN c.total_cents < 0 THEN 0 WHEN c.total_cents > {upper} THEN {upper}
                ELSE c.total_cents END AS clipped
    FROM {{claims}} AS c JOIN {{persons}} AS p USING (person_id)
    JOIN {{institutions}} AS i USING (institution_id)
"""


def test_counts_and_sums_match_a_hand_written_query(export_files: Files) -> None:
    table = _run(
        export_files,
        "SELECT visit_type, COUNT(*) AS n, COUNT(DISTINCT person_key) AS persons, "
        "SUM(total_cents) AS total FROM claims_analysis GROUP BY visit_type",
        _view(limit=100_000),  # no person reaches it: bounding changes nothing
    )
    expected = _hand(
        export_files,
        "SELECT visit_type, count(*), count(DISTINCT person_id), sum(clipped) "
        f"FROM ({_PER_CLAIM.format(upper=20_000_000)}) GROUP BY visit_type",
    )
    got = _by_key(table, "visit_type")
    assert len(got) == len(expected) > 1
    for visit_type, count, persons, total in expected:
        row = got[visit_type]
        assert (row["n"], row["persons"], row["total"], row[PERSONS_COLUMN]) == (
            count,
            persons,
            total,
            persons,
        )


def test_each_person_contributes_at_most_the_limit_to_each_cell(export_files: Files) -> None:
    limit, upper = 3, 20_000
    table = _run(
        export_files,
        "SELECT visit_type, COUNT(*) AS n, SUM(total_cents) AS total, AVG(total_cents) AS mean"
        " FROM claims_analysis GROUP BY visit_type",
        _view(limit=limit, upper=upper),
    )
    # Per person and cell: at most `limit` rows counted, and the clipped sum kept within what
    # min(rows, limit) rows could add: [k * 0, k * upper], k = least(rows, limit).
    expected = _hand(
        export_files,
        f"SELECT visit_type, sum(least(n, {limit})),"
        f" sum(least(total, least(n, {limit}) * {upper})), sum(total) FROM ("
        f"SELECT person_id, visit_type, count(*) AS n, sum(clipped) AS total "
        f"FROM ({_PER_CLAIM.format(upper=upper)}) GROUP BY ALL) GROUP BY visit_type",
    )
    got = _by_key(table, "visit_type")
    capped = 0
    for visit_type, count, bounded, unbounded in expected:
        assert got[visit_type]["n"] == count
        assert got[visit_type]["total"] == bounded
        assert (got[visit_type]["mean__sum"], got[visit_type]["mean__count"]) == (bounded, count)
        assert isinstance(bounded, int) and isinstance(unbounded, int)
        capped += bounded < unbounded
    assert capped  # the synthetic registry has persons with more than 3 claims of a type


def test_a_heavy_person_is_capped(export_files: Files) -> None:
    [(heavy, claims)] = _hand(
        export_files,
        "SELECT person_id, count(*) AS n FROM {claims} GROUP BY 1 ORDER BY n DESC, 1 LIMIT 1",
    )
    view = default_policy().views["claims_analysis"]
    only_heavy = f"SELECT * FROM ({view.sql}) AS v WHERE v.person_key = {heavy}"
    assert isinstance(claims, int) and claims > 20
    table = _run(
        export_files,
        "SELECT COUNT(*) AS n, SUM(total_cents) AS total FROM claims_analysis",
        _view(sql=only_heavy),
    )
    [row] = table.to_pylist()
    assert row["n"] == 20  # the default policy's contribution_limit, not all of its claims
    assert row[PERSONS_COLUMN] == 1
    assert row["total"] <= 20 * 20_000_000  # at most what 20 clipped rows could add
    # The same data twice gives the same answer (nothing depends on row order).
    again = _run(
        export_files,
        "SELECT COUNT(*) AS n, SUM(total_cents) AS total FROM claims_analysis",
        _view(sql=only_heavy),
    )
    assert again.to_pylist() == [row]


def test_measures_are_clipped_to_their_bounds(export_files: Files) -> None:
    upper = 100_000
    table = _run(
        export_files,
        "SELECT visit_type, SUM(total_cents) AS total, AVG(total_cents) AS mean "
        "FROM claims_analysis GROUP BY visit_type",
        _view(limit=100_000, upper=upper),
    )
    expected = _hand(
        export_files,
        "SELECT visit_type, sum(clipped), count(clipped), sum(raw) "
        f"FROM ({_PER_CLAIM.format(upper=upper)}) GROUP BY visit_type",
    )
    got = _by_key(table, "visit_type")
    assert any(total != raw for _, total, _, raw in expected)  # clipping changed something
    for visit_type, total, count, _ in expected:
        assert got[visit_type]["total"] == total
        assert (got[visit_type]["mean__sum"], got[visit_type]["mean__count"]) == (total, count)


def test_every_aggregate_is_int64_and_avg_is_a_sum_and_a_count(export_files: Files) -> None:
    sql = (
        "SELECT gender, COUNT(*) AS n, COUNT(DISTINCT person_key) AS persons, "
        "SUM(fund_cents) AS fund, AVG(self_cents) AS self FROM claims_analysis GROUP BY gender"
    )
    rewritten = rewrite(parse(sql), _view(), {})
    kinds = {column.name: column.kind for column in rewritten.columns}
    assert kinds == {
        "gender": OutputKind.DIMENSION,
        "n": OutputKind.COUNT,
        "persons": OutputKind.COUNT,
        "fund": OutputKind.SUM,
        "self__sum": OutputKind.SUM,
        "self__count": OutputKind.COUNT,
        PERSONS_COLUMN: OutputKind.PERSONS,
        # the largest one person's part of each summed measure, for the gate's dominance check
        "__top_fund_cents": OutputKind.TOP,
        "__top_self_cents": OutputKind.TOP,
    }
    table = DuckDBEngine().execute(rewritten.request(export_files, LIMITS)).table
    assert table.column_names == list(kinds)
    for name, kind in kinds.items():
        wanted = pa.string() if kind is OutputKind.DIMENSION else pa.int64()
        assert table.schema.field(name).type == wanted
    assert set(rewritten.tables) == {"claims", "persons", "institutions"}


@pytest.mark.parametrize(
    "evil",
    ["x'; DROP TABLE claims; --", "F' OR '1'='1", '"); SELECT 1; --', "' || (SELECT 1) || '"],
)
def test_parameters_and_literals_are_values_never_sql(export_files: Files, evil: str) -> None:
    sql = (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis "
        f"WHERE gender = :g OR visit_type = '{evil.replace(chr(39), chr(39) * 2)}' "
        "GROUP BY gender"
    )
    rewritten = rewrite(parse(sql), _view(), {"g": evil})
    assert evil not in rewritten.sql and "DROP" not in rewritten.sql
    assert set(rewritten.parameters.values()) == {evil}
    table = DuckDBEngine().execute(rewritten.request(export_files, LIMITS)).table
    assert table.num_rows == 0  # no gender and no visit type is that text
    # The tables are still there: the next query over them answers.
    assert _run(export_files, "SELECT COUNT(*) AS n FROM claims_analysis", _view()).num_rows == 1


def test_a_bound_parameter_filters_like_a_literal(export_files: Files) -> None:
    by_param = _run(
        export_files,
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender = :g AND visit_type IN (:a, :b)",
        _view(),
        {"g": "F", "a": "OUTPATIENT", "b": "PHARMACY"},
    )
    by_literal = _run(
        export_files,
        "SELECT COUNT(*) AS n FROM claims_analysis "
        "WHERE gender = 'F' AND visit_type IN ('OUTPATIENT', 'PHARMACY')",
        _view(),
    )
    assert by_param.to_pylist() == by_literal.to_pylist()
    assert by_param.column("n")[0].as_py() > 0


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        ({}, Reason.PARAMETER_MISSING),
        ({"g": "F", "h": "M"}, Reason.PARAMETER_UNKNOWN),
        ({"g": True}, Reason.PARAMETER_INVALID),
        ({"g": 1.5}, Reason.PARAMETER_INVALID),
        ({"g": Decimal("NaN")}, Reason.PARAMETER_INVALID),
        ({"g; drop": "F"}, Reason.PARAMETER_UNKNOWN),
    ],
)
def test_parameters_are_checked(parameters: dict[str, object], reason: Reason) -> None:
    query = parse("SELECT COUNT(*) AS n FROM claims_analysis WHERE gender = :g")
    with pytest.raises(QueryRejected) as raised:
        rewrite(query, _view(), parameters)  # type: ignore[arg-type]
    assert raised.value.reason is reason


def test_an_unvalidated_query_is_never_rewritten() -> None:
    query = parse("SELECT COUNT(*) AS n FROM claims_analysis WHERE person_key = 1")
    with pytest.raises(QueryRejected) as raised:
        rewrite(query, _view(), {})
    assert raised.value.reason is Reason.COLUMN_HIDDEN


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT COUNT(*) AS __persons FROM claims_analysis",
        "SELECT SUM(total_cents) AS m__sum, AVG(total_cents) AS m FROM claims_analysis",
    ],
)
def test_output_names_the_rewrite_needs_are_refused(sql: str) -> None:
    with pytest.raises(QueryRejected) as raised:
        rewrite(parse(sql), _view(), {})
    assert raised.value.reason is Reason.OUTPUT_NAME_AMBIGUOUS


def test_order_by_an_average_and_the_group_keys(export_files: Files) -> None:
    table = _run(
        export_files,
        "SELECT visit_type, AVG(total_cents) AS mean FROM claims_analysis "
        "GROUP BY visit_type ORDER BY mean DESC",
        _view(),
    )
    means = [row["mean__sum"] / row["mean__count"] for row in table.to_pylist()]
    assert means == sorted(means, reverse=True)


def test_spark_dialect_renders_the_same_shape() -> None:
    sql = (
        "SELECT gender, SUM(total_cents) AS t FROM claims_analysis WHERE gender = :g "
        "GROUP BY gender"
    )
    rewritten = rewrite(parse(sql), _view(), {"g": "F"}, dialect="spark")
    assert rewritten.dialect == "spark"
    assert "LEAST(" in rewritten.sql and "GROUP BY `gender`, `person_key`" in rewritten.sql
    assert ":p_g" in rewritten.sql


@pytest.mark.parametrize(
    ("sql", "parameters"),
    [
        ("SELECT COUNT(*) AS n FROM claims_analysis WHERE province = 110000", {}),
        ("SELECT COUNT(*) AS n FROM claims_analysis WHERE province IN ('110000', :p)", {"p": 1}),
        ("SELECT COUNT(*) AS n FROM claims_analysis WHERE gender = :g", {"g": Decimal("1.5")}),
    ],
)
def test_a_number_against_a_dimension_is_refused(
    sql: str, parameters: Mapping[str, ParameterValue]
) -> None:
    with pytest.raises(QueryRejected) as raised:
        rewrite(parse(sql), _view(), parameters)
    assert raised.value.reason is Reason.VALUE_TYPE_MISMATCH
    assert raised.value.construct in {"province", "gender"}
