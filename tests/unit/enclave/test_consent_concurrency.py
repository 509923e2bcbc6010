"""The consent store under concurrent calls (issue 15): reads on per-thread read-only
connections, writes on the one writer — and a revoked or consumed consent is never honoured."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from enclave.consent import SqliteConsentStore
from tests.unit.enclave.test_consent import DAY, T0, find, grant

THREADS = 8


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteConsentStore]:
    s = SqliteConsentStore.open(tmp_path / "state" / "consent.db")
    yield s
    s.close()


def _find_and_consume(store: SqliteConsentStore, ref: str, start: threading.Barrier) -> bool:
    """One check: look the consent up, and use it if it is still valid."""
    start.wait()
    found = find(store, consent_ref=ref)
    return found is not None and store.consume(found, T0 + DAY)


def test_single_use_consent_is_consumed_once_by_racing_checks(store: SqliteConsentStore) -> None:
    for _ in range(20):  # each round a fresh consent, all threads released together
        consent = grant(store, single_use=True)
        start = threading.Barrier(THREADS)
        with ThreadPoolExecutor(THREADS) as pool:
            futures = [
                pool.submit(_find_and_consume, store, consent.consent_ref, start)
                for _ in range(THREADS)
            ]
            wins = [f.result() for f in futures]
        assert wins.count(True) == 1
        assert find(store, consent_ref=consent.consent_ref) is None
        assert store.get(consent.consent_ref).used_at is not None


def test_no_reader_honours_a_consent_after_revoke_returns(store: SqliteConsentStore) -> None:
    consent = grant(store)
    revoked = threading.Event()
    stop = threading.Event()
    saw_it_valid = threading.Semaphore(0)
    read_after_revoke = threading.Semaphore(0)
    late: list[object] = []

    def reader() -> None:
        before, after = 0, 0
        while not stop.is_set():
            after_revoke = revoked.is_set()  # read BEFORE the lookup starts
            found = find(store)
            if not after_revoke:
                before += 1
                if before == 1 and found is not None:
                    saw_it_valid.release()
                continue
            if found is not None:
                late.append(found)
            after += 1
            if after == 50:
                read_after_revoke.release()

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(reader) for _ in range(THREADS)]
        for _ in range(THREADS):  # every reader has its connection and saw the consent valid
            assert saw_it_valid.acquire(timeout=60)
        store.revoke(consent.consent_ref, T0)
        revoked.set()
        for _ in range(THREADS):  # every reader looked it up again after the revoke
            assert read_after_revoke.acquire(timeout=60)
        stop.set()
        for f in futures:
            f.result()
    assert late == []


def test_a_write_on_one_thread_is_seen_by_a_later_read_on_another(
    store: SqliteConsentStore,
) -> None:
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(find, store).result() is None  # the reader thread's connection exists
        consent = grant(store)  # written on this thread
        assert pool.submit(find, store).result() == consent
        store.consume(grant(store, person_token=b"s" * 32, single_use=True), T0 + DAY)
        assert pool.submit(find, store, person_token=b"s" * 32).result() is None
        store.revoke(consent.consent_ref, T0)
        assert pool.submit(find, store).result() is None


def test_reads_do_not_wait_for_the_writer(store: SqliteConsentStore) -> None:
    consent = grant(store)
    with store._lock, ThreadPoolExecutor(1) as pool:  # the writer is busy (lock held)
        # A read that queued behind the writer's lock would never finish here.
        assert pool.submit(find, store).result(timeout=60) == consent
        assert pool.submit(store.exists, consent.consent_ref).result(timeout=60)
        assert pool.submit(store.get, consent.consent_ref).result(timeout=60) == consent


def test_readers_do_not_see_an_uncommitted_write(tmp_path: Path) -> None:
    store = SqliteConsentStore.open(tmp_path / "consent.db")
    consent = grant(store)
    store._db.execute("BEGIN IMMEDIATE")
    store._db.execute("UPDATE consents SET revoked_at = 0")
    try:
        with ThreadPoolExecutor(2) as pool:
            assert pool.submit(find, store).result(timeout=60) == consent
    finally:
        store._db.execute("ROLLBACK")
    store.close()


def test_read_connections_are_read_only(store: SqliteConsentStore) -> None:
    grant(store)
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only"):
        store._reader().execute("UPDATE consents SET revoked_at = 0")


def test_close_closes_every_thread_connection(tmp_path: Path) -> None:
    store = SqliteConsentStore.open(tmp_path / "consent.db")
    consent = grant(store)
    hold = threading.Barrier(4)

    def read_and_hold() -> sqlite3.Connection:
        assert store.exists(consent.consent_ref)
        hold.wait()  # all threads alive at once: four distinct connections
        return store._reader()

    with ThreadPoolExecutor(4) as pool:
        connections = list(pool.map(lambda _: read_and_hold(), range(4)))
    assert len(set(map(id, connections))) == 4
    store.close()
    for db in connections:
        with pytest.raises(sqlite3.ProgrammingError):
            db.execute("SELECT 1")
    with pytest.raises(sqlite3.ProgrammingError):
        store.exists(consent.consent_ref)


def test_connections_of_finished_threads_are_closed(store: SqliteConsentStore) -> None:
    def read() -> sqlite3.Connection:
        find(store)
        return store._reader()

    first: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: first.append(read()))
    thread.start()
    thread.join()
    store.exists("cns_none")  # another thread's first read closes what the finished one left
    with pytest.raises(sqlite3.ProgrammingError):
        first[0].execute("SELECT 1")


class _WriteDuringRead:
    """A reader connection whose read is overtaken by a write: the rows are read, then
    ``write`` runs (on another thread, to its end), then the stale rows are returned."""

    def __init__(self, db: sqlite3.Connection, write: Callable[[], object]) -> None:
        self._db, self._write = db, write
        self._wrote = False

    def execute(self, sql: str, params: object) -> _Rows:
        rows = self._db.execute(sql, params).fetchall()  # type: ignore[arg-type]
        if not self._wrote:  # the write's own reads (revoke returns the consent) pass through
            self._wrote = True
            writer = threading.Thread(target=self._write)
            writer.start()
            writer.join()
        return _Rows(rows)


class _Rows:
    def __init__(self, rows: list[tuple[object, ...]]) -> None:
        self._rows = rows

    def fetchall(self) -> list[tuple[object, ...]]:
        return self._rows


@pytest.mark.parametrize("write", ["revoke", "consume"])
def test_a_list_read_while_a_write_ran_is_not_kept(
    store: SqliteConsentStore, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    # The token lookup keeps what it read in memory -- unless a write began while it read:
    # the write's generation is newer, so the stale list (the consent still unspent) is
    # answered to that one racing lookup and dropped; the next lookup reads the write.
    consent = grant(store, single_use=True)
    at = T0 + DAY

    def do_write() -> object:
        if write == "revoke":
            return store.revoke(consent.consent_ref, at)
        return store.consume(consent, at)

    overtaken = _WriteDuringRead(store._reader(), do_write)
    monkeypatch.setattr(store, "_reader", lambda: overtaken)
    assert find(store) == consent  # in flight when the write ran: may still see it
    monkeypatch.undo()
    assert find(store) is None


def test_a_lookup_after_a_write_sees_it_not_the_kept_list(store: SqliteConsentStore) -> None:
    first = grant(store, single_use=True)
    assert find(store) == first  # now kept in memory
    assert store.consume(first, T0 + DAY)
    assert find(store) is None
    second = grant(store, valid_until=T0 + 60 * DAY)
    assert find(store) == second
    store.revoke(second.consent_ref, T0 + DAY)
    assert find(store) is None
