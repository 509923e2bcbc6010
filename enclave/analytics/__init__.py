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

:class:`QueryReviews` is the stewards' side (issue 11): the submissions no automatic rule
allows but a steward may (:data:`REVIEWABLE`), listed, read with their analysis, approved
under conditions (two different stewards on a ``sensitive`` view) or rejected with a reason
the partner reads; the decisions are append-only in the query store.
"""

from enclave.analytics._reviewable import REVIEWABLE
from enclave.analytics._store import (
    QUERY_ID,
    Approval,
    Conditions,
    QueryStatus,
    Reviewer,
    Sealer,
    SqliteQueryStore,
    StewardRejection,
    StoredQuery,
)
from enclave.analytics.errors import (
    AnalyticsError,
    ApprovalExpired,
    DpModeRequired,
    InvalidPageToken,
    QueryNotFound,
    QueryNotPending,
    QueryNotRun,
    QueryNotRunnable,
    QueryRejected,
    ReviewFieldInvalid,
    ReviewOwnSubmission,
    ReviewRefused,
    ReviewSameSteward,
    RunsExhausted,
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
from enclave.analytics.review import (
    MAX_LIFETIME,
    MAX_REASON_CHARACTERS,
    MAX_RUNS,
    REVIEW_APPROVE,
    REVIEW_GET,
    REVIEW_LIST,
    REVIEW_REJECT,
    ConditionsAsked,
    QueryReview,
    QueryReviews,
    ReviewDecision,
    ReviewPage,
    ReviewTrail,
)
from query_engine import DEFAULT_MAX_BYTES as MAX_QUERY_BYTES
from query_engine import ExecutionLimits, ParameterValue

__all__ = [
    "MAX_LIFETIME",
    "MAX_QUERY_BYTES",
    "MAX_REASON_CHARACTERS",
    "MAX_RUNS",
    "QUERY_BUDGET",
    "QUERY_EXPLAIN",
    "QUERY_GET",
    "QUERY_ID",
    "QUERY_LIST",
    "QUERY_RUN",
    "QUERY_SUBMIT",
    "REVIEWABLE",
    "REVIEW_APPROVE",
    "REVIEW_GET",
    "REVIEW_LIST",
    "REVIEW_REJECT",
    "AggregateQueries",
    "AnalyticsError",
    "Approval",
    "ApprovalExpired",
    "Budget",
    "ChargeTrail",
    "Conditions",
    "ConditionsAsked",
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
    "QueryNotPending",
    "QueryNotRun",
    "QueryNotRunnable",
    "QueryPage",
    "QueryRejected",
    "QueryRejection",
    "QueryRequest",
    "QueryReview",
    "QueryReviews",
    "QueryStatus",
    "ReviewDecision",
    "ReviewFieldInvalid",
    "ReviewOwnSubmission",
    "ReviewPage",
    "ReviewRefused",
    "ReviewSameSteward",
    "ReviewTrail",
    "Reviewer",
    "RunsExhausted",
    "Sealer",
    "SqliteQueryStore",
    "StewardRejection",
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
