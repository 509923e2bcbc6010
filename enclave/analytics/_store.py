"""Stored queries (``ZONE/state/queries.db``, WAL): what ``Submit`` accepted or sent to review,
and the stewards' review of them (issue 11).

A ``queries`` row holds who submitted (client, organization), for which purpose and view, its
status, the policy version it was judged under, when, and the query's text SEALED with the
zone's data key (AES-256-GCM, the query id as associated data): a partner's SQL is free text
and may carry anything, so it is never written in clear. Rejected queries are not stored
(their answer carried every reason).

The review is append-only:

- ``reviews``: one row per steward decision -- who (the steward's subject, i.e. the token's
  ``sub``, their organization and the client they called through), when, and for an approval
  its conditions (mode, epsilon in micro-epsilon, expiry, runs); for a rejection the reason,
  free text the partner reads, SEALED like the SQL (associated data ``query_rejection:<id>``).
  A steward decides a query once per kind of decision.
- ``runs``: one row per run of a reviewed query, numbered 1..max_runs, written BEFORE its
  answer is released (:meth:`SqliteQueryStore.count_run`).
- a query's ``status`` moves once, from PENDING_REVIEW to ACCEPTED or REJECTED, in the same
  transaction as the decision that moves it; nothing else of a row ever changes.

Triggers refuse every other UPDATE and every DELETE, so not even a bug in this module can
rewrite a decision. Each decision is one ``BEGIN IMMEDIATE`` transaction that reads the
query's state and appends under SQLite's write lock, so two stewards (threads or processes)
deciding at once are serialised: the invariants -- pending only, a steward approves once,
nobody reviews their own organization's submission, ``needed`` approvals accept -- hold
whatever the interleaving. The caller's ``record`` runs inside it, after the append and
before the commit: the zone writes the decision's audit leaf there, durable before the
decision is.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

from enclave._fsio import open_wal_database
from enclave.analytics.errors import (
    ApprovalExpired,
    QueryNotFound,
    QueryNotPending,
    ReviewOwnSubmission,
    ReviewSameSteward,
    RunsExhausted,
)

__all__ = [
    "QUERY_ID",
    "Approval",
    "Conditions",
    "QueryStatus",
    "Reviewer",
    "Sealer",
    "SqliteQueryStore",
    "StewardRejection",
    "StoredQuery",
]

QUERY_ID = re.compile(r"qry_[A-Za-z0-9_-]{24}")
"""The format of a stored query's id."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    query_id TEXT NOT NULL UNIQUE,
    organization TEXT NOT NULL,
    client_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    view TEXT NOT NULL,
    status TEXT NOT NULL,
    reasons TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    submitted_at INTEGER NOT NULL,
    sql_sealed BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS queries_by_organization ON queries (organization, seq);
CREATE INDEX IF NOT EXISTS queries_by_status ON queries (status, policy_version, seq);
CREATE TABLE IF NOT EXISTS reviews (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    query_id TEXT NOT NULL REFERENCES queries (query_id),
    decision TEXT NOT NULL CHECK (decision IN ('APPROVE', 'REJECT')),
    steward TEXT NOT NULL,
    organization TEXT NOT NULL,
    client_id TEXT NOT NULL,
    decided_at INTEGER NOT NULL,
    mode TEXT CHECK (mode IN ('exact', 'dp')),
    epsilon_micro INTEGER CHECK (epsilon_micro >= 0),
    expires_at INTEGER,
    max_runs INTEGER CHECK (max_runs >= 1),
    reason_sealed BLOB,
    CHECK ((decision = 'APPROVE') = (mode IS NOT NULL AND expires_at IS NOT NULL
                                     AND max_runs IS NOT NULL AND reason_sealed IS NULL)),
    UNIQUE (query_id, steward, decision)
);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    query_id TEXT NOT NULL REFERENCES queries (query_id),
    run INTEGER NOT NULL CHECK (run >= 1),
    request_id TEXT NOT NULL,
    ran_at INTEGER NOT NULL,
    UNIQUE (query_id, run)
);
CREATE TRIGGER IF NOT EXISTS queries_status_moves_once BEFORE UPDATE ON queries
WHEN OLD.status <> 'PENDING_REVIEW' OR NEW.status NOT IN ('ACCEPTED', 'REJECTED')
  OR NEW.seq IS NOT OLD.seq OR NEW.query_id IS NOT OLD.query_id
  OR NEW.organization IS NOT OLD.organization OR NEW.client_id IS NOT OLD.client_id
  OR NEW.purpose IS NOT OLD.purpose OR NEW.view IS NOT OLD.view
  OR NEW.reasons IS NOT OLD.reasons OR NEW.policy_version IS NOT OLD.policy_version
  OR NEW.submitted_at IS NOT OLD.submitted_at OR NEW.sql_sealed IS NOT OLD.sql_sealed
BEGIN SELECT RAISE(ABORT, 'a stored query changes only its status, once, from PENDING_REVIEW'); END;
CREATE TRIGGER IF NOT EXISTS queries_never_deleted BEFORE DELETE ON queries
BEGIN SELECT RAISE(ABORT, 'stored queries are never deleted'); END;
CREATE TRIGGER IF NOT EXISTS reviews_append_only BEFORE UPDATE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
CREATE TRIGGER IF NOT EXISTS reviews_never_deleted BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
CREATE TRIGGER IF NOT EXISTS runs_append_only BEFORE UPDATE ON runs
BEGIN SELECT RAISE(ABORT, 'runs are append-only'); END;
CREATE TRIGGER IF NOT EXISTS runs_never_deleted BEFORE DELETE ON runs
BEGIN SELECT RAISE(ABORT, 'runs are append-only'); END;
"""
_COLUMNS = (
    "seq, query_id, purpose, view, status, reasons, policy_version, submitted_at, sql_sealed,"
    " organization, client_id"
)
_REVIEW_COLUMNS = (
    "decision, steward, organization, client_id, decided_at, mode, epsilon_micro, expires_at,"
    " max_runs, reason_sealed"
)

Mode = Literal["exact", "dp"]


class QueryStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    PENDING_REVIEW = "PENDING_REVIEW"
    REJECTED = "REJECTED"


class Sealer(Protocol):
    """Authenticated encryption under the zone's data key (``enclave.keys.Keyring``)."""

    def encrypt(self, column: str, value: str) -> bytes: ...
    def decrypt(self, column: str, blob: bytes) -> str: ...


@dataclass(frozen=True)
class Reviewer:
    """A steward as the zone authenticated them: ``subject`` is the human (the token's
    ``sub``, e.g. ``user:3``), ``organization`` theirs, ``client_id`` the app they called
    through (the portal's steward pages, or the operator's CLI)."""

    subject: str
    organization: str
    client_id: str


@dataclass(frozen=True)
class Conditions:
    """How an approved query runs: ``mode``, ``epsilon_micro`` per run (0 for exact), until
    ``expires_at`` (UTC, exclusive), at most ``max_runs`` times."""

    mode: Mode
    epsilon_micro: int
    expires_at: dt.datetime
    max_runs: int


@dataclass(frozen=True)
class Approval:
    reviewer: Reviewer
    at: dt.datetime
    conditions: Conditions


@dataclass(frozen=True)
class StewardRejection:
    """A steward's rejection; ``reason`` is what the partner reads (unsealed)."""

    reviewer: Reviewer
    at: dt.datetime
    reason: str


@dataclass(frozen=True)
class StoredQuery:
    """A stored query (the text unsealed) and its review: ``approvals`` oldest first, the
    ``rejection`` if a steward rejected it, ``runs`` counted so far."""

    query_id: str
    status: QueryStatus
    view: str
    purpose: str
    sql: str
    reasons: tuple[str, ...]
    policy_version: str
    submitted_at: dt.datetime
    seq: int
    organization: str = ""
    client_id: str = ""
    approvals: tuple[Approval, ...] = ()
    rejection: StewardRejection | None = None
    runs: int = 0
    #: how many approvals accepting it takes: 2 on a view the policy in force flags
    #: sensitive (filled in by the zone from the policy, not stored)
    approvals_needed: int = 1

    @property
    def reviewed(self) -> bool:
        """A steward decided it: rejected, or accepted after review."""
        return self.rejection is not None or (
            self.status is QueryStatus.ACCEPTED and bool(self.approvals)
        )

    @property
    def conditions(self) -> Conditions | None:
        """The conditions it runs under when accepted after review (None otherwise): every
        approval's, combined strictest -- DP if any approval asked for it, the smallest
        epsilon of those, the earliest expiry, the fewest runs. Each steward approved only
        under their own conditions, so a run must meet all of them."""
        if self.status is not QueryStatus.ACCEPTED or not self.approvals:
            return None
        return combined(tuple(a.conditions for a in self.approvals))

    @property
    def runs_left(self) -> int:
        conditions = self.conditions
        return 0 if conditions is None else max(conditions.max_runs - self.runs, 0)


def combined(conditions: tuple[Conditions, ...]) -> Conditions:
    """``conditions`` (at least one) combined strictest (see :attr:`StoredQuery.conditions`)."""
    if not conditions:
        raise ValueError("no conditions to combine")
    dp = [c.epsilon_micro for c in conditions if c.mode == "dp"]
    return Conditions(
        mode="dp" if dp else "exact",
        epsilon_micro=min(dp) if dp else 0,
        expires_at=min(c.expires_at for c in conditions),
        max_runs=min(c.max_runs for c in conditions),
    )


def _aad(query_id: str) -> str:
    return f"query_sql:{query_id}"


def _reason_aad(query_id: str) -> str:
    return f"query_rejection:{query_id}"


class SqliteQueryStore:
    """The zone's stored queries in SQLite. Thread-safe; every write one durable transaction."""

    def __init__(self, connection: sqlite3.Connection, sealer: Sealer) -> None:
        self._db = connection
        self._sealer = sealer
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, sealer: Sealer, *, synchronous: str = "FULL") -> SqliteQueryStore:
        db = open_wal_database(path, synchronous=synchronous)
        db.executescript(_SCHEMA)
        return cls(db, sealer)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(
        self,
        *,
        organization: str,
        client_id: str,
        purpose: str,
        view: str,
        status: QueryStatus,
        reasons: tuple[str, ...],
        policy_version: str,
        sql: str,
        now: dt.datetime,
    ) -> StoredQuery:
        """Store a query; returns it with its new id."""
        query_id = f"qry_{secrets.token_urlsafe(18)}"
        sealed = self._sealer.encrypt(_aad(query_id), sql)
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO queries (query_id, organization, client_id, purpose, view, status,"
                " reasons, policy_version, submitted_at, sql_sealed)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    query_id,
                    organization,
                    client_id,
                    purpose,
                    view,
                    status.value,
                    json.dumps(list(reasons)),
                    policy_version,
                    int(now.timestamp()),
                    sealed,
                ),
            )
            seq = int(cursor.lastrowid or 0)
        return StoredQuery(
            query_id,
            status,
            view,
            purpose,
            sql,
            reasons,
            policy_version,
            _at(now),
            seq,
            organization,
            client_id,
        )

    def get(self, organization: str, query_id: str) -> StoredQuery | None:
        """The organization's query with this id (None: none, or another organization's)."""
        with self._lock:
            found = self._find(query_id)
        return found if found is not None and found.organization == organization else None

    def find(self, query_id: str) -> StoredQuery | None:
        """The query with this id, whoever submitted it (for stewards)."""
        with self._lock:
            return self._find(query_id)

    def page(self, organization: str, *, limit: int, before: int | None) -> list[StoredQuery]:
        """Up to ``limit`` of the organization's queries, newest first, older than ``before``."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM queries WHERE organization = ? AND seq < ?"  # noqa: S608
                " ORDER BY seq DESC LIMIT ?",
                (organization, before if before is not None else 2**62, limit),
            ).fetchall()
            return [self._row(row) for row in rows]

    def pending(self, policy_version: str, *, limit: int, after: int) -> list[StoredQuery]:
        """Up to ``limit`` queries PENDING_REVIEW under ``policy_version``, oldest first,
        after the sequence number ``after``."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM queries WHERE status = ? AND policy_version = ?"  # noqa: S608
                " AND seq > ? ORDER BY seq LIMIT ?",
                (QueryStatus.PENDING_REVIEW.value, policy_version, after, limit),
            ).fetchall()
            return [self._row(row) for row in rows]

    # -- decisions ----------------------------------------------------------------------------
    def approve(
        self,
        query_id: str,
        reviewer: Reviewer,
        conditions: Conditions,
        *,
        needed: int,
        policy_version: str,
        now: dt.datetime,
        record: Callable[[StoredQuery], None],
    ) -> StoredQuery:
        """Append ``reviewer``'s approval; with ``needed`` approvals by different stewards the
        query is ACCEPTED. Returns the query as it stands after.

        Raises :class:`QueryNotFound`, :class:`QueryNotPending` (not PENDING_REVIEW or not
        judged under ``policy_version``), :class:`ReviewOwnSubmission`,
        :class:`ReviewSameSteward`; then nothing was written.
        """
        if needed < 1:
            raise ValueError("needed must be at least 1")
        with self._transaction():
            stored = self._decidable(query_id, reviewer, policy_version)
            if any(a.reviewer.subject == reviewer.subject for a in stored.approvals):
                raise ReviewSameSteward()
            self._db.execute(
                f"INSERT INTO reviews (query_id, {_REVIEW_COLUMNS})"  # noqa: S608
                " VALUES (?, 'APPROVE', ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    query_id,
                    *_who(reviewer),
                    int(now.timestamp()),
                    conditions.mode,
                    conditions.epsilon_micro,
                    int(conditions.expires_at.timestamp()),
                    conditions.max_runs,
                ),
            )
            if len(stored.approvals) + 1 >= needed:
                self._set_status(query_id, QueryStatus.ACCEPTED)
            after = self._find(query_id)
            assert after is not None  # read in this very transaction
            record(after)
        return after

    def reject(
        self,
        query_id: str,
        reviewer: Reviewer,
        reason: str,
        *,
        policy_version: str,
        now: dt.datetime,
        record: Callable[[StoredQuery], None],
    ) -> StoredQuery:
        """Append ``reviewer``'s rejection (``reason`` sealed) and mark the query REJECTED.

        Raises as :meth:`approve` (but :class:`ReviewSameSteward`: a steward who approved a
        sensitive view's query may still reject it).
        """
        sealed = self._sealer.encrypt(_reason_aad(query_id), reason)
        with self._transaction():
            self._decidable(query_id, reviewer, policy_version)
            self._db.execute(
                f"INSERT INTO reviews (query_id, {_REVIEW_COLUMNS})"  # noqa: S608
                " VALUES (?, 'REJECT', ?, ?, ?, ?, NULL, NULL, NULL, NULL, ?)",
                (query_id, *_who(reviewer), int(now.timestamp()), sealed),
            )
            self._set_status(query_id, QueryStatus.REJECTED)
            after = self._find(query_id)
            assert after is not None
            record(after)
        return after

    def count_run(self, query_id: str, *, request_id: str, now: dt.datetime) -> int:
        """Count one run of a query accepted after review, durably, BEFORE its answer is
        released; returns its number (1..max_runs).

        Raises :class:`ApprovalExpired` at or after the expiry and :class:`RunsExhausted` when
        every allowed run is counted (then nothing was written); :class:`QueryNotFound` for an
        unknown id. A query accepted without review has no runs to count: ValueError (a bug).
        """
        with self._transaction():
            stored = self._find(query_id)
            if stored is None:
                raise QueryNotFound()
            conditions = stored.conditions
            if conditions is None:
                raise ValueError("only a query accepted after review counts its runs")
            if now >= conditions.expires_at:
                raise ApprovalExpired()
            if stored.runs >= conditions.max_runs:
                raise RunsExhausted()
            run = stored.runs + 1
            self._db.execute(
                "INSERT INTO runs (query_id, run, request_id, ran_at) VALUES (?, ?, ?, ?)",
                (query_id, run, request_id, int(now.timestamp())),
            )
        return run

    # -- inside ---------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` transaction under the lock: committed if the block returns,
        rolled back if it raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _decidable(self, query_id: str, reviewer: Reviewer, policy_version: str) -> StoredQuery:
        stored = self._find(query_id)
        if stored is None:
            raise QueryNotFound()
        if stored.status is not QueryStatus.PENDING_REVIEW:
            raise QueryNotPending(f"the query is {stored.status.value}, not pending review")
        if stored.policy_version != policy_version:
            raise QueryNotPending(
                "the query was judged under a policy no longer in force: the partner must "
                "submit it again"
            )
        own = reviewer.organization == stored.organization or stored.client_id in (
            reviewer.subject,
            reviewer.client_id,
        )
        if own:
            raise ReviewOwnSubmission()
        return stored

    def _set_status(self, query_id: str, status: QueryStatus) -> None:
        self._db.execute("UPDATE queries SET status = ? WHERE query_id = ?", (status, query_id))

    def _find(self, query_id: str) -> StoredQuery | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM queries WHERE query_id = ?",  # noqa: S608
            (query_id,),
        ).fetchone()
        return None if row is None else self._row(row)

    def _row(self, row: tuple[Any, ...]) -> StoredQuery:
        seq, query_id, purpose, view, status, reasons, version, at, sealed, org, client = row
        query_id = str(query_id)
        approvals: list[Approval] = []
        rejection: StewardRejection | None = None
        for review in self._db.execute(
            f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE query_id = ? ORDER BY seq",  # noqa: S608
            (query_id,),
        ).fetchall():
            decision, steward, steward_org, steward_client, decided_at = review[:5]
            mode, epsilon_micro, expires_at, max_runs, reason_sealed = review[5:]
            reviewer = Reviewer(str(steward), str(steward_org), str(steward_client))
            when = _from_seconds(decided_at)
            if decision == "APPROVE":
                conditions = Conditions(
                    mode="dp" if mode == "dp" else "exact",
                    epsilon_micro=int(epsilon_micro),
                    expires_at=_from_seconds(expires_at),
                    max_runs=int(max_runs),
                )
                approvals.append(Approval(reviewer, when, conditions))
            else:
                reason = self._sealer.decrypt(_reason_aad(query_id), bytes(reason_sealed))
                rejection = StewardRejection(reviewer, when, reason)
        (runs,) = self._db.execute(
            "SELECT COUNT(*) FROM runs WHERE query_id = ?", (query_id,)
        ).fetchone()
        return StoredQuery(
            query_id=query_id,
            status=QueryStatus(status),
            view=str(view),
            purpose=str(purpose),
            sql=self._sealer.decrypt(_aad(query_id), bytes(sealed)),
            reasons=tuple(str(r) for r in json.loads(reasons)),
            policy_version=str(version),
            submitted_at=_from_seconds(at),
            seq=int(seq),
            organization=str(org),
            client_id=str(client),
            approvals=tuple(approvals),
            rejection=rejection,
            runs=int(runs),
        )


def _who(reviewer: Reviewer) -> tuple[str, str, str]:
    return reviewer.subject, reviewer.organization, reviewer.client_id


def _from_seconds(value: object) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(str(value)), tz=dt.UTC)


def _at(now: dt.datetime) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(now.timestamp()), tz=dt.UTC)
