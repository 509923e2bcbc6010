"""Aggregate queries, one function-level pipeline: every step through the release skeleton.

:meth:`AggregateQueries.run` orders the steps of an ad-hoc aggregate (DESIGN.md "Queries",
"Output gate"), so that every front end behaves the same:

1. log the request (``QueryService/Run``, who, organization, purpose; never the query text);
2. refuse a purpose the caller's app does not hold;
3. parse the restricted SQL (:class:`QueryRejected` with the rejection's code as ``rule``);
4. look the view up and check the grant (:meth:`policies.Policy.grant_for`): a view the policy
   does not have is refused exactly like one not granted (:class:`ViewNotGranted`), so the
   answer does not tell a partner which views exist;
5. validate against the view's rule; a ``release: dp`` view is refused with
   :class:`DpModeRequired` (differential privacy is the next issue);
6. rewrite (contribution bounding, clipping, the persons column, bound parameters) and run it
   on the engine within the limits, over the live dataset version's Parquet files;
7. map the result's columns onto :class:`enclave.gate.GateRules` and pass the output gate;
8. serialise the gated table as an Arrow IPC stream and release it: the release leaf's result
   hash covers the IPC bytes' SHA-256, the suppressed-cell count and the policy version.

Every refusal is a denying decision leaf, durable before it is raised. An engine failure (a
limit hit, a bug) is not a refusal: it propagates, unlogged as a decision, as a denial.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pyarrow as pa

import query_engine
from dataward import receipts
from enclave import gate
from enclave.analytics.errors import DpModeRequired, QueryNotRun, QueryRejected, ViewNotGranted
from enclave.analytics.interface import PolicySource
from enclave.persons import Answer, PurposeNotGranted
from enclave.release import AuditTrail, Caller, Releaser, Request
from policies import AggregationRule, Deny

__all__ = [
    "QUERY_RUN",
    "AggregateQueries",
    "QueryAnswer",
    "gate_rules",
    "ipc_stream",
    "query_fields",
]

QUERY_RUN = "QueryService/Run"
"""The method the zone logs (and hashes) for a query's answer."""

_KINDS = {
    query_engine.OutputKind.COUNT: gate.AggregateKind.COUNT,
    query_engine.OutputKind.SUM: gate.AggregateKind.SUM,
}


@dataclass(frozen=True)
class QueryAnswer:
    """A released aggregate: the gated ``table``, its Arrow IPC stream bytes (what the result
    hash covers), the cells the gate suppressed and the policy version it ran under."""

    table: pa.Table
    ipc: bytes
    suppressed_cells: int
    policy_version: str


def query_fields(
    *, ipc: bytes, suppressed_cells: int, policy_version: str
) -> dict[str, receipts.ResultValue]:
    """The fields of a query's answer that its result hash covers (flat str/int values)."""
    return {
        "ipc_sha256": hashlib.sha256(ipc).hexdigest(),
        "suppressed_cells": int(suppressed_cells),
        "policy_version": str(policy_version),
    }


def gate_rules(rewritten: query_engine.Rewritten, rule: AggregationRule) -> gate.GateRules:
    """What the gate enforces for ``rewritten`` under ``rule``.

    Raises ``AssertionError`` if the rewritten columns do not fit the gate's input (the
    persons column named otherwise, a kind the gate does not know): a bug, never released.
    """
    dimensions: list[str] = []
    aggregates: list[gate.AggregateSpec] = []
    persons = 0
    for column in rewritten.columns:
        if column.kind is query_engine.OutputKind.DIMENSION:
            dimensions.append(column.name)
        elif column.kind is query_engine.OutputKind.PERSONS:
            if column.name != gate.PERSONS_COLUMN:
                raise AssertionError("the persons column is not the one the gate reads")
            persons += 1
        else:
            aggregates.append(gate.AggregateSpec(column.name, _KINDS[column.kind]))
    if persons != 1:
        raise AssertionError("a rewritten query has exactly one persons column")
    return gate.GateRules(
        min_persons=rule.min_persons,
        sum_base=rule.rounding_base,
        row_cap=rule.row_cap,
        dimensions=tuple(dimensions),
        aggregates=tuple(aggregates),
    )


def ipc_stream(table: pa.Table) -> bytes:
    """``table`` as Arrow IPC stream bytes."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


class AggregateQueries:
    """Ad-hoc aggregate queries over the live dataset version, under one policy."""

    def __init__(
        self,
        policies: PolicySource,
        engine: query_engine.Engine,
        files: Callable[[], Mapping[str, tuple[str, ...]]],
        audit: AuditTrail,
        limits: query_engine.ExecutionLimits,
    ) -> None:
        self._policies = policies
        self._engine = engine
        self._files = files
        self._limits = limits
        self._audit = audit

    def run(
        self,
        caller: Caller,
        sql: str,
        parameters: Mapping[str, query_engine.ParameterValue],
        purpose: str,
        client_nonce: str = "",
    ) -> Answer[QueryAnswer]:
        """Answer ``sql`` with ``parameters`` for ``caller`` and ``purpose``, or refuse.

        Refusals (logged as denying decisions first): ``PurposeNotGranted``,
        :class:`QueryRejected`, :class:`ViewNotGranted`, :class:`DpModeRequired` and the
        gate's ``UnsupportedShape``.
        """
        policy = self._policies.current()  # one snapshot for the whole answer
        release = Releaser(self._audit, policy.version)
        request = release.begin(caller, QUERY_RUN, purpose=purpose)
        if caller.purposes is not None and purpose not in caller.purposes:
            release.refuse(request, PurposeNotGranted())
        query = _parse(release, request, sql)
        view = policy.views.get(query.view)
        grant = policy.grant_for(caller.organization, purpose, query.view)
        if view is None or isinstance(grant, Deny):
            release.refuse(request, ViewNotGranted())
        try:
            rule = query_engine.check(query, view)
        except query_engine.QueryRejected as rejected:
            release.refuse(request, _rejected(rejected))
        if rule.release != "exact":
            release.refuse(request, DpModeRequired())
        try:
            rewritten = query_engine.rewrite(query, view, parameters, dialect=self._engine.dialect)
        except query_engine.QueryRejected as rejected:
            release.refuse(request, _rejected(rejected))
        rules = gate_rules(rewritten, rule)
        try:
            result = self._engine.execute(rewritten.request(self._files(), self._limits))
        except query_engine.EngineError:  # a timeout, the memory limit: logged, not a fault
            release.refuse(request, QueryNotRun())
        try:
            gated = gate.release(result.table, rules)
        except gate.UnsupportedShape as shape:
            release.refuse(request, shape)
        return _answer(release, request, gated, policy.version, client_nonce)


def _parse(release: Releaser, request: Request, sql: str) -> query_engine.Query:
    try:
        return query_engine.parse(sql)
    except query_engine.QueryRejected as rejected:
        release.refuse(request, _rejected(rejected))


def _answer(
    release: Releaser,
    request: Request,
    gated: gate.GateResult,
    policy_version: str,
    client_nonce: str,
) -> Answer[QueryAnswer]:
    ipc = ipc_stream(gated.table)
    value = QueryAnswer(gated.table, ipc, gated.suppressed_cells, policy_version)
    fields = query_fields(
        ipc=ipc, suppressed_cells=gated.suppressed_cells, policy_version=policy_version
    )
    receipt = release.release(request, fields, client_nonce=client_nonce)
    return Answer(value, receipt, request.request_id)


def _rejected(rejected: query_engine.QueryRejected) -> QueryRejected:
    """The zone's refusal for the engine's rejection: its code and construct, nothing else."""
    return QueryRejected(str(rejected.reason), rejected.construct)
