"""A steward's SQL in a policy (a view's, a feature's): one SELECT over plain tables.

Parsed with sqlglot in DuckDB's dialect, the one the views are written in.
"""

from __future__ import annotations

import sqlglot
import sqlglot.errors
from sqlglot import exp

from policies._document import At
from policies.errors import InvalidValueError, UnknownReferenceError

__all__ = ["DIALECT", "select", "sources"]

DIALECT = "duckdb"


def select(sql: str, at: At) -> exp.Select:
    """`sql` parsed: exactly one SELECT, or the `InvalidValueError` at `at`."""
    try:
        statements = sqlglot.parse(sql, read=DIALECT)
    except sqlglot.errors.SqlglotError as exc:
        at.fail(InvalidValueError, f"not valid SQL: {(str(exc).splitlines() or ['error'])[0]}")
    except (RecursionError, ValueError):
        at.fail(InvalidValueError, "not valid SQL")
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        at.fail(InvalidValueError, "must be exactly one SELECT statement")
    return statements[0]


def sources(statement: exp.Select, at: At, allowed: frozenset[str] | None, what: str) -> None:
    """Every table `statement` reads is a plain name: no file path, table function or schema."""
    local = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    for table in statement.find_all(exp.Table):
        name = table.name
        plain = isinstance(table.this, exp.Identifier) and name.isascii() and name.isidentifier()
        if not plain or table.args.get("db") or table.args.get("catalog"):
            at.fail(InvalidValueError, f"reads only plain {what} by name (no files, functions)")
        if allowed is not None and name not in allowed and name not in local:
            at.fail(UnknownReferenceError, f"reads {name!r}, which is not one of the {what}")
