"""Parse, validate, rewrite and execute partner queries over analysis views (DuckDB | Spark).

The stages are pure functions of an immutable `Query` (DESIGN.md "Queries"): `parse` turns
the restricted SQL into one, refusing every construct outside the grammar; later stages
(validation against a view's rule, rewriting, execution behind the `Engine` seam) take it.
`parse` raises `QueryRejected(reason, construct)`; `validate` returns `Accepted` or
`Rejected(rejections)` (a decision value; `check` raises the first instead). `rewrite` turns
an accepted query and its view into a `Rewritten` (SQL with the view inlined, contribution
bounding, clipping and the `__persons` column; values bound as parameters), whose `request`
an `Engine` (`DuckDBEngine`, or `SparkEngine` with the ``spark`` extra installed) executes
within `ExecutionLimits`, the view's SQL transpiled from DuckDB's dialect to the engine's
with the same values. A view with a template rule answers only its templates:
`find_template` finds a granted one by name and `rewrite_template` checks the caller's
parameters and takes the template's SQL through the same parse, validate and rewrite stages
under a rule derived from the template (`TemplateRewrite.rule`, release exact). A query a
steward approved after review runs the same way under `approved_view` (the rule derived from
the query, the view rule's limits, the approval's release mode). No reason or message
carries a data value of the query.
"""

from query_engine.duckdb import DuckDBEngine
from query_engine.errors import (
    EngineError,
    EngineFailed,
    EngineUnavailable,
    QueryEngineError,
    QueryMemoryExceeded,
    QueryRejected,
    QueryTimeout,
    Reason,
)
from query_engine.interface import (
    PERSONS_COLUMN,
    Engine,
    ExecutionLimits,
    ExecutionRequest,
    ExecutionResult,
    OutputColumn,
    OutputKind,
    ParameterValue,
    Rewritten,
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
    predicate_columns,
)
from query_engine.rewrite import rewrite
from query_engine.spark import SparkEngine, SparkOptions
from query_engine.template import (
    TemplateProblem,
    TemplateRewrite,
    approved_rule,
    approved_view,
    find_template,
    rewrite_template,
    template_problems,
    template_rule,
)
from query_engine.validate import Accepted, Rejected, Rejection, Validation, check, validate

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PERSONS_COLUMN",
    "Accepted",
    "Aggregate",
    "AggregateFunction",
    "And",
    "Between",
    "Comparison",
    "ComparisonOp",
    "Dimension",
    "DuckDBEngine",
    "Engine",
    "EngineError",
    "EngineFailed",
    "EngineUnavailable",
    "ExecutionLimits",
    "ExecutionRequest",
    "ExecutionResult",
    "InList",
    "Literal",
    "Not",
    "Or",
    "OrderItem",
    "OutputColumn",
    "OutputKind",
    "Param",
    "ParameterValue",
    "Predicate",
    "Query",
    "QueryEngineError",
    "QueryMemoryExceeded",
    "QueryRejected",
    "QueryTimeout",
    "Reason",
    "Rejected",
    "Rejection",
    "Rewritten",
    "SelectItem",
    "SparkEngine",
    "SparkOptions",
    "TemplateProblem",
    "TemplateRewrite",
    "Validation",
    "Value",
    "approved_rule",
    "approved_view",
    "check",
    "find_template",
    "normalise_identifier",
    "parse",
    "predicate_columns",
    "rewrite",
    "rewrite_template",
    "template_problems",
    "template_rule",
    "validate",
]
