"""The real query path for attack and property tests: `AggregateQueries` over a synthetic
export with the default policy, DuckDB and a real audit log, plus an independent ground truth
(the distinct persons per cell, computed with plain DuckDB over the raw Parquet files)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import query_engine
from enclave import ZoneError
from enclave.analytics import AggregateQueries, Budget, FixedPolicy, QueryAnswer
from enclave.audit import AuditLog, AuditLogTrail, SqliteAuditStore, decode_leaf
from enclave.budget import BudgetLedger, BudgetLimits
from enclave.persons import Answer
from enclave.release import Caller
from launcher.settings import AuditSettings
from policies import Policy, View, default_policy
from tests.support.query_export import Export

__all__ = [
    "DATASET_VERSION",
    "INSURER",
    "LIMITS",
    "RESEARCH",
    "UNDERWRITING",
    "Pipeline",
    "persons_per_cell",
]

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NAME = "dataward.zone/test"
UNDERWRITING = "INSURANCE_UNDERWRITING"
RESEARCH = "RESEARCH"
# The default policy grants organization "demo-insurer" (the demo's insurer, by slug).
INSURER = Caller("app-1", "demo-insurer", frozenset({UNDERWRITING, RESEARCH}))
LIMITS = query_engine.ExecutionLimits(timeout_seconds=30, memory_bytes=512 * 2**20)
DATASET_VERSION = "v-test"


@dataclass(frozen=True)
class Leaves:
    """The audit events one call appended, by kind name, and the events themselves."""

    kinds: tuple[str, ...]
    events: tuple[object, ...]


class Pipeline:
    """`AggregateQueries.run` on the default policy over ``export``, logging to a real audit
    log under ``directory``; each call's leaves can be read back on their own."""

    def __init__(
        self,
        directory: Path,
        export: Export,
        policy: Policy | None = None,
        *,
        budget: BudgetLimits | None = None,
        max_concurrent: int = 2,
    ) -> None:
        """``budget``: keep a real budget ledger (``directory/budget.db``) with these limits,
        so ``dp`` answers run; None: none, and they are refused (DP_MODE_REQUIRED)."""
        self.store = SqliteAuditStore.open(directory / "audit.db")
        settings = AuditSettings(checkpoint_every_entries=1000, checkpoint_interval_seconds=3600)
        self.log = AuditLog(self.store, settings, KEY, NAME, NAME)
        self.policy = policy or default_policy()
        self.export = export
        self.ledger = None if budget is None else BudgetLedger.open(directory / "budget.db", budget)
        funds = None
        if self.ledger is not None:
            funds = Budget(self.ledger, AuditLogTrail(self.log), lambda: DATASET_VERSION)
        self.queries = AggregateQueries(
            FixedPolicy(self.policy),
            query_engine.DuckDBEngine(),
            lambda: export.files,
            AuditLogTrail(self.log),
            LIMITS,
            budget=funds,
            max_concurrent=max_concurrent,
        )

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
        self.log.close()

    def _count(self) -> int:
        return sum(1 for _ in self.store.leaves())

    @contextmanager
    def appended(self) -> Iterator[list[Leaves]]:
        """Yields a list that holds, after the block, the leaves the block appended."""
        start = self._count()
        found: list[Leaves] = []
        try:
            yield found
        finally:
            events = tuple(decode_leaf(s.leaf).event for s in self.store.leaves(start))
            found.append(Leaves(tuple(type(e).__name__ for e in events), events))

    def refused(
        self,
        kind: type[ZoneError],
        sql: str,
        parameters: Mapping[str, query_engine.ParameterValue] | None = None,
        purpose: str = UNDERWRITING,
    ) -> ZoneError:
        """Run ``sql``; assert it is refused as ``kind``, that the refusal is a denying
        decision leaf with ``kind``'s reason right after the request's, and that nothing was
        released. Returns the refusal."""
        with self.appended() as leaves, pytest.raises(ZoneError) as caught:
            self.queries.run(INSURER, sql, parameters or {}, purpose)
        refusal = caught.value
        assert type(refusal) is kind, f"{type(refusal).__name__}: {refusal}"
        assert leaves[0].kinds == ("RequestReceived", "Decision")
        request, decision = leaves[0].events
        assert getattr(decision, "allow", None) is False
        assert getattr(decision, "reasons", None) == (kind.reason,)
        assert getattr(decision, "request_id", None) == getattr(request, "request_id", "")
        assert getattr(decision, "policy_version", None) == self.policy.version
        return refusal

    def released(
        self,
        sql: str,
        parameters: Mapping[str, query_engine.ParameterValue] | None = None,
        purpose: str = UNDERWRITING,
    ) -> Answer[QueryAnswer]:
        """Run ``sql``; assert it was allowed and released (request, decision, release)."""
        with self.appended() as leaves:
            answer = self.queries.run(INSURER, sql, parameters or {}, purpose)
        assert leaves[0].kinds == ("RequestReceived", "Decision", "Release")
        assert getattr(leaves[0].events[1], "allow", None) is True
        return answer

    def released_dp(
        self,
        sql: str,
        parameters: Mapping[str, query_engine.ParameterValue] | None = None,
        purpose: str = RESEARCH,
    ) -> Answer[QueryAnswer]:
        """Run ``sql`` in dp mode; assert its leaves: the request, the budget charge (durable
        before the query ran), the allowing decision and the release, which records the
        epsilon this call spent."""
        with self.appended() as leaves:
            answer = self.queries.run(INSURER, sql, parameters or {}, purpose)
        assert leaves[0].kinds == ("RequestReceived", "BudgetCharged", "Decision", "Release")
        _, charged, decision, release = leaves[0].events
        assert getattr(decision, "allow", None) is True
        dp = answer.value.dp
        assert dp is not None
        assert getattr(charged, "charge_id", None) == dp.charge_id
        assert getattr(release, "epsilon_spent_micro", None) == dp.epsilon_spent_micro
        return answer


def persons_per_cell(
    export: Export,
    view: View,
    dimensions: Sequence[str],
    where: str = "",
    parameters: Mapping[str, object] | None = None,
) -> dict[tuple[object, ...], int]:
    """Distinct persons behind each cell of ``view`` grouped by ``dimensions``, computed
    beside the pipeline: plain DuckDB over the raw Parquet files, the view's SQL as the policy
    has it, ``where`` (SQL text over the view's columns, ``$name`` parameters) as written."""
    person = view.person_key
    assert person is not None
    connection = duckdb.connect(":memory:")
    try:
        for table, paths in export.files.items():
            connection.read_parquet(list(paths)).create_view(table)
        keys = ", ".join(f'"{d}"' for d in dimensions)
        select = ", ".join([*(f'"{d}"' for d in dimensions), f'COUNT(DISTINCT "{person}")'])
        sql = f"WITH v AS ({view.sql}) SELECT {select} FROM v"
        if where:
            sql += f" WHERE {where}"
        if keys:
            sql += f" GROUP BY {keys}"
        rows = connection.execute(sql, dict(parameters or {})).fetchall()
    finally:
        connection.close()
    return {tuple(row[:-1]): int(row[-1]) for row in rows}
