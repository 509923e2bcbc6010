"""Parse, validate, rewrite and execute partner queries over analysis views (DuckDB | Spark).

The stages are pure functions of an immutable `Query` (DESIGN.md "Queries"): `parse` turns
the restricted SQL into one, refusing every construct outside the grammar; later stages
(validation against a view's rule, rewriting, execution behind the `Engine` seam) take it.
`parse` raises `QueryRejected(reason, construct)`; `validate` returns `Accepted` or
`Rejected(rejections)` (a decision value; `check` raises the first instead). No reason or
message carries a data value of the query.
"""

from query_engine.errors import EngineError, QueryEngineError, QueryRejected, Reason
from query_engine.interface import (
    Engine,
    ExecutionLimits,
    ExecutionRequest,
    ExecutionResult,
    ParameterValue,
)
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
from query_engine.validate import Accepted, Rejected, Rejection, Validation, check, validate

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Accepted",
    "Aggregate",
    "AggregateFunction",
    "And",
    "Between",
    "Comparison",
    "ComparisonOp",
    "Dimension",
    "Engine",
    "EngineError",
    "ExecutionLimits",
    "ExecutionRequest",
    "ExecutionResult",
    "InList",
    "Literal",
    "Not",
    "Or",
    "OrderItem",
    "Param",
    "ParameterValue",
    "Predicate",
    "Query",
    "QueryEngineError",
    "QueryRejected",
    "Reason",
    "Rejected",
    "Rejection",
    "SelectItem",
    "Validation",
    "Value",
    "check",
    "normalise_identifier",
    "parse",
    "validate",
]
