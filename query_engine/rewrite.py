"""`rewrite`: a validated `Query` over its analysis view to SQL an engine runs (issue 10).

The SQL is built as a sqlglot tree and rendered in the engine's dialect (the view's SQL,
written in DuckDB's, is transpiled with it); no text of the partner's is ever spliced in:
identifiers are the policy's column names, and every literal and parameter of the query is a
named placeholder whose value is bound at execution. The shape::

    WITH "__view" AS (<the view's SQL>),
    "__clipped" AS (                       -- the query's WHERE; measures clipped to bounds
      SELECT <group keys>, <person key>, CAST(CASE WHEN m < lo THEN lo WHEN m > hi THEN hi
             ELSE m END AS BIGINT) AS m, ...
      FROM "__view" WHERE <predicate over $placeholders>),
    "__bounded" AS (                       -- one row per person and cell
      SELECT <group keys>, <person key>, COUNT(*) AS "__rows", SUM(m) AS m,
             COUNT(m) AS "__n_m", ...
      FROM "__clipped" GROUP BY <group keys>, <person key>)
    SELECT <dimensions>,
           SUM(LEAST("__rows", L)) (COUNT(*)), COUNT(*) (COUNT(DISTINCT person)),
           SUM(LEAST(GREATEST(m, n*lo), n*hi)) (SUM(m); n = LEAST("__n_m", L)),
           SUM(n) (AVG's count), ..., COUNT(*) AS "__persons"
    FROM "__bounded" GROUP BY <group keys> ORDER BY <the query's order>, <group keys>

Contribution bounding (L = the rule's `contribution_limit`): in each cell a person adds at
most L to every count, and to every sum at most what L of its rows could add (each row
clipped to [lo, hi] first, then the person's sum kept within [n*lo, n*hi], n = min(rows, L)).
That is exactly the bound L rows per person would give -- the sensitivity differential
privacy will take -- without choosing which rows to drop: a person with no more than L rows
in a cell counts in full, the answer does not depend on row order, and the engine needs two
hash aggregations instead of a window sorted by person (3.5x the bare aggregate at 10M
claims, against about 1x). `AVG` becomes a SUM and a COUNT of the bounded values (integers
only; the quotient is taken after the gate). Pure: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from policies import AggregationRule, Column, ColumnRole, View
from query_engine._transpile import render
from query_engine.errors import EngineFailed, QueryRejected, Reason
from query_engine.interface import (
    PERSONS_COLUMN,
    OutputColumn,
    OutputKind,
    ParameterValue,
    Rewritten,
)
from query_engine.parse import normalise_identifier
from query_engine.query import (
    Aggregate,
    AggregateFunction,
    And,
    Between,
    Comparison,
    ComparisonOp,
    Dimension,
    InList,
    Not,
    Or,
    Param,
    Predicate,
    Query,
    Value,
)
from query_engine.validate import check

__all__ = ["rewrite"]

_VIEW = "__view"
_CLIPPED = "__clipped"
_BOUNDED = "__bounded"
_ROWS = "__rows"
_KEPT = "__kept"
_CELL = "__cell"
_TOP_PREFIX = "__top_"
_RESERVED_PREFIX = "__"

_COMPARISONS: dict[ComparisonOp, type[exp.Expression]] = {
    ComparisonOp.EQ: exp.EQ,
    ComparisonOp.NE: exp.NEQ,
    ComparisonOp.LT: exp.LT,
    ComparisonOp.LE: exp.LTE,
    ComparisonOp.GT: exp.GT,
    ComparisonOp.GE: exp.GTE,
}


def rewrite(
    query: Query,
    view: View,
    parameters: Mapping[str, ParameterValue],
    *,
    dialect: str = "duckdb",
    cells_per_person: int | None = None,
) -> Rewritten:
    """Rewrite `query` over `view`, with `parameters` bound by name, for `dialect`.

    `cells_per_person` (differential privacy) keeps, of each person's cells, at most that
    many: those whose keys hash lowest (md5 of the person's key and the cell's keys, so a
    person's choice depends on their own rows alone, differs from person to person, and
    every engine makes the same one); None keeps all.

    The query is validated again first (`check`), so nothing unvalidated is ever rewritten:
    a rejection raises `QueryRejected`, as does a missing, unknown or ill-typed parameter
    (`PARAMETER_*`), a number compared with a dimension or text with a measure
    (`VALUE_TYPE_MISMATCH`), or an output name the rewriting needs for itself.
    """
    rule = check(query, view)
    bound = _bind(query, parameters)
    if cells_per_person is not None and cells_per_person < 1:
        raise ValueError("cells_per_person must be at least 1")
    try:
        return _Rewriter(query, view, rule, bound, cells_per_person).build(dialect)
    except RecursionError:
        raise QueryRejected(Reason.QUERY_TOO_COMPLEX) from None


def _bind(query: Query, parameters: Mapping[str, ParameterValue]) -> dict[str, ParameterValue]:
    values: dict[str, ParameterValue] = {}
    for raw, value in parameters.items():
        try:
            name = normalise_identifier(raw)
        except QueryRejected:
            raise QueryRejected(Reason.PARAMETER_UNKNOWN, "parameter name") from None
        if name not in query.parameters or name in values:
            raise QueryRejected(Reason.PARAMETER_UNKNOWN, name)
        valid = isinstance(value, str | Decimal) or type(value) is int
        if not valid or (isinstance(value, Decimal) and not value.is_finite()):
            raise QueryRejected(Reason.PARAMETER_INVALID, name)
        if isinstance(value, str) and not _is_utf8(value):  # e.g. a lone surrogate
            raise QueryRejected(Reason.PARAMETER_INVALID, name)
        values[name] = value
    for name in query.parameters:
        if name not in values:
            raise QueryRejected(Reason.PARAMETER_MISSING, name)
    return values


@functools.lru_cache(maxsize=128)
def _transpiled_view(sql: str, dialect: str) -> tuple[str, tuple[str, ...]]:
    """A view's SQL (DuckDB's dialect) rendered in `dialect` with the same values (the
    transpile stage, `query_engine._transpile`), and the zone tables it reads.

    Cached by text: parsing and rendering a view costs milliseconds, and a view's text is
    the same for every query of a policy version.
    """
    try:
        statement = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError:
        raise EngineFailed("view SQL does not parse") from None
    if not isinstance(statement, exp.Select):  # the policy loader allows only a SELECT
        raise EngineFailed("view SQL is not a SELECT")
    local = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    tables = dict.fromkeys(t.name for t in statement.find_all(exp.Table) if t.name not in local)
    return render(statement, dialect), tuple(tables)


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str) -> exp.Column:
    return exp.Column(this=_ident(name))


def _alias(expression: exp.Expression, name: str) -> exp.Alias:
    return exp.Alias(this=expression, alias=_ident(name))


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bigint(expression: exp.Expression) -> exp.Expression:
    return exp.Cast(this=expression, to=exp.DataType(this=exp.DataType.Type.BIGINT))


def _least(first: exp.Expression, second: exp.Expression) -> exp.Expression:
    # Neither side is ever NULL here (counts; sums of the non-empty groups of a GROUP BY):
    # plain LEAST, without the NULL-propagating CASE sqlglot would otherwise write.
    return exp.Least(this=first, expressions=[second], ignore_nulls=True)


def _greatest(first: exp.Expression, second: exp.Expression) -> exp.Expression:
    return exp.Greatest(this=first, expressions=[second], ignore_nulls=True)


def _rows_of(measure: str) -> str:
    """The column of a person's counted rows of ``measure`` in the bounded CTE."""
    return f"__n_{measure}"


def _number(value: int) -> exp.Expression:
    literal = exp.Literal.number(abs(value))
    return exp.Neg(this=literal) if value < 0 else literal


class _Rewriter:
    def __init__(
        self,
        query: Query,
        view: View,
        rule: AggregationRule,
        bound: dict[str, ParameterValue],
        cells_per_person: int | None = None,
    ) -> None:
        self._cells = cells_per_person
        self._query = query
        self._view = view
        self._rule = rule
        # The policy's spelling of each column, by the normalised name the query uses.
        self._columns: dict[str, Column] = {name.lower(): c for name, c in view.columns.items()}
        self._values: dict[str, ParameterValue] = {}
        self._bound = bound
        person = view.person_key
        if person is None:
            raise EngineFailed("view without a person key")
        self._person = person

    def _name(self, column: str) -> str:
        return self._columns[column].name

    def _placeholder(self, column: str, value: Value) -> exp.Placeholder:
        # Partner parameters are `p_<name>`, literals `v<n>`: the prefixes keep them apart.
        if isinstance(value, Param):
            name = f"p_{value.name}"
            bound = self._bound[value.name]
        else:
            name = f"v{len(self._values)}"  # unique: the mapping only grows
            bound = value.value
        # Dimensions hold text (their domains are strings), measures integers: a value of the
        # other kind would make the engine cast every row and fail on the first that does not
        # convert, an engine error where the partner's request is what is wrong.
        role = self._columns[column].role
        text = isinstance(bound, str)
        if (role is ColumnRole.DIMENSION) is not text:
            raise QueryRejected(Reason.VALUE_TYPE_MISMATCH, self._name(column))
        self._values[name] = bound
        return exp.Placeholder(this=name)

    def _predicate(self, node: Predicate) -> exp.Expression:
        match node:
            case Comparison(column=column, op=op, value=value):
                kind = _COMPARISONS[op]
                return kind(
                    this=_col(self._name(column)), expression=self._placeholder(column, value)
                )
            case InList(column=column, values=values):
                return exp.In(
                    this=_col(self._name(column)),
                    expressions=[self._placeholder(column, v) for v in values],
                )
            case Between(column=column, low=low, high=high):
                return exp.Between(
                    this=_col(self._name(column)),
                    low=self._placeholder(column, low),
                    high=self._placeholder(column, high),
                )
            case And(operands=operands):
                return exp.Paren(this=exp.and_(*(self._predicate(o) for o in operands)))
            case Or(operands=operands):
                return exp.Paren(this=exp.or_(*(self._predicate(o) for o in operands)))
            case Not(operand=operand):
                return exp.Not(this=exp.Paren(this=self._predicate(operand)))
        raise EngineFailed("unknown predicate node")  # an unknown node is a bug (STYLE item 10)

    def _clip(self, measure: str) -> exp.Expression:
        column = self._columns[measure]
        if column.lower is None or column.upper is None:
            raise EngineFailed("measure without clip bounds")
        value = _col(column.name)
        clipped = exp.Case(
            ifs=[
                exp.If(
                    this=exp.LT(this=value.copy(), expression=_number(column.lower)),
                    true=_number(column.lower),
                ),
                exp.If(
                    this=exp.GT(this=value.copy(), expression=_number(column.upper)),
                    true=_number(column.upper),
                ),
            ],
            default=value,
        )
        # ROUND first: a measure the view computes as a fraction becomes the same integer on
        # every engine (a bare CAST rounds on DuckDB and truncates on Spark)
        rounded = exp.Round(this=clipped)
        return exp.Cast(this=rounded, to=exp.DataType(this=exp.DataType.Type.BIGINT))

    def build(self, dialect: str) -> Rewritten:
        query = self._query
        keys = [self._name(key) for key in dict.fromkeys(query.group_by)]
        measures = [
            self._name(item.column)
            for item in dict.fromkeys(query.select)
            if isinstance(item, Aggregate)
            and item.column is not None
            and item.function in (AggregateFunction.SUM, AggregateFunction.AVG)
        ]
        measures = list(dict.fromkeys(measures))
        view_sql, tables = _transpiled_view(self._view.sql, dialect)

        clipped = exp.select(
            *(_col(key) for key in keys),
            _col(self._person),
            *(_alias(self._clip(m.lower()), m) for m in measures),
        ).from_(exp.to_table(_VIEW, quoted=True), copy=False)
        if query.where is not None:
            clipped = clipped.where(self._predicate(query.where), copy=False)

        bounded = exp.select(
            *(_col(key) for key in keys),
            _col(self._person),
            *self._bounded(measures),
        ).from_(exp.to_table(_CLIPPED, quoted=True), copy=False)
        bounded = bounded.group_by(*(_col(key) for key in keys), _col(self._person), copy=False)

        projections, columns = self._projections()
        source = _BOUNDED
        if self._cells is not None and keys:
            source = _KEPT  # at most `cells_per_person` cells of each person
        final = exp.select(*projections).from_(exp.to_table(source, quoted=True), copy=False)
        if keys:
            final = final.group_by(*(_col(key) for key in keys), copy=False)
        ordering = [*self._order(columns), *(exp.Ordered(this=_col(key)) for key in keys)]
        if ordering:
            final = final.order_by(*ordering, copy=False)
        # The view's body is the steward's SQL as sqlglot rendered it for this dialect (cached
        # per view), never text of the partner's; it goes in as a verbatim node.
        final = final.with_(_ident(_VIEW), as_=exp.Var(this=view_sql), copy=False)
        final = final.with_(_ident(_CLIPPED), as_=clipped, copy=False)
        final = final.with_(_ident(_BOUNDED), as_=bounded, copy=False)
        if source == _KEPT:
            final = final.with_(_ident(_KEPT), as_=self._kept_cells(keys), copy=False)
        return Rewritten(
            sql=final.sql(dialect=dialect, copy=False),  # a tree built for this call alone
            dialect=dialect,
            parameters=MappingProxyType(dict(self._values)),
            tables=tables,
            columns=columns,
            cells_per_person=self._cells,
        )

    def _kept_cells(self, keys: list[str]) -> exp.Select:
        """Each person's bounded rows in at most ``cells_per_person`` cells: numbered per
        person by the md5 of the person's key and the cell's keys (then the keys), the first
        ones kept."""
        assert self._cells is not None
        text = exp.DataType(this=exp.DataType.Type.VARCHAR)
        parts: list[exp.Expression] = [
            exp.Coalesce(
                this=exp.Cast(this=_col(k), to=text.copy()), expressions=[exp.Literal.string("")]
            )
            for k in keys
        ]
        # The person's own key first: each person's choice of cells is their own (a hash of
        # the keys alone would make every person in a group keep the same cell, biasing the
        # answer towards it), and still depends on their rows alone.
        person = exp.Cast(this=_col(self._person), to=text.copy())
        joined: exp.Expression = exp.Coalesce(this=person, expressions=[exp.Literal.string("")])
        for part in parts:
            joined = exp.DPipe(
                this=exp.DPipe(this=joined, expression=exp.Literal.string("|")), expression=part
            )
        order = [exp.Ordered(this=exp.MD5(this=joined)), *(exp.Ordered(this=_col(k)) for k in keys)]
        window = exp.Window(
            this=exp.RowNumber(),
            partition_by=[_col(self._person)],
            order=exp.Order(expressions=order),
        )
        ranked = exp.select(exp.Star(), _alias(window, _CELL)).from_(
            exp.to_table(_BOUNDED, quoted=True), copy=False
        )
        return (
            exp.select(exp.Star())
            .from_(exp.Subquery(this=ranked, alias=exp.TableAlias(this=_ident("__r"))), copy=False)
            .where(exp.LTE(this=_col(_CELL), expression=_number(self._cells)), copy=False)
        )

    def _projections(self) -> tuple[list[exp.Expression], tuple[OutputColumn, ...]]:
        projections: list[exp.Expression] = []
        columns: list[OutputColumn] = []

        def add(
            expression: exp.Expression,
            name: str,
            kind: OutputKind,
            item: str,
            *,
            domain: tuple[str, ...] | None = None,
            measure: str | None = None,
            per_person: int | None = None,
            distinct_persons: bool = False,
        ) -> None:
            projections.append(_alias(expression, name))
            columns.append(
                OutputColumn(
                    name=name,
                    kind=kind,
                    item=item,
                    domain=domain,
                    measure=measure,
                    per_person=per_person,
                    distinct_persons=distinct_persons,
                )
            )

        limit = self._rule.contribution_limit

        for item in self._query.select:
            out = item.output_name
            if out.startswith(_RESERVED_PREFIX):
                raise QueryRejected(Reason.OUTPUT_NAME_AMBIGUOUS, out)
            if isinstance(item, Dimension):
                column = self._columns[item.column]
                add(_col(column.name), out, OutputKind.DIMENSION, out, domain=column.domain)
                continue
            match item.function:
                case AggregateFunction.COUNT_STAR:
                    rows = _least(_col(_ROWS), _number(self._rule.contribution_limit))
                    add(_bigint(exp.Sum(this=rows)), out, OutputKind.COUNT, out, per_person=limit)
                case AggregateFunction.COUNT_DISTINCT_PERSON:  # one bounded row per person
                    count = exp.Count(this=exp.Star())
                    add(count, out, OutputKind.COUNT, out, per_person=1, distinct_persons=True)
                case AggregateFunction.SUM:
                    assert item.column is not None
                    measure = self._name(item.column)
                    bound = limit * self._magnitude(item.column)
                    add(
                        self._sum(item.column),
                        out,
                        OutputKind.SUM,
                        out,
                        measure=measure,
                        per_person=bound,
                    )
                case AggregateFunction.AVG:
                    assert item.column is not None
                    measure = self._name(item.column)
                    parts = f"{out}__sum"
                    bound = limit * self._magnitude(item.column)
                    add(
                        self._sum(item.column),
                        parts,
                        OutputKind.SUM,
                        out,
                        measure=measure,
                        per_person=bound,
                    )
                    counted = _bigint(exp.Sum(this=self._capped(item.column)))
                    add(counted, f"{out}__count", OutputKind.COUNT, out, per_person=limit)
        persons = exp.Count(this=exp.Star())  # the bounded rows are one per person and cell
        add(persons, PERSONS_COLUMN, OutputKind.PERSONS, PERSONS_COLUMN, per_person=1)
        summed = [c.measure for c in columns if c.kind is OutputKind.SUM and c.measure]
        for measure in dict.fromkeys(summed):  # the largest one person's part of each sum
            top = _bigint(exp.Max(this=self._kept(measure.lower())))
            add(top, f"{_TOP_PREFIX}{measure}", OutputKind.TOP, measure, measure=measure)
        names = [column.name for column in columns]
        for name in names:
            if names.count(name) > 1:
                raise QueryRejected(Reason.OUTPUT_NAME_AMBIGUOUS, name)
        return projections, tuple(columns)

    def _magnitude(self, column: str) -> int:
        """The most one clipped row of ``column`` adds to or takes from a sum."""
        spec = self._columns[column]
        if spec.lower is None or spec.upper is None:
            raise EngineFailed("measure without clip bounds")
        return max(abs(spec.lower), abs(spec.upper), 1)

    def _bounded(self, measures: list[str]) -> list[exp.Expression]:
        """A person's rows in a cell: how many, and each measure's clipped sum and count."""
        out: list[exp.Expression] = [_alias(exp.Count(this=exp.Star()), _ROWS)]
        for name in measures:
            out.append(_alias(exp.Sum(this=_col(name)), name))
            out.append(_alias(exp.Count(this=_col(name)), _rows_of(name)))
        return out

    def _capped(self, column: str) -> exp.Expression:
        """n = min(the person's rows of ``column``, L): what the person may count."""
        limit = _number(self._rule.contribution_limit)
        return _least(_col(_rows_of(self._name(column))), limit)

    def _kept(self, column: str) -> exp.Expression:
        """A person's sum of ``column`` kept within [n*lo, n*hi] (n: :meth:`_capped`)."""
        spec = self._columns[column]
        assert spec.lower is not None and spec.upper is not None  # checked by _clip
        low = exp.Mul(this=self._capped(column), expression=_number(spec.lower))
        high = exp.Mul(this=self._capped(column), expression=_number(spec.upper))
        return _least(_greatest(_col(self._name(column)), low), high)

    def _sum(self, column: str) -> exp.Expression:
        """The cell's sum of each person's kept sum (:meth:`_kept`)."""
        return _bigint(exp.Sum(this=self._kept(column)))

    def _order(self, columns: tuple[OutputColumn, ...]) -> list[exp.Ordered]:
        ordered: list[exp.Ordered] = []
        for item in self._query.order_by:
            parts = [column.name for column in columns if column.item == item.name]
            if len(parts) == 1:
                key: exp.Expression = _col(parts[0])
            else:  # an AVG: its SUM over its COUNT, for ordering only (never an output)
                # NULLIF: a cell with no value of the measure has no average (null, ordered
                # as nulls are), the same on every engine -- DuckDB's 0/0 is NaN, Spark's
                # (ANSI mode) an error.
                count = exp.Nullif(this=_col(parts[1]), expression=_number(0))
                key = exp.Div(this=_col(parts[0]), expression=count)
            ordered.append(exp.Ordered(this=key, desc=item.descending))
        return ordered
