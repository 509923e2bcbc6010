"""The transpile stage: a view's SQL, written in DuckDB's dialect, for another engine's.

sqlglot renders most of DuckDB's SQL in Spark's with the same values (`strftime` becomes
`DATE_FORMAT` with the format translated, `substr` `SUBSTRING`, `||`, `CASE`, `upper`,
`current_date`), but a function it does not know it parses as `exp.Anonymous` and writes out
unchanged, under the same name, for any dialect: DuckDB's ``date_sub('year', a, b)`` (the
whole years from ``a`` to ``b``) would reach Spark as ``DATE_SUB('year', a, b)``, which there
subtracts days and takes two arguments. So for a target other than DuckDB:

* each DuckDB function of `_FAITHFUL` is rewritten into an expression the target computes
  to the same value (each such rewrite is checked against DuckDB value by value in
  ``tests/integration/test_spark_engine.py``);
* any other function sqlglot does not know is refused (`EngineFailed`), never passed through
  under a name that may mean something else there (STYLE.md item 10);
* sqlglot's own "unsupported" translations raise instead of being written with a warning.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from query_engine.errors import EngineFailed

__all__ = ["render"]

SOURCE = "duckdb"

# DuckDB's spellings of the year part that `date_sub` takes here (its other aliases -- 'y',
# 'yr', 'yrs' -- and the other parts are refused until a faithful rewrite is written).
_YEAR = frozenset({"year", "years"})


def render(statement: exp.Expr, dialect: str) -> str:
    """``statement`` (parsed as DuckDB's SQL) written in ``dialect``, with the same values.

    Raises `EngineFailed` for a construct that has no faithful rendering there.
    """
    if dialect == SOURCE:
        return statement.sql(dialect=dialect)
    portable = statement.transform(_faithful, copy=True)
    unknown = sorted({node.name.lower() for node in portable.find_all(exp.Anonymous)})
    if unknown:
        raise EngineFailed(f"view SQL: no {dialect} translation of {', '.join(unknown)}")
    try:
        return portable.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
    except SqlglotError:
        raise EngineFailed(f"view SQL: sqlglot cannot render it in {dialect}") from None


def _faithful(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous):
        rewrite = _FAITHFUL.get(node.name.lower())
        if rewrite is not None:
            return rewrite(node)
    return node


def _date_sub(node: exp.Anonymous) -> exp.Expression:
    """DuckDB's ``date_sub('year', start, end)``: the complete years from start to end.

    DuckDB counts complete months -- the age of ``end`` at ``start``, where a ``start`` day
    past the end of ``end``'s month counts as that month's last day -- and divides by 12
    truncating toward zero (``-date_sub(part, end, start)`` when ``end`` is earlier). Spark's
    ``MONTHS_BETWEEN(end, start)`` is whole when the two days are equal or both their months'
    last days, otherwise whole months plus (day difference)/31, so its quotient by 12,
    truncated toward zero by the cast, is the same count of years: the two differ only within
    a year (e.g. Jan 30 to Feb 29 is 1 month in DuckDB, 0.97 in Spark), never across one, for
    the only month pair where a start day exceeds the end month's length is February 29 to a
    February 28, both their months' last days.
    """
    arguments = node.expressions
    if len(arguments) != 3 or not _is_year(arguments[0]):
        raise EngineFailed("view SQL: no faithful translation of this date_sub")
    _, start, end = arguments
    months = exp.MonthsBetween(this=end.copy(), expression=start.copy())
    years = exp.Div(this=months, expression=exp.Literal.number(12))
    return exp.Cast(this=years, to=exp.DataType(this=exp.DataType.Type.BIGINT))


def _is_year(unit: exp.Expression) -> bool:
    return isinstance(unit, exp.Literal) and unit.is_string and unit.this.lower() in _YEAR


_FAITHFUL: dict[str, Callable[[exp.Anonymous], exp.Expression]] = {
    "date_sub": _date_sub,
    "datesub": _date_sub,  # DuckDB's alias
}
