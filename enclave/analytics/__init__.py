"""Aggregate queries in the zone: policy, restricted SQL, engine, output gate, release.

:class:`AggregateQueries` joins :mod:`policies` (views, rules, grants), :mod:`query_engine`
(parse, validate, rewrite, the ``Engine`` seam), :mod:`enclave.gate` (the single exit of
aggregates) and :mod:`enclave.release` (request leaf, decision, release leaf, receipt) into
one function-level pipeline; :meth:`AggregateQueries.run` returns an
``Answer[QueryAnswer]`` (the gated Arrow table, its IPC stream bytes, the suppressed-cell
count, the policy version) or raises a refusal of :mod:`enclave.analytics.errors`, logged
first. Exact mode only: a ``release: dp`` view is refused with :class:`DpModeRequired`.
"""

from enclave.analytics.errors import (
    AnalyticsError,
    DpModeRequired,
    QueryNotRun,
    QueryRejected,
    ViewNotGranted,
)
from enclave.analytics.interface import FixedPolicy, PolicySource
from enclave.analytics.pipeline import (
    QUERY_RUN,
    AggregateQueries,
    QueryAnswer,
    gate_rules,
    ipc_stream,
    query_fields,
)

__all__ = [
    "QUERY_RUN",
    "AggregateQueries",
    "AnalyticsError",
    "DpModeRequired",
    "FixedPolicy",
    "PolicySource",
    "QueryAnswer",
    "QueryNotRun",
    "QueryRejected",
    "ViewNotGranted",
    "gate_rules",
    "ipc_stream",
    "query_fields",
]
