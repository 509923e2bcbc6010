"""Aggregate queries in the zone: policy, restricted SQL, engine, output gate, release.

:class:`AggregateQueries` joins :mod:`policies` (views, rules, grants), :mod:`query_engine`
(parse, validate, rewrite, the ``Engine`` seam), :mod:`enclave.gate` (the single exit of
aggregates) and :mod:`enclave.release` (request leaf, decision, release leaf, receipt) into
one function-level pipeline; :meth:`AggregateQueries.run` returns an
``Answer[QueryAnswer]`` (the gated Arrow table, its IPC stream bytes, the suppressed-cell
count, the policy version) or raises a refusal of :mod:`enclave.analytics.errors`, logged
first. ``dp`` answers (a ``release: dp`` view, or a grant that demands dp) are charged to the
privacy-budget ledger (:class:`Budget`) before they run and noised by the gate with OpenDP;
a zone without a ledger refuses them with :class:`DpModeRequired`.
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
from enclave.analytics.interface import Budget, ChargeTrail, FixedPolicy, PolicySource
from enclave.analytics.pipeline import (
    QUERY_BUDGET,
    QUERY_EXPLAIN,
    QUERY_GET,
    QUERY_LIST,
    QUERY_RUN,
    QUERY_SUBMIT,
    AggregateQueries,
    DpRelease,
    Explanation,
    QueryAnswer,
    QueryPage,
    QueryRejection,
    QueryRequest,
    Submission,
    column_kinds,
    describe_checks,
    dp_rules,
    gate_rules,
    ipc_stream,
    query_key,
)
from query_engine import DEFAULT_MAX_BYTES as MAX_QUERY_BYTES
from query_engine import ExecutionLimits, ParameterValue

__all__ = [
    "MAX_QUERY_BYTES",
    "QUERY_BUDGET",
    "QUERY_EXPLAIN",
    "QUERY_GET",
    "QUERY_ID",
    "QUERY_LIST",
    "QUERY_RUN",
    "QUERY_SUBMIT",
    "AggregateQueries",
    "AnalyticsError",
    "Budget",
    "ChargeTrail",
    "DpModeRequired",
    "DpRelease",
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
    "dp_rules",
    "gate_rules",
    "ipc_stream",
    "query_key",
]
