"""The transpile stage: the view's DuckDB SQL in another dialect, or a refusal -- never a
function passed through under a name that means something else there. (That the renderings
compute the same values is held on real Spark: tests/integration/test_spark_engine.py.)"""

from __future__ import annotations

import pytest
import sqlglot

from policies import default_policy
from query_engine import EngineFailed, parse, rewrite
from query_engine._transpile import render


def _render(sql: str, dialect: str) -> str:
    return render(sqlglot.parse_one(sql, read="duckdb"), dialect)


def test_duckdb_is_rendered_as_sqlglot_writes_it() -> None:
    sql = "SELECT date_sub('year', a, b) AS y, strftime(d, '%Y-%m') AS m FROM t"
    assert _render(sql, "duckdb") == sqlglot.transpile(sql, read="duckdb", write="duckdb")[0]


def test_date_sub_in_years_becomes_months_between_over_twelve() -> None:
    rendered = _render("SELECT date_sub('year', p.birth, c.visit) AS age FROM t", "spark")
    assert rendered == "SELECT CAST(MONTHS_BETWEEN(c.visit, p.birth) / 12 AS BIGINT) AS age FROM t"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT date_sub('month', a, b) FROM t",  # Spark's month count differs at month ends
        "SELECT date_sub('y', a, b) FROM t",
        "SELECT date_sub(a, b) FROM t",
        "SELECT date_sub(unit, a, b) FROM t",
        "SELECT my_macro(a) FROM t",  # a function sqlglot does not know
    ],
)
def test_what_has_no_faithful_rendering_is_refused(sql: str) -> None:
    with pytest.raises(EngineFailed):
        _render(sql, "spark")


def test_the_default_views_render_for_spark_without_duckdb_only_functions() -> None:
    for view in default_policy().views.values():
        rendered = _render(view.sql, "spark")
        assert "DATE_SUB" not in rendered.upper()
        assert "STRFTIME" not in rendered.upper()


def test_rewrite_for_spark_orders_an_average_without_dividing_by_zero() -> None:
    view = default_policy().views["claims_analysis"]
    sql = (
        "SELECT visit_type, AVG(total_cents) AS mean FROM claims_analysis "
        "GROUP BY visit_type ORDER BY mean DESC"
    )
    for dialect in ("duckdb", "spark"):
        rewritten = rewrite(parse(sql), view, {}, dialect=dialect)
        assert "/ NULLIF(" in rewritten.sql
