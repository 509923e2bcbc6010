"""The SQLite audit store: WAL mode, ``PRAGMA synchronous`` from the settings (FULL default).

One connection, serialized by a lock: the log's committer thread is the only writer, and every
write is one explicit ``BEGIN IMMEDIATE`` ... ``COMMIT`` -- with synchronous=FULL the commit
fsyncs the WAL, so an entry is on disk when :meth:`append` returns.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from enclave.audit.errors import AuditStorageError
from enclave.audit.interface import NewCheckpoint, NewLeaf, StoredCheckpoint, StoredLeaf

_SYNC_MODES = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS leaves (
    idx INTEGER PRIMARY KEY,
    leaf BLOB NOT NULL,
    leaf_hash BLOB NOT NULL,
    person_token TEXT,
    request_id TEXT
);
CREATE INDEX IF NOT EXISTS leaves_person ON leaves (person_token) WHERE person_token IS NOT NULL;
CREATE INDEX IF NOT EXISTS leaves_request ON leaves (request_id) WHERE request_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    note TEXT NOT NULL
);
"""
_BATCH = 10_000
# Leaves are inserted by statements of 2**k rows (at most _MAX_ROWS), a commit's rows in as few
# statements as their count has bits: ``executemany`` steps SQLite once per row, and each step
# gives Python's GIL up and takes it back -- under a busy server's load each take a wait for
# another thread (issue 15: a 30-row commit cost 107-123 ms of wall time beside one busy
# thread, against 13-15 ms for one 30-row statement). At most log2(_MAX_ROWS) + 1 statement
# texts, so SQLite's prepared-statement cache keeps them.
_MAX_ROWS = 256


def _statement_rows(rows: int) -> list[int]:
    """How ``rows`` leaves are split into statements: powers of two, largest first, none over
    _MAX_ROWS (30 rows: 16, 8, 4, 2)."""
    counts = []
    while rows > 0:
        count = min(_MAX_ROWS, 1 << rows.bit_length() - 1)
        counts.append(count)
        rows -= count
    return counts


@functools.cache
def _leaf_insert(rows: int) -> str:
    return "INSERT INTO leaves VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * rows)  # noqa: S608 (no data: a count)


class SqliteAuditStore:
    """An :class:`~enclave.audit.interface.AuditStore` in one SQLite file."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls, path: Path, synchronous: str = "FULL", *, read_only: bool = False
    ) -> SqliteAuditStore:
        mode = synchronous.upper()
        if mode not in _SYNC_MODES:
            raise AuditStorageError(
                f"audit.sqlite_synchronous must be one of {', '.join(sorted(_SYNC_MODES))}"
            )
        try:
            if read_only:
                if not path.exists():
                    raise AuditStorageError(f"no audit log at {path}")
                conn = sqlite3.connect(
                    f"{path.resolve().as_uri()}?mode=ro",
                    uri=True,
                    check_same_thread=False,
                    isolation_level=None,
                )
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute(f"PRAGMA synchronous={mode}")  # validated against _SYNC_MODES above
        except sqlite3.Error as exc:
            raise AuditStorageError(f"cannot open the audit log at {path}: {exc}") from exc
        return cls(conn, path)

    def _write(self, statements: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for sql, rows in statements:
                        self._conn.executemany(sql, rows)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise AuditStorageError(f"the audit store refused a write: {exc}") from exc

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params))
            except sqlite3.Error as exc:
                raise AuditStorageError(f"the audit store refused a read: {exc}") from exc

    def append(self, leaves: Sequence[NewLeaf], checkpoint: NewCheckpoint | None = None) -> None:
        statements: list[tuple[str, Sequence[Sequence[object]]]] = []
        start = 0
        for count in _statement_rows(len(leaves)):  # a few statements of many rows each
            values: list[object] = []
            for x in leaves[start : start + count]:
                values += (x.index, x.leaf, x.leaf_hash, x.person_token, x.request_id)
            statements.append((_leaf_insert(count), [values]))
            start += count
        if checkpoint is not None:
            statements.append(
                (
                    "INSERT INTO checkpoints (size, note) VALUES (?, ?)",
                    [(checkpoint.size, checkpoint.note)],
                )
            )
        self._write(statements)

    def add_checkpoint(self, size: int, note: str) -> StoredCheckpoint:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                cur = self._conn.execute(
                    "INSERT INTO checkpoints (size, note) VALUES (?, ?)", (size, note)
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise AuditStorageError(f"the audit store refused a checkpoint: {exc}") from exc
        assert cur.lastrowid is not None
        return StoredCheckpoint(seq=cur.lastrowid, size=size, note=note)

    def size(self) -> int:
        (row,) = self._read("SELECT COUNT(*) FROM leaves")
        return int(row[0])

    def leaves(self, start: int = 0) -> Iterator[StoredLeaf]:
        # Paged by primary key so a million leaves never sit in memory at once.
        nxt = start
        while True:
            rows = self._read(
                "SELECT idx, leaf, leaf_hash FROM leaves WHERE idx >= ? ORDER BY idx LIMIT ?",
                (nxt, _BATCH),
            )
            for row in rows:
                yield _leaf(row)
            if len(rows) < _BATCH:
                return
            nxt = int(rows[-1][0]) + 1

    def leaf_hashes(self) -> Iterator[bytes]:
        nxt = 0
        while True:
            rows = self._read(
                "SELECT idx, leaf_hash FROM leaves WHERE idx >= ? ORDER BY idx LIMIT ?",
                (nxt, _BATCH * 10),
            )
            for row in rows:
                yield _blob(row[1])
            if len(rows) < _BATCH * 10:
                return
            nxt = int(rows[-1][0]) + 1

    def tail(self, n: int) -> list[StoredLeaf]:
        rows = self._read(
            "SELECT idx, leaf, leaf_hash FROM leaves ORDER BY idx DESC LIMIT ?", (max(n, 0),)
        )
        return [_leaf(row) for row in reversed(rows)]

    def leaves_before(self, end: int, limit: int) -> list[StoredLeaf]:
        rows = self._read(
            "SELECT idx, leaf, leaf_hash FROM leaves WHERE idx < ? ORDER BY idx DESC LIMIT ?",
            (end, max(limit, 0)),
        )
        return [_leaf(row) for row in rows]

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self._read("SELECT seq, size, note FROM checkpoints ORDER BY seq")
        return [StoredCheckpoint(int(s), int(z), str(n)) for s, z, n in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        rows = self._read("SELECT seq, size, note FROM checkpoints ORDER BY seq DESC LIMIT 1")
        return StoredCheckpoint(int(rows[0][0]), int(rows[0][1]), str(rows[0][2])) if rows else None

    def by_person(self, person_token: str) -> list[StoredLeaf]:
        rows = self._read(
            "SELECT idx, leaf, leaf_hash FROM leaves WHERE person_token = ? ORDER BY idx",
            (person_token,),
        )
        return [_leaf(row) for row in rows]

    def by_request(self, request_ids: Sequence[str]) -> list[StoredLeaf]:
        found: list[StoredLeaf] = []
        ids = list(dict.fromkeys(request_ids))
        for off in range(0, len(ids), 500):
            chunk = ids[off : off + 500]
            marks = ",".join("?" * len(chunk))
            found += [
                _leaf(row)
                for row in self._read(
                    f"SELECT idx, leaf, leaf_hash FROM leaves WHERE request_id IN ({marks})",  # noqa: S608 -- only "?" marks
                    chunk,
                )
            ]
        return sorted(found, key=lambda x: x.index)

    def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._write([("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(key, value)])])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _leaf(row: tuple[Any, ...]) -> StoredLeaf:
    idx, leaf, leaf_hash = row
    return StoredLeaf(int(idx), _blob(leaf), _blob(leaf_hash))


def _blob(value: object) -> bytes:
    # A tampered row may hold TEXT (or a number) where a BLOB belongs: hand verification the
    # bytes it holds so the hash check names the entry, instead of crashing here.
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")
