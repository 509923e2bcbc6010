"""A zone process answering differentially private queries, for the crash and race tests.

``python -m tests.support.dp_child CONFIG_JSON`` builds the real query path -- the default
policy, DuckDB over the given Parquet files, a real SQLite audit log (``AuditLog.open``, the
writer lock included) and a real budget ledger file -- and runs the configured queries in
order, printing one JSON line per answer or refusal. It may die by SIGKILL at one chosen
point (``crash``): the fault is injected here, in the child only, by subclassing or wrapping
the real collaborators, never by hooks in production code:

- ``after-charge``: the ledger's charge has committed; its audit leaf is not written yet;
- ``in-engine``: the charge and its leaf are durable; the engine is running the query;
- ``store-before-commit``: the noisy result's INSERT has run, its transaction not committed;
- ``store-after-commit``: the noisy result is durably stored; nothing released yet;
- ``release-before-leaves``: the answer is about to be logged (decision and release leaves);
- ``release-after-leaves``: the decision and release leaves are durable; the answer never
  reaches the caller.

Before dying it prints ``{"crash": <point>}``, so the test knows the point was reached.
With ``"wait": true`` it prints ``{"ready": true}`` once built and waits for a line on stdin
before running (processes racing on one ledger start together).

:func:`build` is the same composition for the test process itself (the restarted zone).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import query_engine
from dataward.transparency import Receipt
from enclave import ZoneError
from enclave._fsio import open_wal_database
from enclave.analytics import AggregateQueries, Budget, FixedPolicy
from enclave.audit import AuditLog, AuditLogTrail
from enclave.budget import BudgetLedger, BudgetLimits, Charge
from enclave.release import Caller
from policies import default_policy

__all__ = ["CRASH_POINTS", "DATASET_VERSION", "INSURER", "KEY", "NAME", "Zone", "build"]

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NAME = "dataward.zone/dp-crash"
DATASET_VERSION = "v-crash"
INSURER = Caller("app-1", "demo-insurer", frozenset({"RESEARCH"}))
LIMITS = query_engine.ExecutionLimits(timeout_seconds=30, memory_bytes=512 * 2**20)
CRASH_POINTS = (
    "after-charge",
    "in-engine",
    "store-before-commit",
    "store-after-commit",
    "release-before-leaves",
    "release-after-leaves",
)


@dataclass(frozen=True)
class _AuditSettings:
    """The audit log's settings (an ``enclave.audit.AuditLogSettings``): launcher's own
    would import the whole launcher, seconds of a child's start."""

    sqlite_synchronous: str = "FULL"
    checkpoint_interval_seconds: float = 3600.0
    checkpoint_every_entries: int = 1000
    group_commit_max_batch: int = 512


def _die(point: str) -> None:
    print(json.dumps({"crash": point}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


class _DyingConnection:
    """The ledger's SQLite connection, dying at the COMMIT of the transaction that stores a
    result: the INSERT has run, nothing of it is durable (``store-before-commit``)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._storing = False

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        if sql.startswith("INSERT INTO results"):
            self._storing = True
        elif sql == "COMMIT" and self._storing:
            _die("store-before-commit")
        return self._db.execute(sql, parameters)

    def executescript(self, script: str) -> sqlite3.Cursor:
        return self._db.executescript(script)

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def close(self) -> None:
        self._db.close()


class _DyingLedger(BudgetLedger):
    """The real ledger, dying right after a charge or a result store has committed."""

    crash = ""

    def charge(
        self,
        partner: str,
        dataset_version: str,
        query_key: str,
        micro_epsilon: int,
        now: dt.datetime,
    ) -> Charge:
        charged = super().charge(partner, dataset_version, query_key, micro_epsilon, now)
        if self.crash == "after-charge":
            _die(self.crash)
        return charged

    def store_result(self, charge_id: str, result: bytes) -> None:
        super().store_result(charge_id, result)
        if self.crash == "store-after-commit":
            _die(self.crash)


class _DyingTrail(AuditLogTrail):
    """The real audit trail, dying around the release leaves."""

    def __init__(self, log: AuditLog, crash: str) -> None:
        super().__init__(log)
        self._crash = crash

    def allow_and_release(
        self,
        *,
        request_id: str,
        policy_version: str,
        result_hash: bytes,
        epsilon_spent_micro: int = 0,
    ) -> Receipt:
        if self._crash == "release-before-leaves":
            _die(self._crash)
        receipt = super().allow_and_release(
            request_id=request_id,
            policy_version=policy_version,
            result_hash=result_hash,
            epsilon_spent_micro=epsilon_spent_micro,
        )
        if self._crash == "release-after-leaves":
            _die(self._crash)
        return receipt


class _DyingEngine(query_engine.DuckDBEngine):
    """DuckDB, dying while it runs the query (``in-engine``)."""

    def execute(self, request: query_engine.ExecutionRequest) -> query_engine.ExecutionResult:
        _die("in-engine")
        return super().execute(request)


@dataclass
class Zone:
    """The composed query path and what it holds open."""

    queries: AggregateQueries
    ledger: BudgetLedger
    log: AuditLog

    def close(self) -> None:
        self.ledger.close()
        self.log.close()


def build(
    audit_db: Path,
    ledger_db: Path,
    files: Mapping[str, tuple[str, ...]],
    limits: BudgetLimits,
    now: dt.datetime,
    *,
    crash: str = "",
    max_concurrent: int = 4,
) -> Zone:
    """The real query path over ``files`` on these two state files, at the fixed ``now``;
    ``crash`` one of :data:`CRASH_POINTS` (or "": none)."""
    if crash and crash not in CRASH_POINTS:
        raise ValueError(f"unknown crash point {crash!r}")
    log = AuditLog.open(audit_db, _AuditSettings(), KEY, NAME, NAME)
    if crash == "store-before-commit":
        BudgetLedger.open(ledger_db, limits).close()  # the schema, as the zone creates it
        db = open_wal_database(ledger_db, busy_timeout_ms=10_000)
        db.execute("PRAGMA foreign_keys=ON")
        ledger: BudgetLedger = BudgetLedger(cast(sqlite3.Connection, _DyingConnection(db)), limits)
    else:
        ledger = _DyingLedger.open(ledger_db, limits)
        if isinstance(ledger, _DyingLedger):
            ledger.crash = crash
    trail = _DyingTrail(log, crash) if crash.startswith("release") else AuditLogTrail(log)
    engine = _DyingEngine() if crash == "in-engine" else query_engine.DuckDBEngine()
    clock: Callable[[], dt.datetime] = lambda: now  # noqa: E731 (one fixed instant)
    queries = AggregateQueries(
        FixedPolicy(default_policy()),
        engine,
        lambda: files,
        trail,
        LIMITS,
        budget=Budget(ledger, trail, lambda: DATASET_VERSION),
        clock=clock,
        max_concurrent=max_concurrent,
    )
    return Zone(queries, ledger, log)


def _answer(zone: Zone, sql: str, purpose: str) -> dict[str, Any]:
    try:
        answer = zone.queries.run(INSURER, sql, {}, purpose)
    except ZoneError as refusal:
        return {"sql": sql, "refused": type(refusal).__name__}
    dp = answer.value.dp
    assert dp is not None
    return {
        "sql": sql,
        "request_id": answer.request_id,
        "ipc": answer.value.ipc.hex(),
        "charge_id": dp.charge_id,
        "replayed": dp.replayed,
        "spent": dp.epsilon_spent_micro,
    }


def main(argv: Sequence[str]) -> int:
    config = json.loads(argv[1])
    files = {table: tuple(paths) for table, paths in config["files"].items()}
    zone = build(
        Path(config["audit"]),
        Path(config["ledger"]),
        files,
        BudgetLimits(**config["limits"]),
        dt.datetime.fromisoformat(config["now"]),
        crash=config.get("crash", ""),
    )
    try:
        if config.get("wait"):
            print(json.dumps({"ready": True}), flush=True)
            sys.stdin.readline()
        for sql in config["queries"]:
            print(json.dumps(_answer(zone, sql, config.get("purpose", "RESEARCH"))), flush=True)
    finally:
        zone.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
