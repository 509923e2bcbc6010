"""The SQLite consent store (``ZONE/state/consent.db``, WAL, ``synchronous=FULL``).

Reads do not queue behind one lock (issue 15: a check waited ≈10 ms for it under load). Each
thread that reads gets its own read-only connection; in WAL mode readers do not block each
other nor the writer. Every write (grant, revoke, consume) goes through the ONE writer
connection behind the lock. All connections are in autocommit mode and every read steps its
statement to the end, so no read transaction outlives its call: each read starts a new WAL
snapshot and sees every write committed before it began, on whichever thread.

The lookup by a person's token (every check asks it first) is answered from memory once it
has been read (issue 15: 140 µs a check alone, 360 µs under load, a fifth of the worker's
time): per (partner, purpose, token), the consents that can still become valid (not revoked,
not used if single-use), filtered by the instant at each lookup. Only this store writes the
database while it is open (the zone's core holds the audit log's lock, and every process
that opens the core goes through the serving one), so it keeps the memory in step itself:
every write drops what it may change and bumps a generation, before it runs and again once
it has committed, and a list read from the database is kept only if no write began while it
was read. So after ``revoke`` or ``consume`` returns, no lookup answers from before it; a
lookup racing the write may, as a check already in flight. The guardians' lookup (by person
ids) always reads the database: it is asked for a number the registry does not hold as for
one it holds, and must cost the same either way (issue 8), which a cache of person ids would
not. At most ``cached_tokens`` lists are kept (the oldest dropped first).
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from enclave._fsio import open_wal_database
from enclave.consent.errors import ConsentNotFound
from enclave.consent.interface import Consent

__all__ = ["SqliteConsentStore"]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS consents (
    consent_ref TEXT PRIMARY KEY,
    partner TEXT NOT NULL,
    person_token BLOB NOT NULL,
    person_id INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    single_use INTEGER NOT NULL,
    used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS consents_by_token ON consents (partner, purpose, person_token);
CREATE INDEX IF NOT EXISTS consents_by_person ON consents (partner, purpose, person_id);
"""
_COLUMNS = (
    "consent_ref, partner, person_token, person_id, purpose, valid_from, valid_until, "
    "single_use, used_at, revoked_at"
)
# A reader waits this long for the rare WAL-index lock (recovery, wal reset) before failing.
_READER_BUSY_MS = 5_000
#: How many (partner, purpose, token) consent lists the store keeps in memory by default.
CACHED_TOKENS = 100_000
_UNSPENT = "revoked_at IS NULL AND (single_use = 0 OR used_at IS NULL)"
_VALID = (
    "valid_from <= :t AND :t < valid_until AND revoked_at IS NULL "
    "AND (single_use = 0 OR used_at IS NULL)"
)


def _ts(value: dt.datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("consent instants must be timezone-aware")
    return int(value.timestamp() * 1_000_000)


_Unspent = tuple[Consent, int, int]  # the consent, valid_from and valid_until in microseconds


def _dt(value: int | None) -> dt.datetime | None:
    if value is None:
        return None
    return dt.datetime.fromtimestamp(value / 1_000_000, tz=dt.UTC)


def _row(row: tuple[Any, ...]) -> Consent:
    ref, partner, token, pid, purpose, start, until, single, used, revoked = row
    return Consent(
        consent_ref=str(ref),
        partner=str(partner),
        person_token=bytes(token),
        person_id=int(pid),
        purpose=str(purpose),
        valid_from=dt.datetime.fromtimestamp(start / 1_000_000, tz=dt.UTC),
        valid_until=dt.datetime.fromtimestamp(until / 1_000_000, tz=dt.UTC),
        single_use=bool(single),
        used_at=_dt(used),
        revoked_at=_dt(revoked),
    )


class SqliteConsentStore:
    """Implements :class:`enclave.consent.ConsentStore` in SQLite. Thread-safe; every write is
    one durable transaction on the single writer connection; reads run on a read-only
    connection of the calling thread (opened on its first read, closed by :meth:`close`)."""

    def __init__(
        self, path: Path, writer: sqlite3.Connection, *, cached_tokens: int = CACHED_TOKENS
    ) -> None:
        """Use :meth:`open`. ``writer`` is the open WAL connection to the database at ``path``."""
        self._uri = f"{path.resolve().as_uri()}?mode=ro"
        self._db = writer
        self._lock = threading.Lock()  # serialises the writer connection
        self._local = threading.local()
        self._readers: dict[threading.Thread, sqlite3.Connection] = {}
        self._readers_lock = threading.Lock()
        self._closed = False
        # (partner, purpose, token) -> its unspent consents (standing first, longest first),
        # each with its validity in the database's microseconds
        self._by_token: dict[tuple[str, str, bytes], tuple[_Unspent, ...]] = {}
        self._cache_lock = threading.Lock()
        self._generation = 0  # bumped by every write, before it runs and once it committed
        self._cached_tokens = cached_tokens

    @classmethod
    def open(
        cls, path: Path, *, synchronous: str = "FULL", cached_tokens: int = CACHED_TOKENS
    ) -> SqliteConsentStore:
        db = open_wal_database(path, synchronous=synchronous)
        db.executescript(_SCHEMA)
        return cls(path, db, cached_tokens=cached_tokens)

    def _forget(self, key: tuple[str, str, bytes] | None) -> None:
        """Drop ``key``'s list (every list if None) and start a new generation."""
        with self._cache_lock:
            self._generation += 1
            if key is None:
                self._by_token.clear()
            else:
                self._by_token.pop(key, None)

    def _unspent(self, key: tuple[str, str, bytes]) -> tuple[_Unspent, ...]:
        """``key``'s unspent consents: from memory, or read and kept unless a write began."""
        with self._cache_lock:
            found = self._by_token.get(key)
            generation = self._generation
        if self._closed:
            raise sqlite3.ProgrammingError("the consent store is closed")
        if found is not None:
            return found
        partner, purpose, token = key
        rows = (
            self._reader()
            .execute(
                f"SELECT {_COLUMNS} FROM consents WHERE partner = ? AND purpose = ? "  # noqa: S608
                f"AND person_token = ? AND {_UNSPENT} ORDER BY single_use ASC, valid_until DESC",
                (partner, purpose, token),
            )
            .fetchall()
        )
        found = tuple((_row(row), row[5], row[6]) for row in rows)
        with self._cache_lock:
            if self._generation == generation:
                while self._by_token and len(self._by_token) >= self._cached_tokens:
                    self._by_token.pop(next(iter(self._by_token)))
                if self._cached_tokens > 0:
                    self._by_token[key] = found
        return found

    def close(self) -> None:
        """Close every thread's read connection, then the writer. Call after the last call."""
        with self._readers_lock:
            self._closed = True
            readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            reader.close()
        with self._lock:
            self._db.close()

    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only connection, opened on first use."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            return db
        with self._readers_lock:
            if self._closed:
                raise sqlite3.ProgrammingError("the consent store is closed")
            # Threads come and go (a pool resized, a test's threads): close what dead ones left.
            for thread in [t for t in self._readers if not t.is_alive()]:
                self._readers.pop(thread).close()
            db = sqlite3.connect(self._uri, uri=True, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout={_READER_BUSY_MS}")
            db.execute("PRAGMA query_only=1")
            self._readers[threading.current_thread()] = db
        self._local.db = db
        return db

    def _read_one(
        self, sql: str, params: tuple[object, ...] | dict[str, object]
    ) -> tuple[Any, ...] | None:
        """The first row of a read on this thread's connection. ``fetchall`` steps the
        statement to its end, so the implicit read transaction ends here, not when the cursor
        is collected (a lingering one would pin an old snapshot and hide later writes)."""
        rows = self._reader().execute(sql, params).fetchall()
        return rows[0] if rows else None

    def grant(
        self,
        *,
        partner: str,
        person_token: bytes,
        person_id: int,
        purpose: str,
        valid_from: dt.datetime,
        valid_until: dt.datetime,
        single_use: bool,
    ) -> Consent:
        if not partner or valid_until <= valid_from:
            raise ValueError("a consent needs a partner and a non-empty validity")
        consent = Consent(
            f"cns_{secrets.token_urlsafe(18)}",
            partner,
            person_token,
            person_id,
            purpose,
            valid_from,
            valid_until,
            single_use,
        )
        key = (partner, purpose, person_token)
        with self._lock:
            self._forget(key)
            self._db.execute(
                f"INSERT INTO consents ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,NULL,NULL)",  # noqa: S608
                (
                    consent.consent_ref,
                    partner,
                    person_token,
                    person_id,
                    purpose,
                    _ts(valid_from),
                    _ts(valid_until),
                    int(single_use),
                ),
            )
            self._forget(key)
        return consent

    def exists(self, consent_ref: str) -> bool:
        return (
            self._read_one("SELECT 1 FROM consents WHERE consent_ref = ?", (consent_ref,))
            is not None
        )

    def get(self, consent_ref: str) -> Consent:
        row = self._read_one(
            f"SELECT {_COLUMNS} FROM consents WHERE consent_ref = ?",  # noqa: S608
            (consent_ref,),
        )
        if row is None:
            raise ConsentNotFound()
        return _row(row)

    def revoke(self, consent_ref: str, at: dt.datetime) -> Consent:
        with self._lock:
            self._forget(None)  # revocations are rare: every list, not only this one's
            cursor = self._db.execute(
                "UPDATE consents SET revoked_at = ? WHERE consent_ref = ? AND revoked_at IS NULL",
                (_ts(at), consent_ref),
            )
            self._forget(None)
        if cursor.rowcount == 0:
            self.get(consent_ref)  # raises ConsentNotFound when there is no such consent
        return self.get(consent_ref)

    def find_valid(
        self,
        *,
        partner: str,
        purpose: str,
        at: dt.datetime,
        person_token: bytes | None = None,
        person_ids: Sequence[int] = (),
        consent_ref: str | None = None,
    ) -> Consent | None:
        """A consent valid at ``at`` for the person token or one of ``person_ids`` (holders).

        With ``consent_ref``, only that consent qualifies. Longest-lasting first, so a
        standing consent is preferred over a single-use one.
        """
        if person_token is not None and not person_ids:
            t = _ts(at)
            for consent, valid_from, valid_until in self._unspent((partner, purpose, person_token)):
                if valid_from <= t < valid_until and consent_ref in (None, consent.consent_ref):
                    return consent
            return None
        who: list[str] = []
        params: dict[str, object] = {"p": partner, "u": purpose, "t": _ts(at)}
        if person_token is not None:
            who.append("person_token = :tok")
            params["tok"] = person_token
        if person_ids:
            names = [f":id{i}" for i in range(len(person_ids))]
            who.append(f"person_id IN ({', '.join(names)})")
            params.update({n[1:]: pid for n, pid in zip(names, person_ids, strict=True)})
        if not who:
            return None
        ref_clause = ""
        if consent_ref is not None:
            ref_clause = " AND consent_ref = :ref"
            params["ref"] = consent_ref
        # Only constant fragments are spliced in; every value is a bound parameter.
        sql = (
            f"SELECT {_COLUMNS} FROM consents WHERE partner = :p AND purpose = :u "  # noqa: S608
            f"AND ({' OR '.join(who)}) AND {_VALID}{ref_clause} "
            "ORDER BY single_use ASC, valid_until DESC LIMIT 1"
        )
        row = self._read_one(sql, params)
        return None if row is None else _row(row)

    def consume(self, consent: Consent, at: dt.datetime) -> bool:
        """Mark a single-use consent used; False if another request used it first.

        A conditional UPDATE on the writer, so of concurrent callers that all found it valid
        exactly one wins, whatever their read connections saw."""
        if not consent.single_use:
            return True
        with self._lock:
            # a new generation (and the value's key dropped); the row's own key, from the
            # database, is dropped once the UPDATE committed -- never trust the value's fields
            self._forget((consent.partner, consent.purpose, consent.person_token))
            rows = self._db.execute(
                "UPDATE consents SET used_at = ? WHERE consent_ref = ? AND used_at IS NULL "
                "RETURNING partner, purpose, person_token",
                (_ts(at), consent.consent_ref),
            ).fetchall()
            for partner, purpose, token in rows:
                self._forget((str(partner), str(purpose), bytes(token)))
        return len(rows) == 1
