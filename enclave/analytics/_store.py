"""Stored queries (``ZONE/state/queries.db``, WAL): what ``Submit`` accepted or sent to review.

A row holds who submitted (client, organization), for which purpose and view, its status,
the policy version it was judged under, when, and the query's text SEALED with the zone's
data key (AES-256-GCM, the query id as associated data): a partner's SQL is free text and
may carry anything, so it is never written in clear. Rejected queries are not stored (their
answer carried every reason). Rows are never updated by a partner; a steward's review (the
next issue) changes only the status.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from enclave._fsio import open_wal_database

__all__ = ["QUERY_ID", "QueryStatus", "Sealer", "SqliteQueryStore", "StoredQuery"]

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
"""
_COLUMNS = "seq, query_id, purpose, view, status, reasons, policy_version, submitted_at, sql_sealed"


class QueryStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    PENDING_REVIEW = "PENDING_REVIEW"
    REJECTED = "REJECTED"


class Sealer(Protocol):
    """Authenticated encryption under the zone's data key (``enclave.keys.Keyring``)."""

    def encrypt(self, column: str, value: str) -> bytes: ...
    def decrypt(self, column: str, blob: bytes) -> str: ...


@dataclass(frozen=True)
class StoredQuery:
    """A stored query as its organization sees it (the text unsealed)."""

    query_id: str
    status: QueryStatus
    view: str
    purpose: str
    sql: str
    reasons: tuple[str, ...]
    policy_version: str
    submitted_at: dt.datetime
    seq: int


def _aad(query_id: str) -> str:
    return f"query_sql:{query_id}"


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
            query_id, status, view, purpose, sql, reasons, policy_version, _at(now), seq
        )

    def get(self, organization: str, query_id: str) -> StoredQuery | None:
        """The organization's query with this id (None: none, or another organization's)."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM queries WHERE organization = ? AND query_id = ?",  # noqa: S608
                (organization, query_id),
            ).fetchone()
        return None if row is None else self._row(row)

    def page(self, organization: str, *, limit: int, before: int | None) -> list[StoredQuery]:
        """Up to ``limit`` of the organization's queries, newest first, older than ``before``."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM queries WHERE organization = ? AND seq < ?"  # noqa: S608
                " ORDER BY seq DESC LIMIT ?",
                (organization, before if before is not None else 2**62, limit),
            ).fetchall()
        return [self._row(row) for row in rows]

    def _row(self, row: tuple[Any, ...]) -> StoredQuery:
        seq, query_id, purpose, view, status, reasons, version, at, sealed = row
        return StoredQuery(
            query_id=str(query_id),
            status=QueryStatus(status),
            view=str(view),
            purpose=str(purpose),
            sql=self._sealer.decrypt(_aad(str(query_id)), bytes(sealed)),
            reasons=tuple(str(r) for r in json.loads(reasons)),
            policy_version=str(version),
            submitted_at=dt.datetime.fromtimestamp(int(at), tz=dt.UTC),
            seq=int(seq),
        )


def _at(now: dt.datetime) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(now.timestamp()), tz=dt.UTC)
