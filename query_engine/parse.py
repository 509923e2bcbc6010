"""`parse`: partner SQL text to a `Query`, with sqlglot (DuckDB dialect), by an allow-list walk.

Every sqlglot node is converted by a function that knows its kind and checks that the node
carries no argument it does not handle; any other kind is `CONSTRUCT_NOT_ALLOWED(<kind>)`.
So a construct sqlglot learns tomorrow is refused, never passed through (STYLE.md item 10).
Messages name the construct only, never a literal of the query.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from query_engine.errors import QueryRejected, Reason
from query_engine.query import (
    Aggregate,
    AggregateFunction,
    And,
    Between,
    Comparison,
    ComparisonOp,
    Dimension,
    InList,
    Literal,
    Not,
    Or,
    OrderItem,
    Param,
    Predicate,
    Query,
    SelectItem,
    Value,
)

__all__ = ["DEFAULT_MAX_BYTES", "normalise_identifier", "parse"]

DEFAULT_MAX_BYTES = 100_000
_DIALECT = Dialect.get_or_raise("duckdb")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*\Z")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")
_MAX_DIGITS = 38

# Names for the kinds a partner is most likely to try; any other kind is named by sqlglot's key.
_CONSTRUCT_NAMES: dict[type[exp.Expression], str] = {
    exp.Subquery: "subquery",
    exp.With: "cte",
    exp.CTE: "cte",
    exp.Union: "set operation",
    exp.Intersect: "set operation",
    exp.Except: "set operation",
    exp.Join: "join",
    exp.Window: "window",
    exp.Distinct: "distinct",
    exp.Having: "having",
    exp.Limit: "limit",
    exp.Offset: "offset",
    exp.Case: "case",
    exp.If: "case",
    exp.Star: "star",
    exp.Anonymous: "function",
    exp.Qualify: "qualify",
    exp.Cast: "cast",
}

_COMPARISONS: dict[type[exp.Expression], ComparisonOp] = {
    exp.EQ: ComparisonOp.EQ,
    exp.NEQ: ComparisonOp.NE,
    exp.LT: ComparisonOp.LT,
    exp.LTE: ComparisonOp.LE,
    exp.GT: ComparisonOp.GT,
    exp.GTE: ComparisonOp.GE,
}


def _construct(node: exp.Expression) -> str:
    for kind, name in _CONSTRUCT_NAMES.items():
        if isinstance(node, kind):
            return name
    if isinstance(node, exp.Func):
        return "table function" if isinstance(node.parent, exp.Table) else "function"
    return str(node.key)


def _refuse(node: exp.Expression) -> QueryRejected:
    return QueryRejected(Reason.CONSTRUCT_NOT_ALLOWED, _construct(node))


def _only(node: exp.Expression, allowed: Iterable[str]) -> None:
    """Refuse `node` if it carries any argument outside `allowed` (the allow-list per kind)."""
    extra = {key for key, value in node.args.items() if value} - set(allowed)
    if extra:
        child = node.args[sorted(extra)[0]]
        if isinstance(child, list):
            child = child[0]
        if isinstance(child, exp.Expression):
            raise _refuse(child)
        raise QueryRejected(Reason.CONSTRUCT_NOT_ALLOWED, f"{node.key} {sorted(extra)[0]}")


def normalise_identifier(raw: str) -> str:
    """An identifier as compared everywhere: NFKC, then lower case; refused unless plain ASCII.

    Look-alike letters (a Cyrillic `р` in `person_id`) survive NFKC as non-ASCII and are
    refused; full-width forms fold to ASCII and are then compared like any other spelling.
    """
    name = unicodedata.normalize("NFKC", raw)
    if not name.isascii():
        raise QueryRejected(Reason.IDENTIFIER_NOT_ALLOWED, "non-ASCII identifier")
    name = name.lower()
    if not _IDENTIFIER.match(name):
        raise QueryRejected(Reason.IDENTIFIER_NOT_ALLOWED, "identifier")
    return name


def parse(sql: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Query:
    """Parse one restricted `SELECT`; raise `QueryRejected` for anything else."""
    try:
        # Strict: a lone surrogate (text decoded with `surrogateescape` from bytes that were
        # not UTF-8) is no character, and DuckDB would fail on it only once the query runs.
        size = len(sql.encode("utf-8"))
    except UnicodeEncodeError:
        raise QueryRejected(Reason.PARSE_ERROR, "text not UTF-8") from None
    if size > max_bytes:
        raise QueryRejected(Reason.QUERY_TOO_LARGE, f"over {max_bytes} bytes")
    _statement_count(sql)
    try:
        statements = sqlglot.parse(sql, read="duckdb")
    except SqlglotError:
        raise QueryRejected(Reason.PARSE_ERROR) from None
    except RecursionError:
        raise QueryRejected(Reason.QUERY_TOO_COMPLEX) from None
    # A statement of nothing but a comment is an `exp.Semicolon` (or None): it carries no code.
    present = [s for s in statements if s is not None and not isinstance(s, exp.Semicolon)]
    if len(present) != 1:
        raise QueryRejected(Reason.NOT_ONE_STATEMENT, f"{len(present)} statements")
    statement = present[0]
    if isinstance(statement, exp.SetOperation):
        raise QueryRejected(Reason.CONSTRUCT_NOT_ALLOWED, "set operation")
    if isinstance(statement, exp.Subquery):
        raise QueryRejected(Reason.CONSTRUCT_NOT_ALLOWED, "subquery")
    if not isinstance(statement, exp.Select):
        raise QueryRejected(Reason.NOT_A_SELECT, str(statement.key))
    try:
        return _select(statement)
    except RecursionError:
        raise QueryRejected(Reason.QUERY_TOO_COMPLEX) from None


def _statement_count(sql: str) -> None:
    """Refuse several statements, or one that is not a query, from the tokens alone.

    This runs before the parser so that a statement sqlglot cannot parse (`EXPORT DATABASE`,
    or anything after a `;`, even on the line after a comment) is named for what it is rather
    than a parse error. Comments are not tokens, so a statement behind one is still counted.
    """
    try:
        tokens = _DIALECT.tokenize(sql)
    except SqlglotError:
        raise QueryRejected(Reason.PARSE_ERROR) from None
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type is TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    present = [statement for statement in statements if statement]
    if len(present) != 1:
        raise QueryRejected(Reason.NOT_ONE_STATEMENT, f"{len(present)} statements")
    first = present[0][0].token_type
    if first not in (TokenType.SELECT, TokenType.WITH, TokenType.FROM, TokenType.L_PAREN):
        raise QueryRejected(Reason.NOT_A_SELECT, "statement")


def _select(node: exp.Select) -> Query:
    _only(node, ("expressions", "from", "from_", "where", "group", "order"))
    from_ = node.args.get("from") or node.args.get("from_")
    if not isinstance(from_, exp.From):
        raise QueryRejected(Reason.CONSTRUCT_NOT_ALLOWED, "select without from")
    view = _table(from_)
    select = tuple(_select_item(item) for item in node.expressions)
    where: Predicate | None = None
    if (clause := node.args.get("where")) is not None:
        _only(clause, ("this",))
        where = _predicate(clause.this)
    group_by: tuple[str, ...] = ()
    if (group := node.args.get("group")) is not None:
        _only(group, ("expressions",))
        group_by = tuple(_column(key) for key in group.expressions)
    order_by: tuple[OrderItem, ...] = ()
    if (order := node.args.get("order")) is not None:
        _only(order, ("expressions",))
        order_by = tuple(_order_item(item, select) for item in order.expressions)
    return Query(
        view=view,
        select=select,
        where=where,
        group_by=group_by,
        order_by=order_by,
        parameters=_parameters(where),
    )


def _table(from_: exp.From) -> str:
    _only(from_, ("this",))
    table = from_.this
    if not isinstance(table, exp.Table):
        raise _refuse(table)
    if not isinstance(table.this, exp.Identifier):
        raise QueryRejected(Reason.CONSTRUCT_NOT_ALLOWED, "table function")
    if table.args.get("db") or table.args.get("catalog"):
        raise QueryRejected(Reason.CONSTRUCT_NOT_ALLOWED, "qualified name")
    _only(table, ("this",))
    return _identifier(table.this)


def _identifier(node: exp.Expression) -> str:
    if type(node) is not exp.Identifier:
        raise _refuse(node)
    _only(node, ("this", "quoted"))
    return normalise_identifier(str(node.this))


def _column(node: exp.Expression) -> str:
    """A bare column name (quoted or not); `t.col`, `*` and every expression are refused."""
    if type(node) is not exp.Column:
        raise _refuse(node)
    if node.args.get("table") or node.args.get("db") or node.args.get("catalog"):
        raise QueryRejected(Reason.CONSTRUCT_NOT_ALLOWED, "qualified name")
    _only(node, ("this",))
    if isinstance(node.this, exp.Star):
        raise QueryRejected(Reason.CONSTRUCT_NOT_ALLOWED, "star")
    return _identifier(node.this)


def _select_item(node: exp.Expression) -> SelectItem:
    alias: str | None = None
    if type(node) is exp.Alias:
        _only(node, ("this", "alias"))
        alias = _identifier(node.args["alias"])
        node = node.this
    if isinstance(node, exp.Star):
        raise QueryRejected(Reason.CONSTRUCT_NOT_ALLOWED, "star")
    if type(node) is exp.Column:
        return Dimension(_column(node), alias)
    return _aggregate(node, alias)


def _aggregate(node: exp.Expression, alias: str | None) -> Aggregate:
    if type(node) is exp.Count:
        _only(node, ("this", "big_int"))
        argument = node.this
        if isinstance(argument, exp.Star):
            _only(argument, ())
            return Aggregate(AggregateFunction.COUNT_STAR, None, alias)
        if type(argument) is exp.Distinct:
            _only(argument, ("expressions",))
            if len(argument.expressions) != 1:
                raise QueryRejected(Reason.AGGREGATE_NOT_ALLOWED, "COUNT(DISTINCT several)")
            column = _column(argument.expressions[0])
            return Aggregate(AggregateFunction.COUNT_DISTINCT_PERSON, column, alias)
        raise QueryRejected(Reason.AGGREGATE_NOT_ALLOWED, "COUNT(column)")
    if type(node) in (exp.Sum, exp.Avg):
        _only(node, ("this",))
        function = AggregateFunction.SUM if type(node) is exp.Sum else AggregateFunction.AVG
        return Aggregate(function, _column(node.this), alias)
    if isinstance(node, exp.AggFunc):
        raise QueryRejected(Reason.AGGREGATE_NOT_ALLOWED, str(node.key).upper())
    raise _refuse(node)


def _predicate(node: exp.Expression) -> Predicate:
    kind = type(node)
    if kind is exp.Paren:
        _only(node, ("this",))
        return _predicate(node.this)
    if kind in (exp.And, exp.Or):
        operands = tuple(_predicate(operand) for operand in _flatten(node, kind))
        return And(operands) if kind is exp.And else Or(operands)
    if kind is exp.Not:
        _only(node, ("this",))
        return Not(_predicate(node.this))
    if kind in _COMPARISONS:
        _only(node, ("this", "expression"))
        return Comparison(_column(node.this), _COMPARISONS[kind], _value(node.expression))
    if kind is exp.In:
        _only(node, ("this", "expressions"))
        return InList(_column(node.this), tuple(_value(v) for v in node.expressions))
    if kind is exp.Between:
        _only(node, ("this", "low", "high"))
        return Between(_column(node.this), _value(node.args["low"]), _value(node.args["high"]))
    raise _refuse(node)


def _flatten(node: exp.Expression, kind: type[exp.Expression]) -> list[exp.Expression]:
    """The operands of a chain of one connective, left to right, without recursion."""
    operands: list[exp.Expression] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if type(current) is kind:
            _only(current, ("this", "expression"))
            stack.append(current.expression)
            stack.append(current.this)
        else:
            operands.append(current)
    return operands


def _value(node: exp.Expression) -> Value:
    kind = type(node)
    if kind is exp.Placeholder:
        _only(node, ("this",))
        if node.this is None or not isinstance(node.this, str) or node.this.isdigit():
            raise QueryRejected(Reason.CONSTRUCT_NOT_ALLOWED, "positional parameter")
        return Param(normalise_identifier(node.this))
    negative = False
    if kind is exp.Neg:
        _only(node, ("this",))
        node, negative = node.this, True
    if type(node) is not exp.Literal:
        raise _refuse(node)
    _only(node, ("this", "is_string"))
    text = str(node.this)
    if node.is_string:
        if negative:
            raise QueryRejected(Reason.CONSTRUCT_NOT_ALLOWED, "neg")
        return Literal(text)
    # Plain decimal notation of at most 38 digits (DECIMAL(38)'s range): no exponents, and no
    # numeral so long that converting it costs more than the query is worth.
    digits = text.replace(".", "", 1)
    if not (_NUMBER.match(text) and len(digits) <= _MAX_DIGITS):
        raise QueryRejected(Reason.CONSTRUCT_NOT_ALLOWED, "literal")
    number: int | Decimal = int(text) if text.isdigit() else Decimal(text)
    return Literal(-number if negative else number)


def _parameters(where: Predicate | None) -> tuple[str, ...]:
    names: list[str] = []
    stack: list[Predicate] = [] if where is None else [where]
    while stack:
        node = stack.pop()
        match node:
            case Comparison(value=value):
                values: tuple[Value, ...] = (value,)
            case InList(values=values):
                pass
            case Between(low=low, high=high):
                values = (low, high)
            case And(operands=operands) | Or(operands=operands):
                stack.extend(reversed(operands))
                continue
            case Not(operand=operand):
                stack.append(operand)
                continue
        for value in values:
            if isinstance(value, Param) and value.name not in names:
                names.append(value.name)
    return tuple(names)


def _order_item(node: exp.Expression, select: tuple[SelectItem, ...]) -> OrderItem:
    """`ORDER BY name [ASC|DESC]`, by an output name or by an aggregate of the select list.

    An aggregate becomes the output name of the equal select item; one that is not in the
    select list would order by a value that never leaves, so it is `ORDER_BY_NOT_OUTPUT`.
    Ordinals and other expressions are refused.
    """
    if type(node) is not exp.Ordered:
        raise _refuse(node)
    _only(node, ("this", "desc", "nulls_first"))
    descending = bool(node.args.get("desc"))
    if type(node.this) is exp.Column:
        return OrderItem(_column(node.this), descending)
    wanted = _aggregate(node.this, None)
    for item in select:
        if isinstance(item, Aggregate) and (item.function, item.column) == (
            wanted.function,
            wanted.column,
        ):
            return OrderItem(item.output_name, descending)
    raise QueryRejected(Reason.ORDER_BY_NOT_OUTPUT, wanted.output_name)
