"""Aggregate queries in the zone: policy, restricted SQL, engine, output gate, release.

:class:`AggregateQueries` joins :mod:`policies` (views, rules, grants), :mod:`query_engine`
(parse, validate, rewrite, the ``Engine`` seam), :mod:`enclave.gate` (the single exit of
aggregates) and :mod:`enclave.release` (request leaf, decision, release leaf, receipt) into
one function-level pipeline; :meth:`AggregateQueries.run` returns an
``Answer[QueryAnswer]`` (the gated Arrow table, its IPC stream bytes, the suppressed-cell
count, the policy version) or raises a refusal of :mod:`enclave.analytics.errors`, logged
first. Exact mode only: a ``release: dp`` view is refused with :class:`DpModeRequired`.
"""

from enclave.analytics._store import QUERY_ID, QueryStatus, Sealer, SqliteQueryStore, StoredQuery
from enclave.analytics.errors import (
    AnalyticsError,
    DpModeRequired,
    InvalidPageToken,
    QueryNotFound,
    QueryNotRun,
    QueryNotRunnable,
    QueryRejected,
    ViewNotGranted,
)
from enclave.analytics.interface import FixedPolicy, PolicySource
from enclave.analytics.pipeline import (
    QUERY_EXPLAIN,
    QUERY_GET,
    QUERY_LIST,
    QUERY_RUN,
    QUERY_SUBMIT,
    AggregateQueries,
    Explanation,
    QueryAnswer,
    QueryPage,
    QueryRejection,
    QueryRequest,
    Submission,
    column_kinds,
    describe_checks,
    gate_rules,
    ipc_stream,
)
from query_engine import DEFAULT_MAX_BYTES as MAX_QUERY_BYTES
from query_engine import ExecutionLimits, ParameterValue

__all__ = [
    "MAX_QUERY_BYTES",
    "QUERY_EXPLAIN",
    "QUERY_GET",
    "QUERY_ID",
    "QUERY_LIST",
    "QUERY_RUN",
    "QUERY_SUBMIT",
    "AggregateQueries",
    "AnalyticsError",
    "DpModeRequired",
    "ExecutionLimits",
    "Explanation",
    "FixedPolicy",
    "InvalidPageToken",
    "ParameterValue",
    "PolicySource",
    "QueryAnswer",
    "QueryNotFound",
    "QueryNotRun",
    "QueryNotRunnable",
    "QueryPage",
    "QueryRejected",
    "QueryRejection",
    "QueryRequest",
    "QueryStatus",
    "Sealer",
    "SqliteQueryStore",
    "StoredQuery",
    "Submission",
    "ViewNotGranted",
    "column_kinds",
    "describe_checks",
    "gate_rules",
    "ipc_stream",
]
