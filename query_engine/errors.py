"""The query engine's errors.

The tree::

    QueryEngineError            base of every error this package raises
    ├── QueryRejected           the partner's query is not allowed (reason code + construct)
    └── EngineError             the engine failed to run an accepted query
        ├── QueryTimeout        the time limit interrupted it
        ├── QueryMemoryExceeded it needed more memory than its limit
        ├── EngineUnavailable   the engine cannot start (Spark without pyspark or Java):
        │                       the operator's to fix
        └── EngineFailed        any other failure of the engine (a bug or a bad dataset)

`QueryRejected` is "your request is wrong"; `EngineError` is "we could not answer". Neither
message ever carries a data value (a literal, a parameter value, a row): only the reason code
and the construct or column name behind it, which come from the policy or the grammar.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "EngineError",
    "EngineFailed",
    "EngineUnavailable",
    "QueryEngineError",
    "QueryMemoryExceeded",
    "QueryRejected",
    "QueryTimeout",
    "Reason",
]


class Reason(StrEnum):
    """Why a query is rejected: stable codes that cross the zone boundary."""

    QUERY_TOO_LARGE = "QUERY_TOO_LARGE"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    PARSE_ERROR = "PARSE_ERROR"
    NOT_ONE_STATEMENT = "NOT_ONE_STATEMENT"
    NOT_A_SELECT = "NOT_A_SELECT"
    CONSTRUCT_NOT_ALLOWED = "CONSTRUCT_NOT_ALLOWED"
    IDENTIFIER_NOT_ALLOWED = "IDENTIFIER_NOT_ALLOWED"
    AGGREGATE_NOT_ALLOWED = "AGGREGATE_NOT_ALLOWED"
    VIEW_UNKNOWN = "VIEW_UNKNOWN"
    RULE_NOT_AD_HOC = "RULE_NOT_AD_HOC"
    COLUMN_UNKNOWN = "COLUMN_UNKNOWN"
    COLUMN_HIDDEN = "COLUMN_HIDDEN"
    NOT_A_DIMENSION = "NOT_A_DIMENSION"
    DIMENSION_NOT_ALLOWED = "DIMENSION_NOT_ALLOWED"
    TOO_MANY_GROUP_KEYS = "TOO_MANY_GROUP_KEYS"
    TOO_MANY_CELLS = "TOO_MANY_CELLS"
    WHERE_COLUMN_NOT_ALLOWED = "WHERE_COLUMN_NOT_ALLOWED"
    OPERATOR_NOT_ALLOWED = "OPERATOR_NOT_ALLOWED"
    SELECTED_NOT_GROUPED = "SELECTED_NOT_GROUPED"
    GROUPED_NOT_SELECTED = "GROUPED_NOT_SELECTED"
    ORDER_BY_NOT_OUTPUT = "ORDER_BY_NOT_OUTPUT"
    OUTPUT_NAME_AMBIGUOUS = "OUTPUT_NAME_AMBIGUOUS"
    PARAMETER_MISSING = "PARAMETER_MISSING"
    PARAMETER_UNKNOWN = "PARAMETER_UNKNOWN"
    PARAMETER_INVALID = "PARAMETER_INVALID"
    PARAMETER_OUT_OF_RANGE = "PARAMETER_OUT_OF_RANGE"
    TEMPLATE_UNKNOWN = "TEMPLATE_UNKNOWN"
    VALUE_TYPE_MISMATCH = "VALUE_TYPE_MISMATCH"
    TOO_MANY_VALUES = "TOO_MANY_VALUES"
    DIMENSION_REPEATED = "DIMENSION_REPEATED"


class QueryEngineError(Exception):
    """Base of every error of the query engine."""


class QueryRejected(QueryEngineError):  # noqa: N818 (a decision, named as the issue names it)
    """The query is not allowed: `reason` and the `construct` (grammar element or column).

    The message is public: it is built from the reason and the construct only, never from the
    query's literals or parameter values.
    """

    def __init__(self, reason: Reason, construct: str = "") -> None:
        self.reason = reason
        self.construct = construct
        super().__init__(f"{reason}({construct})" if construct else str(reason))


class EngineError(QueryEngineError):
    """An accepted query could not be executed (time or memory limit, engine failure)."""


class QueryTimeout(EngineError):  # noqa: N818 (named for what happened, like QueryRejected)
    """The query ran past its time limit and was interrupted."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"the query ran past its time limit of {seconds:g} s")


class QueryMemoryExceeded(EngineError):  # noqa: N818
    """The query needed more memory than its limit."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        super().__init__(f"the query needed more than its memory limit of {limit_bytes} bytes")


class EngineUnavailable(EngineError):  # noqa: N818
    """The engine cannot start here: what is missing and how to fix it, for the operator (the
    message names software and settings only, never a query or a value)."""


class EngineFailed(EngineError):  # noqa: N818
    """Any other engine failure. The public message is generic; `kind` names the engine's
    error class only (its own message may quote data values, so it is never kept)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__("the engine could not run the query")
