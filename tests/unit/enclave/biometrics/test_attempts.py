"""FaceAttempts: the durable face-attempt limits (issue 13) over a real SQLite file."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from enclave.biometrics import (
    FACE_ATTEMPTS_DB,
    PARTNER_RATE,
    PERSON_DAY,
    PERSON_MONTH,
    AttemptsExhausted,
    FaceAttempts,
)

ALICE = b"\x01" * 32
BOB = b"\x02" * 32
T0 = dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / FACE_ATTEMPTS_DB


def test_per_day_limit_across_partners_then_next_utc_day(db: Path) -> None:
    with FaceAttempts(db, per_day=3, per_month=10) as attempts:
        attempts.take(person_token=ALICE, organization="bank-a", now=T0)
        attempts.take(person_token=ALICE, organization="bank-b", now=T0)
        attempts.take(person_token=ALICE, organization="bank-c", now=T0)
        with pytest.raises(AttemptsExhausted) as refused:
            attempts.take(person_token=ALICE, organization="bank-d", now=T0)
        assert refused.value.limit == PERSON_DAY
        midnight = dt.datetime(2026, 3, 15, tzinfo=dt.UTC)
        assert refused.value.retry_after == pytest.approx((midnight - T0).total_seconds())
        assert refused.value.reason == "ATTEMPTS_EXHAUSTED"
        assert attempts.used(ALICE, T0) == (3, 3)  # the refusal counted nothing
        # Another person is not affected; the next UTC day is.
        attempts.take(person_token=BOB, organization="bank-d", now=T0)
        attempts.take(person_token=ALICE, organization="bank-a", now=midnight)


def test_utc_calendar_not_local_time(db: Path) -> None:
    """23:30 in UTC+8 on the 14th is 15:30 UTC on the 14th: the same UTC day."""
    east = dt.timezone(dt.timedelta(hours=8))
    with FaceAttempts(db, per_day=1) as attempts:
        attempts.take(person_token=ALICE, organization="bank", now=T0)
        with pytest.raises(AttemptsExhausted):
            attempts.take(
                person_token=ALICE,
                organization="bank",
                now=dt.datetime(2026, 3, 14, 23, 30, tzinfo=east),
            )


def test_per_month_limit_and_retry_after_next_month(db: Path) -> None:
    with FaceAttempts(db, per_day=3, per_month=10) as attempts:
        day = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
        for n in range(10):
            attempts.take(
                person_token=ALICE, organization="bank", now=day + dt.timedelta(days=n // 3)
            )
        late = dt.datetime(2026, 12, 20, 12, tzinfo=dt.UTC)
        with pytest.raises(AttemptsExhausted) as refused:
            attempts.take(person_token=ALICE, organization="bank", now=late)
        assert refused.value.limit == PERSON_MONTH
        new_year = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
        assert refused.value.retry_after == pytest.approx((new_year - late).total_seconds())
        attempts.take(person_token=ALICE, organization="bank", now=new_year)


def test_month_is_reported_before_day_when_both_are_used_up(db: Path) -> None:
    with FaceAttempts(db, per_day=2, per_month=2) as attempts:
        attempts.take(person_token=ALICE, organization="bank", now=T0)
        attempts.take(person_token=ALICE, organization="bank", now=T0)
        with pytest.raises(AttemptsExhausted) as refused:
            attempts.take(person_token=ALICE, organization="bank", now=T0)
        assert refused.value.limit == PERSON_MONTH


def test_partner_rate_is_a_sliding_minute(db: Path) -> None:
    with FaceAttempts(db, per_day=3, per_month=10, partner_per_minute=3) as attempts:
        people = [bytes([n]) * 32 for n in range(10, 20)]
        for n in range(3):
            attempts.take(
                person_token=people[n],
                organization="bank",
                now=T0 + dt.timedelta(seconds=10 * n),
            )
        at = T0 + dt.timedelta(seconds=30)
        with pytest.raises(AttemptsExhausted) as refused:
            attempts.take(person_token=people[3], organization="bank", now=at)
        assert refused.value.limit == PARTNER_RATE
        assert refused.value.retry_after == pytest.approx(30.0)  # T0's attempt ages out at T0+60
        # Another partner has its own window.
        attempts.take(person_token=people[4], organization="other", now=at)
        attempts.take(
            person_token=people[5], organization="bank", now=T0 + dt.timedelta(seconds=61)
        )


def test_durable_across_reopen(db: Path) -> None:
    """The count survives a restart: a new FaceAttempts on the same file refuses."""
    with FaceAttempts(db, per_day=2) as attempts:
        attempts.take(person_token=ALICE, organization="bank", now=T0)
        attempts.take(person_token=ALICE, organization="bank", now=T0)
    with FaceAttempts(db, per_day=2) as reopened, pytest.raises(AttemptsExhausted):
        reopened.take(person_token=ALICE, organization="bank", now=T0)
    db_conn = sqlite3.connect(db)
    try:
        assert db_conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db_conn.close()


def test_the_file_holds_the_token_never_a_number(db: Path) -> None:
    with FaceAttempts(db) as attempts:
        attempts.take(person_token=ALICE, organization="bank", now=T0)
    conn = sqlite3.connect(db)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(attempts)")]
        tokens = [bytes(row[0]) for row in conn.execute("SELECT person_token FROM attempts")]
    finally:
        conn.close()
    assert columns == ["seq", "person_token", "organization", "day", "month", "at_micros"]
    assert tokens == [ALICE]


def test_concurrent_threads_pass_the_limit_only_as_often_as_it_allows(db: Path) -> None:
    with FaceAttempts(db, per_day=3, per_month=10) as attempts:
        passed: list[bool] = []
        lock = threading.Lock()

        def attempt() -> None:
            try:
                attempts.take(person_token=ALICE, organization="bank", now=T0)
                ok = True
            except AttemptsExhausted:
                ok = False
            with lock:
                passed.append(ok)

        threads = [threading.Thread(target=attempt) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(passed) == [False] * 9 + [True] * 3


def _take_in_process(path: str, results: multiprocessing.Queue[bool]) -> None:
    attempts = FaceAttempts(Path(path), per_day=3, per_month=10)
    try:
        attempts.take(person_token=ALICE, organization="bank", now=T0)
        results.put(True)
    except AttemptsExhausted:
        results.put(False)
    finally:
        attempts.close()


def test_concurrent_processes_share_the_limit(db: Path) -> None:
    FaceAttempts(db).close()  # the schema exists before the race
    spawn = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[bool] = spawn.Queue()
    processes = [spawn.Process(target=_take_in_process, args=(str(db), results)) for _ in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    outcomes = sorted(results.get(timeout=5) for _ in processes)
    assert outcomes == [False] * 3 + [True] * 3


def test_old_rows_are_pruned(db: Path) -> None:
    with FaceAttempts(db) as attempts:
        attempts.take(person_token=ALICE, organization="bank", now=T0)
        attempts.take(person_token=BOB, organization="bank", now=T0 + dt.timedelta(days=40))
        assert attempts.used(ALICE, T0) == (0, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"per_day": 0}, "per_day"),
        ({"per_month": 0}, "per_month"),
        ({"partner_per_minute": 0}, "partner_per_minute"),
        ({"per_day": 5, "per_month": 4}, "exceed"),
    ],
)
def test_bad_limits_are_refused(db: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaceAttempts(db, **kwargs)


def test_naive_instant_and_empty_token_are_refused(db: Path) -> None:
    with FaceAttempts(db) as attempts:
        with pytest.raises(ValueError, match="timezone"):
            attempts.take(person_token=ALICE, organization="bank", now=dt.datetime(2026, 3, 14))
        with pytest.raises(ValueError, match="token"):
            attempts.take(person_token=b"", organization="bank", now=T0)
