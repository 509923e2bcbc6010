"""The SQLite budget ledger (``ZONE/state/budget.db``, WAL, ``synchronous=FULL``).

Two append-only tables (triggers refuse UPDATE and DELETE): ``charges``, hash-chained
(:mod:`enclave.budget._chain`), one row per (partner, dataset version, query key); and
``results``, at most one noisy result per charge, with its sha256. Every charge is one
``BEGIN IMMEDIATE ... COMMIT`` transaction: the limits are read and the row written under
SQLite's write lock, so neither threads nor other processes on the same file can both pass
a limit that only one of them fits under.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from enclave._fsio import open_wal_database
from enclave.budget._chain import GENESIS, Entry, entry_hash
from enclave.budget._values import (
    PER_PARTNER_PER_DATASET_VERSION,
    PER_PARTNER_PER_DAY,
    PER_QUERY,
    TOTAL_PER_DATASET_VERSION,
    BudgetLimits,
    BudgetState,
    Charge,
    LimitState,
)
from enclave.budget.errors import (
    BudgetExhausted,
    BudgetLedgerCorrupt,
    ChargeNotFound,
    ResultAlreadyStored,
)

__all__ = ["BUDGET_DB", "BudgetLedger"]

#: Where a zone keeps its budget ledger, under the zone directory.
BUDGET_DB = Path("state") / "budget.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    charge_id TEXT NOT NULL UNIQUE,
    partner TEXT NOT NULL,
    dataset_version TEXT NOT NULL,
    query_key TEXT NOT NULL,
    micro_epsilon INTEGER NOT NULL CHECK (micro_epsilon > 0),
    day TEXT NOT NULL,
    charged_at INTEGER NOT NULL,
    prev_hash BLOB NOT NULL,
    entry_hash BLOB NOT NULL,
    UNIQUE (partner, dataset_version, query_key)
);
CREATE INDEX IF NOT EXISTS charges_by_day ON charges (partner, day);
CREATE INDEX IF NOT EXISTS charges_by_version ON charges (dataset_version, partner);
CREATE TABLE IF NOT EXISTS results (
    charge_id TEXT PRIMARY KEY REFERENCES charges (charge_id),
    result BLOB NOT NULL,
    result_sha256 BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS charges_no_update BEFORE UPDATE ON charges
BEGIN SELECT RAISE(ABORT, 'the budget ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS charges_no_delete BEFORE DELETE ON charges
BEGIN SELECT RAISE(ABORT, 'the budget ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS results_no_update BEFORE UPDATE ON results
BEGIN SELECT RAISE(ABORT, 'stored results are never overwritten'); END;
CREATE TRIGGER IF NOT EXISTS results_no_delete BEFORE DELETE ON results
BEGIN SELECT RAISE(ABORT, 'stored results are never overwritten'); END;
"""
_COLUMNS = (
    "seq, charge_id, partner, dataset_version, query_key, micro_epsilon, day, charged_at, "
    "prev_hash, entry_hash"
)


def _micros(at: dt.datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("budget instants must be timezone-aware")
    return int(at.timestamp() * 1_000_000)


def _day(at: dt.datetime) -> dt.date:
    if at.tzinfo is None:
        raise ValueError("budget instants must be timezone-aware")
    return at.astimezone(dt.UTC).date()


def _entry(row: tuple[Any, ...]) -> Entry:
    seq, charge_id, partner, version, key, micro, day, at = row[:8]
    return Entry(int(seq), str(charge_id), str(partner), str(version), str(key), int(micro),
                 str(day), int(at))  # fmt: skip


def _charge(row: tuple[Any, ...], *, new: bool) -> Charge:
    entry = _entry(row)
    return Charge(
        charge_id=entry.charge_id,
        sequence=entry.sequence,
        partner=entry.partner,
        dataset_version=entry.dataset_version,
        query_key=entry.query_key,
        micro_epsilon=entry.micro_epsilon,
        charged_at=dt.datetime.fromtimestamp(entry.charged_at / 1_000_000, tz=dt.UTC),
        entry_hash=bytes(row[9]).hex(),
        new=new,
    )


class BudgetLedger:
    """The durable privacy-budget ledger. Thread-safe; processes sharing the file are
    serialized by SQLite's write lock (``BEGIN IMMEDIATE``)."""

    def __init__(self, connection: sqlite3.Connection, limits: BudgetLimits) -> None:
        self._db = connection
        self._limits = limits
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        path: Path,
        limits: BudgetLimits | None = None,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 10_000,
    ) -> BudgetLedger:
        """Open (or create) the ledger at ``path`` (a zone's is ``ZONE / BUDGET_DB``)."""
        db = open_wal_database(path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(_SCHEMA)
        return cls(db, limits or BudgetLimits())

    @property
    def limits(self) -> BudgetLimits:
        return self._limits

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One durable transaction under the thread lock and SQLite's write lock."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def charge(
        self,
        partner: str,
        dataset_version: str,
        query_key: str,
        micro_epsilon: int,
        now: dt.datetime,
    ) -> Charge:
        """Charge ``micro_epsilon`` BEFORE the query runs; durable when this returns.

        A ``query_key`` already charged for ``partner`` on ``dataset_version`` is not charged
        again: the existing charge comes back with ``new=False`` (whatever its amount), so the
        caller returns its stored result -- repeating a query cannot average its noise away.
        A charge that would pass any limit raises :class:`BudgetExhausted` and changes nothing.
        "Per day" is the UTC day of ``now``.
        """
        if type(micro_epsilon) is not int or micro_epsilon <= 0:
            raise ValueError("a charge is a positive integer micro-epsilon")
        if not partner or not dataset_version or not query_key:
            raise ValueError("a charge needs a partner, a dataset version and a query key")
        day, at = _day(now), _micros(now)
        with self._write():
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM charges "  # noqa: S608
                "WHERE partner = ? AND dataset_version = ? AND query_key = ?",
                (partner, dataset_version, query_key),
            ).fetchone()
            if row is not None:
                return _charge(row, new=False)
            state = self._state(partner, dataset_version, day)
            if micro_epsilon > state.per_query:
                raise BudgetExhausted(PER_QUERY, micro_epsilon, state)
            for limit in state.limits:
                if micro_epsilon > limit.left:
                    raise BudgetExhausted(limit.name, micro_epsilon, state)
            last = self._db.execute(
                "SELECT seq, entry_hash FROM charges ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, previous = (1, GENESIS) if last is None else (int(last[0]) + 1, bytes(last[1]))
            entry = Entry(seq, f"chg_{secrets.token_urlsafe(18)}", partner, dataset_version,
                          query_key, micro_epsilon, day.isoformat(), at)  # fmt: skip
            digest = entry_hash(previous, entry)
            values = (*dataclasses.astuple(entry), previous, digest)
            self._db.execute(
                f"INSERT INTO charges ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",  # noqa: S608
                values,
            )
        return _charge(values, new=True)

    def state(self, partner: str, dataset_version: str, now: dt.datetime) -> BudgetState:
        """What ``partner`` has spent and has left on ``dataset_version`` on ``now``'s UTC day."""
        day = _day(now)
        with self._lock:
            return self._state(partner, dataset_version, day)

    def _state(self, partner: str, dataset_version: str, day: dt.date) -> BudgetState:
        def total(where: str, *params: str) -> int:
            sql = f"SELECT COALESCE(SUM(micro_epsilon), 0) FROM charges WHERE {where}"  # noqa: S608
            return int(self._db.execute(sql, params).fetchone()[0])

        limits = self._limits
        return BudgetState(
            partner=partner,
            dataset_version=dataset_version,
            day=day,
            per_query=limits.per_query,
            limits=(
                LimitState(
                    PER_PARTNER_PER_DAY,
                    limits.per_partner_per_day,
                    total("partner = ? AND day = ?", partner, day.isoformat()),
                ),
                LimitState(
                    PER_PARTNER_PER_DATASET_VERSION,
                    limits.per_partner_per_dataset_version,
                    total("partner = ? AND dataset_version = ?", partner, dataset_version),
                ),
                LimitState(
                    TOTAL_PER_DATASET_VERSION,
                    limits.total_per_dataset_version,
                    total("dataset_version = ?", dataset_version),
                ),
            ),
        )

    def store_result(self, charge_id: str, result: bytes) -> None:
        """Store the noisy result of ``charge_id``, once. Storing the same bytes again is a
        no-op; different bytes raise :class:`ResultAlreadyStored` (the first result stays: a
        second draw of noise for one charge must never be released)."""
        with self._write():
            if self._db.execute(
                "SELECT 1 FROM charges WHERE charge_id = ?", (charge_id,)
            ).fetchone() is None:  # fmt: skip
                raise ChargeNotFound()
            row = self._db.execute(
                "SELECT result FROM results WHERE charge_id = ?", (charge_id,)
            ).fetchone()
            if row is not None:
                if bytes(row[0]) != result:
                    raise ResultAlreadyStored()
                return
            self._db.execute(
                "INSERT INTO results (charge_id, result, result_sha256) VALUES (?, ?, ?)",
                (charge_id, result, hashlib.sha256(result).digest()),
            )

    def result(self, charge_id: str) -> bytes | None:
        """The stored result of ``charge_id`` (None: charged, no result stored yet)."""
        with self._lock:
            row = self._db.execute(
                "SELECT result FROM results WHERE charge_id = ?", (charge_id,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def get(self, charge_id: str) -> Charge:
        """The charge ``charge_id`` (``new=False``)."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM charges WHERE charge_id = ?",  # noqa: S608
                (charge_id,),
            ).fetchone()
        if row is None:
            raise ChargeNotFound()
        return _charge(row, new=False)

    def verify(self) -> int:
        """Recompute the whole chain and every stored result's hash; return the number of
        entries. Raises :class:`BudgetLedgerCorrupt` naming the first bad entry: a gap or
        reordering in the sequence, a ``prev_hash`` that is not the previous entry's hash, an
        entry whose hash does not match its columns, or rows deleted from the end (the
        sequence SQLite handed out is past the last row). Deleting the very last rows *and*
        rewriting ``sqlite_sequence`` is not visible here: the audit leaf of each charge
        (its ``entry_hash``) anchors the chain outside this file."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM charges ORDER BY seq"  # noqa: S608
            ).fetchall()
            issued = self._db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'charges'"
            ).fetchone()
            results = self._db.execute(
                "SELECT r.charge_id, r.result, r.result_sha256, c.seq FROM results AS r "
                "LEFT JOIN charges AS c ON c.charge_id = r.charge_id ORDER BY c.seq"
            ).fetchall()
        previous = GENESIS
        for expected, row in enumerate(rows, start=1):
            entry = _entry(row)
            if entry.sequence != expected:
                raise BudgetLedgerCorrupt(expected, "the entry is missing (a gap in the sequence)")
            if bytes(row[8]) != previous:
                raise BudgetLedgerCorrupt(expected, "it does not chain from the previous entry")
            previous = entry_hash(previous, entry)
            if bytes(row[9]) != previous:
                raise BudgetLedgerCorrupt(expected, "its hash does not match its contents")
        if issued is not None and int(issued[0]) > len(rows):
            raise BudgetLedgerCorrupt(len(rows) + 1, "the entry is missing (deleted at the end)")
        for _charge_id, result, digest, seq in results:
            if seq is None:
                raise BudgetLedgerCorrupt(len(rows) + 1, "a stored result has no charge")
            if hashlib.sha256(bytes(result)).digest() != bytes(digest):
                raise BudgetLedgerCorrupt(int(seq), "its stored result does not match its hash")
        return len(rows)
