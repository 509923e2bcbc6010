"""The immutable query representation: what `parse` produces and every later stage consumes.

Frozen dataclasses, never the sqlglot tree: the grammar of the restricted SQL is exactly the
set of types below, so a stage that handles them all handles every query (DESIGN.md
"Queries"). Identifiers are already normalised (NFKC, ASCII, lower case).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "Aggregate",
    "AggregateFunction",
    "And",
    "Between",
    "Comparison",
    "ComparisonOp",
    "Dimension",
    "InList",
    "Literal",
    "Not",
    "Or",
    "OrderItem",
    "Param",
    "Predicate",
    "Query",
    "SelectItem",
    "Value",
    "predicate_columns",
]


class AggregateFunction(StrEnum):
    """The aggregates of the restricted SQL."""

    COUNT_STAR = "COUNT_STAR"
    COUNT_DISTINCT_PERSON = "COUNT_DISTINCT_PERSON"
    SUM = "SUM"
    AVG = "AVG"


class ComparisonOp(StrEnum):
    """Comparison operators, spelled as a policy's `where_operators` spells them."""

    EQ = "="
    NE = "<>"
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


@dataclass(frozen=True, slots=True)
class Dimension:
    """A dimension column in the select list; `alias` is its output name if renamed."""

    column: str
    alias: str | None = None

    @property
    def output_name(self) -> str:
        return self.alias or self.column


@dataclass(frozen=True, slots=True)
class Aggregate:
    """An aggregate in the select list; `column` is None only for `COUNT(*)`."""

    function: AggregateFunction
    column: str | None
    alias: str | None = None

    @property
    def output_name(self) -> str:
        if self.alias is not None:
            return self.alias
        if self.column is None:
            return "count"
        if self.function is AggregateFunction.COUNT_DISTINCT_PERSON:
            return "persons"
        return f"{self.function.lower()}_{self.column}"


SelectItem = Dimension | Aggregate


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal value: a string, an integer or an exact decimal."""

    value: str | int | Decimal


@dataclass(frozen=True, slots=True)
class Param:
    """A named parameter (`:name` or `$name`), bound as a value at execution, never spliced."""

    name: str


Value = Literal | Param


@dataclass(frozen=True, slots=True)
class Comparison:
    column: str
    op: ComparisonOp
    value: Value


@dataclass(frozen=True, slots=True)
class InList:
    column: str
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Between:
    column: str
    low: Value
    high: Value


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Predicate


Predicate = Comparison | InList | Between | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderItem:
    """`ORDER BY name [DESC]`: `name` is an output column (validated against the select list)."""

    name: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """One restricted `SELECT` over one analysis view; `parameters` in order of appearance."""

    view: str
    select: tuple[SelectItem, ...]
    where: Predicate | None = None
    group_by: tuple[str, ...] = ()
    order_by: tuple[OrderItem, ...] = ()
    parameters: tuple[str, ...] = ()


def predicate_columns(predicate: Predicate) -> list[tuple[str | None, str]]:
    """Every (column, operator) a predicate uses, operators as a policy spells them.

    The connectives (`AND`, `OR`, `NOT`) come with no column. Iterative, so a deep predicate
    cannot exhaust the stack.
    """
    found: list[tuple[str | None, str]] = []
    stack: list[Predicate] = [predicate]
    while stack:
        node = stack.pop()
        match node:
            case Comparison(column=column, op=op):
                found.append((column, str(op)))
            case InList(column=column):
                found.append((column, "IN"))
            case Between(column=column):
                found.append((column, "BETWEEN"))
            case And(operands=operands):
                found.append((None, "AND"))
                stack.extend(reversed(operands))
            case Or(operands=operands):
                found.append((None, "OR"))
                stack.extend(reversed(operands))
            case Not(operand=operand):
                found.append((None, "NOT"))
                stack.append(operand)
    return found
