"""Parse, validate, rewrite and execute partner queries over analysis views (DuckDB | Spark).

The stages are pure functions of an immutable `Query` (DESIGN.md "Queries"): `parse` turns
the restricted SQL into one, refusing every construct outside the grammar; later stages
(validation against a view's rule, rewriting, execution behind the `Engine` seam) take it.
Rejections are `QueryRejected(reason, construct)`, whose message carries no data value.
"""

from query_engine.errors import EngineError, QueryEngineError, QueryRejected, Reason
from query_engine.parse import DEFAULT_MAX_BYTES, normalise_identifier, parse
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

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Aggregate",
    "AggregateFunction",
    "And",
    "Between",
    "Comparison",
    "ComparisonOp",
    "Dimension",
    "EngineError",
    "InList",
    "Literal",
    "Not",
    "Or",
    "OrderItem",
    "Param",
    "Predicate",
    "Query",
    "QueryEngineError",
    "QueryRejected",
    "Reason",
    "SelectItem",
    "Value",
    "normalise_identifier",
    "parse",
]
