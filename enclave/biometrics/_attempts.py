"""The durable face-attempt limits (``ZONE/state/face_attempts.db``, WAL, ``synchronous=FULL``).

Every face attempt -- a selfie verification or an encrypted face match -- is one row: the
person's keyed ID-number token (never the number), the partner's organization and the
instant. Three limits are read and the row written in ONE ``BEGIN IMMEDIATE`` transaction,
so that neither threads nor processes sharing the file can both pass a limit only one of
them fits under, and a refused attempt counts nothing:

- ``PERSON_MONTH``: attempts on one person in the UTC calendar month, across ALL partners
  (a bank that cannot guess in a day cannot spread its guesses over partners either);
- ``PERSON_DAY``: the same in the UTC calendar day;
- ``PARTNER_RATE``: one partner's attempts over any person in the last 60 seconds (sliding).

The count is durable before the face work starts (a crash after :meth:`FaceAttempts.take`
has counted the attempt: a retry storm across restarts gains nothing). Rows older than both
the current month and the rate window are pruned as attempts are taken.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from types import TracebackType

from enclave._fsio import open_wal_database
from enclave.biometrics.errors import AttemptsExhausted

__all__ = [
    "FACE_ATTEMPTS_DB",
    "PARTNER_RATE",
    "PERSON_DAY",
    "PERSON_MONTH",
    "FaceAttempts",
]

#: Where a zone keeps its face attempts, under the zone directory.
FACE_ATTEMPTS_DB = Path("state") / "face_attempts.db"
PERSON_DAY = "PERSON_DAY"
PERSON_MONTH = "PERSON_MONTH"
PARTNER_RATE = "PARTNER_RATE"
_WINDOW = dt.timedelta(seconds=60)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    person_token BLOB NOT NULL,
    organization TEXT NOT NULL,
    day TEXT NOT NULL,
    month TEXT NOT NULL,
    at_micros INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_by_person_day ON attempts (person_token, day);
CREATE INDEX IF NOT EXISTS attempts_by_person_month ON attempts (person_token, month);
CREATE INDEX IF NOT EXISTS attempts_by_partner ON attempts (organization, at_micros);
CREATE INDEX IF NOT EXISTS attempts_by_time ON attempts (at_micros);
"""


def _micros(at: dt.datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _next_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def _month_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC)


def _next_month(day: dt.date) -> dt.datetime:
    if day.month == 12:
        return dt.datetime(day.year + 1, 1, 1, tzinfo=dt.UTC)
    return dt.datetime(day.year, day.month + 1, 1, tzinfo=dt.UTC)


class FaceAttempts:
    """The durable attempt limiter of the face checks
    (:class:`enclave.persons.AttemptLimiter`). Thread-safe; processes sharing the file are
    serialized by SQLite's write lock."""

    def __init__(
        self,
        path: Path,
        *,
        per_day: int = 3,
        per_month: int = 10,
        partner_per_minute: int = 60,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 10_000,
    ) -> None:
        """Open (or create) the attempts database at ``path`` (a zone's is
        ``ZONE / FACE_ATTEMPTS_DB``). Each limit is at least 1; ``per_day`` at most
        ``per_month``."""
        for name, value in (
            ("per_day", per_day),
            ("per_month", per_month),
            ("partner_per_minute", partner_per_minute),
        ):
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive integer")
        if per_day > per_month:
            raise ValueError("per_day must not exceed per_month")
        self.per_day = per_day
        self.per_month = per_month
        self.partner_per_minute = partner_per_minute
        self._db = open_wal_database(path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> FaceAttempts:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def take(self, *, person_token: bytes, organization: str, now: dt.datetime) -> None:
        """Count one face attempt on the person (their ID-number token) by ``organization``
        at ``now`` (timezone-aware), durable on return; or raise :class:`AttemptsExhausted`
        naming the limit (``PERSON_MONTH`` before ``PERSON_DAY`` before ``PARTNER_RATE``: the
        one whose ``retry_after`` is the longest) and count nothing."""
        if now.tzinfo is None:
            raise ValueError("attempt instants must be timezone-aware")
        if not person_token or not organization:
            raise ValueError("an attempt needs a person token and an organization")
        now = now.astimezone(dt.UTC)
        day = now.date()
        at = _micros(now)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._check(person_token, organization, now)
                self._db.execute(
                    "INSERT INTO attempts (person_token, organization, day, month, at_micros) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (person_token, organization, day.isoformat(), day.isoformat()[:7], at),
                )
                cutoff = min(_month_start(day), now - _WINDOW)
                self._db.execute("DELETE FROM attempts WHERE at_micros < ?", (_micros(cutoff),))
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _check(self, person_token: bytes, organization: str, now: dt.datetime) -> None:
        day = now.date()
        month = self._count(
            "SELECT COUNT(*) FROM attempts WHERE person_token = ? AND month = ?",
            (person_token, day.isoformat()[:7]),
        )
        if month >= self.per_month:
            raise AttemptsExhausted(PERSON_MONTH, (_next_month(day) - now).total_seconds())
        today = self._count(
            "SELECT COUNT(*) FROM attempts WHERE person_token = ? AND day = ?",
            (person_token, day.isoformat()),
        )
        if today >= self.per_day:
            raise AttemptsExhausted(PERSON_DAY, (_next_day(day) - now).total_seconds())
        since = _micros(now - _WINDOW)
        recent = [
            int(row[0])
            for row in self._db.execute(
                "SELECT at_micros FROM attempts WHERE organization = ? AND at_micros > ? "
                "ORDER BY at_micros",
                (organization, since),
            )
        ]
        if len(recent) >= self.partner_per_minute:
            # The window admits one more once the oldest attempts beyond the limit age out.
            frees_at = recent[len(recent) - self.partner_per_minute] + _micros_of(_WINDOW)
            raise AttemptsExhausted(PARTNER_RATE, max(0.0, (frees_at - _micros(now)) / 1e6))

    def _count(self, sql: str, params: tuple[bytes | str, ...]) -> int:
        row: tuple[int] | None = self._db.execute(sql, params).fetchone()
        return 0 if row is None else int(row[0])

    def used(self, person_token: bytes, now: dt.datetime) -> tuple[int, int]:
        """The person's attempts (today, this month), UTC calendar (for the operator and
        tests; nothing is counted)."""
        day = now.astimezone(dt.UTC).date()
        with self._lock:
            today = self._count(
                "SELECT COUNT(*) FROM attempts WHERE person_token = ? AND day = ?",
                (person_token, day.isoformat()),
            )
            month = self._count(
                "SELECT COUNT(*) FROM attempts WHERE person_token = ? AND month = ?",
                (person_token, day.isoformat()[:7]),
            )
        return today, month


def _micros_of(delta: dt.timedelta) -> int:
    return int(delta.total_seconds() * 1_000_000)
