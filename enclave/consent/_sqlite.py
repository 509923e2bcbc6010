"""The SQLite consent store (``ZONE/state/consent.db``, WAL, ``synchronous=FULL``)."""

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
_VALID = (
    "valid_from <= :t AND :t < valid_until AND revoked_at IS NULL "
    "AND (single_use = 0 OR used_at IS NULL)"
)


def _ts(value: dt.datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("consent instants must be timezone-aware")
    return int(value.timestamp() * 1_000_000)


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
    one durable transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, *, synchronous: str = "FULL") -> SqliteConsentStore:
        db = open_wal_database(path, synchronous=synchronous)
        db.executescript(_SCHEMA)
        return cls(db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

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
        with self._lock:
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
        return consent

    def exists(self, consent_ref: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM consents WHERE consent_ref = ?", (consent_ref,)
            ).fetchone()
        return row is not None

    def get(self, consent_ref: str) -> Consent:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM consents WHERE consent_ref = ?",  # noqa: S608
                (consent_ref,),
            ).fetchone()
        if row is None:
            raise ConsentNotFound()
        return _row(row)

    def revoke(self, consent_ref: str, at: dt.datetime) -> Consent:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE consents SET revoked_at = ? WHERE consent_ref = ? AND revoked_at IS NULL",
                (_ts(at), consent_ref),
            )
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
        with self._lock:
            row = self._db.execute(sql, params).fetchone()
        return None if row is None else _row(row)

    def consume(self, consent: Consent, at: dt.datetime) -> bool:
        """Mark a single-use consent used; False if another request used it first."""
        if not consent.single_use:
            return True
        with self._lock:
            cursor = self._db.execute(
                "UPDATE consents SET used_at = ? WHERE consent_ref = ? AND used_at IS NULL",
                (_ts(at), consent.consent_ref),
            )
        return cursor.rowcount == 1
