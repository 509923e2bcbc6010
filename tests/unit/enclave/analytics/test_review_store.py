"""The query store's review (issue 11): decisions append-only (triggers refuse every rewrite),
the two-person rule, one approval per steward, no review of one's own submission, runs
counted to their limit, the rejection reason sealed like the SQL -- on a real SQLite file."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from enclave.analytics import (
    ApprovalExpired,
    Conditions,
    QueryNotFound,
    QueryNotPending,
    QueryStatus,
    Reviewer,
    ReviewOwnSubmission,
    ReviewSameSteward,
    RunsExhausted,
    SqliteQueryStore,
    StoredQuery,
)
from enclave.keys import Keyring, init_zone, open_keyring
from tests.support.zone_source import MASTER_KEY

NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
VERSION = "a" * 64
ALICE = Reviewer("user:1", "1", "portal-steward-pages")
BOB = Reviewer("user:2", "1", "portal-steward-pages")
REASON = "Zhang Wei 13800138000: the age bands are too fine for a county"
SQL = "SELECT gender, COUNT(*) FROM claims_analysis WHERE province = '110000' GROUP BY gender"


def _conditions(mode: str = "exact", epsilon: int = 0, days: int = 30, runs: int = 3) -> Conditions:
    return Conditions(
        mode="dp" if mode == "dp" else "exact",
        epsilon_micro=epsilon,
        expires_at=NOW + dt.timedelta(days=days),
        max_runs=runs,
    )


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    zone = tmp_path_factory.mktemp("zone")
    init_zone(zone, MASTER_KEY)
    return open_keyring(zone, MASTER_KEY)


@pytest.fixture
def store(tmp_path: Path, keyring: Keyring) -> Iterator[SqliteQueryStore]:
    opened = SqliteQueryStore.open(tmp_path / "queries.db", keyring)
    yield opened
    opened.close()


def _pending(store: SqliteQueryStore, organization: str = "2") -> StoredQuery:
    return store.add(
        organization=organization,
        client_id="insurer-app",
        purpose="INSURANCE_UNDERWRITING",
        view="claims_analysis",
        status=QueryStatus.PENDING_REVIEW,
        reasons=("TOO_MANY_GROUP_KEYS(4 > 3)",),
        policy_version=VERSION,
        sql=SQL,
        now=NOW,
    )


class _Recorded:
    def __init__(self) -> None:
        self.seen: list[StoredQuery] = []

    def __call__(self, after: StoredQuery) -> None:
        self.seen.append(after)


def _approve(
    store: SqliteQueryStore,
    query_id: str,
    reviewer: Reviewer,
    conditions: Conditions | None = None,
    *,
    needed: int = 1,
    record: _Recorded | None = None,
) -> StoredQuery:
    return store.approve(
        query_id,
        reviewer,
        conditions or _conditions(),
        needed=needed,
        policy_version=VERSION,
        now=NOW,
        record=record or _Recorded(),
    )


def test_one_approval_accepts_under_its_conditions(store: SqliteQueryStore) -> None:
    query = _pending(store)
    record = _Recorded()
    after = _approve(store, query.query_id, ALICE, _conditions("dp", 250_000), record=record)
    assert after.status is QueryStatus.ACCEPTED and after.reviewed
    assert [a.reviewer for a in after.approvals] == [ALICE]
    assert after.conditions == _conditions("dp", 250_000)
    assert after.runs_left == 3
    # the zone's audit leaf is written inside the transaction, seeing the decision
    assert [s.status for s in record.seen] == [QueryStatus.ACCEPTED]
    assert store.get("2", query.query_id) == after
    assert store.get("3", query.query_id) is None  # another organization's: not found


def test_two_person_rule_first_approval_keeps_it_pending(store: SqliteQueryStore) -> None:
    query = _pending(store)
    first = _approve(store, query.query_id, ALICE, _conditions("exact", 0, 30, 5), needed=2)
    assert first.status is QueryStatus.PENDING_REVIEW and not first.reviewed
    assert first.conditions is None
    second = _approve(store, query.query_id, BOB, _conditions("dp", 400_000, 10, 8), needed=2)
    assert second.status is QueryStatus.ACCEPTED
    # combined strictest: dp, the smaller epsilon of the dp ones, the earlier expiry, fewer runs
    assert second.conditions == _conditions("dp", 400_000, 10, 5)


def test_the_same_steward_cannot_approve_twice(store: SqliteQueryStore) -> None:
    query = _pending(store)
    _approve(store, query.query_id, ALICE, needed=2)
    with pytest.raises(ReviewSameSteward):
        _approve(store, query.query_id, ALICE, needed=2)
    # the same human through another client is the same steward
    with pytest.raises(ReviewSameSteward):
        _approve(store, query.query_id, Reviewer("user:1", "1", "zone-operator"), needed=2)
    stored = store.find(query.query_id)
    assert stored is not None and stored.status is QueryStatus.PENDING_REVIEW
    assert len(stored.approvals) == 1


def test_nobody_reviews_their_own_submission(store: SqliteQueryStore) -> None:
    query = _pending(store, organization="1")  # the stewards' own organization submitted it
    with pytest.raises(ReviewOwnSubmission):
        _approve(store, query.query_id, ALICE)
    with pytest.raises(ReviewOwnSubmission):
        store.reject(
            query.query_id, ALICE, "no", policy_version=VERSION, now=NOW, record=_Recorded()
        )
    other = _pending(store)  # organization 2, submitted by the client insurer-app ...
    submitter = Reviewer("insurer-app", "7", "insurer-app")  # ... which reviews it itself
    with pytest.raises(ReviewOwnSubmission):
        _approve(store, other.query_id, submitter)
    for query_id in (query.query_id, other.query_id):
        stored = store.find(query_id)
        assert stored is not None and not stored.approvals and stored.rejection is None


def test_only_a_pending_query_under_the_policy_in_force_is_decided(
    store: SqliteQueryStore,
) -> None:
    with pytest.raises(QueryNotFound):
        _approve(store, "qry_" + "x" * 24, ALICE)
    accepted = _pending(store)
    _approve(store, accepted.query_id, ALICE)
    with pytest.raises(QueryNotPending):
        _approve(store, accepted.query_id, BOB)
    with pytest.raises(QueryNotPending):
        store.reject(
            accepted.query_id, BOB, "late", policy_version=VERSION, now=NOW, record=_Recorded()
        )
    stale = _pending(store)
    with pytest.raises(QueryNotPending, match="no longer in force"):
        store.approve(
            stale.query_id,
            ALICE,
            _conditions(),
            needed=1,
            policy_version="b" * 64,
            now=NOW,
            record=_Recorded(),
        )


def test_a_failing_audit_leaf_writes_nothing(store: SqliteQueryStore) -> None:
    query = _pending(store)

    def failing(after: StoredQuery) -> None:
        raise OSError("the audit log is full")

    with pytest.raises(OSError):
        store.approve(
            query.query_id,
            ALICE,
            _conditions(),
            needed=1,
            policy_version=VERSION,
            now=NOW,
            record=failing,
        )
    stored = store.find(query.query_id)
    assert stored is not None and stored.status is QueryStatus.PENDING_REVIEW
    assert not stored.approvals


def test_a_rejection_keeps_its_reason_sealed(
    store: SqliteQueryStore, tmp_path: Path, keyring: Keyring
) -> None:
    query = _pending(store)
    _approve(store, query.query_id, ALICE, needed=2)  # an approver may still reject
    after = store.reject(
        query.query_id, ALICE, REASON, policy_version=VERSION, now=NOW, record=_Recorded()
    )
    assert after.status is QueryStatus.REJECTED and after.reviewed
    assert after.rejection is not None and after.rejection.reason == REASON
    assert after.rejection.reviewer == ALICE and after.conditions is None
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("queries.db"))
    for clear in (REASON, "Zhang Wei", "13800138000", "too fine", SQL, "province"):
        assert clear.encode() not in raw
    reopened = SqliteQueryStore.open(tmp_path / "queries.db", keyring)
    try:
        again = reopened.find(query.query_id)
        assert again is not None and again.rejection is not None
        assert again.rejection.reason == REASON
    finally:
        reopened.close()


def test_decisions_and_runs_are_append_only(store: SqliteQueryStore, tmp_path: Path) -> None:
    query = _pending(store)
    _approve(store, query.query_id, ALICE)
    store.count_run(query.query_id, request_id="r" * 32, now=NOW)
    db = sqlite3.connect(tmp_path / "queries.db", isolation_level=None)
    try:
        for statement in (
            "UPDATE reviews SET max_runs = 1000",
            "UPDATE reviews SET steward = 'user:9'",
            "DELETE FROM reviews",
            "UPDATE runs SET run = 0",
            "DELETE FROM runs",
            "DELETE FROM queries",
            "UPDATE queries SET status = 'PENDING_REVIEW'",  # ACCEPTED never moves back
            "UPDATE queries SET policy_version = 'x'",
        ):
            with pytest.raises(sqlite3.DatabaseError):
                db.execute(statement)
        pending = _pending(store)
        with pytest.raises(sqlite3.DatabaseError):  # a pending one changes its status only
            db.execute(
                "UPDATE queries SET status = 'ACCEPTED', organization = '1' WHERE query_id = ?",
                (pending.query_id,),
            )
    finally:
        db.close()
    stored = store.find(query.query_id)
    assert stored is not None and stored.runs == 1 and stored.conditions == _conditions()


def test_runs_are_counted_to_the_limit_and_refused_after_expiry(
    store: SqliteQueryStore,
) -> None:
    query = _pending(store)
    _approve(store, query.query_id, ALICE, _conditions(runs=2, days=1))
    assert store.count_run(query.query_id, request_id="1" * 32, now=NOW) == 1
    assert store.count_run(query.query_id, request_id="2" * 32, now=NOW) == 2
    with pytest.raises(RunsExhausted):
        store.count_run(query.query_id, request_id="3" * 32, now=NOW)
    other = _pending(store)
    _approve(store, other.query_id, ALICE, _conditions(runs=5, days=1))
    with pytest.raises(ApprovalExpired):
        store.count_run(other.query_id, request_id="4" * 32, now=NOW + dt.timedelta(days=1))
    stored = store.find(other.query_id)
    assert stored is not None and stored.runs == 0 and stored.runs_left == 5
    unreviewed = store.add(
        organization="2",
        client_id="insurer-app",
        purpose="INSURANCE_UNDERWRITING",
        view="claims_analysis",
        status=QueryStatus.ACCEPTED,
        reasons=(),
        policy_version=VERSION,
        sql=SQL,
        now=NOW,
    )
    assert not unreviewed.reviewed and unreviewed.conditions is None
    with pytest.raises(ValueError, match="after review"):
        store.count_run(unreviewed.query_id, request_id="5" * 32, now=NOW)


def test_concurrent_stewards_and_runs_are_serialised(tmp_path: Path, keyring: Keyring) -> None:
    """Two store objects on one file (two processes' worth of connections): concurrent
    approvals by one steward record one; concurrent runs stop exactly at max_runs."""
    path = tmp_path / "shared.db"
    stores = [SqliteQueryStore.open(path, keyring) for _ in range(2)]
    try:
        query = _pending(stores[0])
        outcomes: list[str] = []
        lock = threading.Lock()

        def approve(i: int) -> None:
            try:
                _approve(stores[i % 2], query.query_id, ALICE, needed=2)
                result = "ok"
            except ReviewSameSteward:
                result = "same"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=approve, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["ok"] + ["same"] * 5
        _approve(stores[1], query.query_id, BOB, _conditions(runs=3), needed=2)
        runs: list[int | str] = []

        def run(i: int) -> None:
            try:
                got: int | str = stores[i % 2].count_run(
                    query.query_id, request_id=f"{i:032d}", now=NOW
                )
            except RunsExhausted:
                got = "exhausted"
            with lock:
                runs.append(got)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r for r in runs if isinstance(r, int)) == [1, 2, 3]
        assert runs.count("exhausted") == 9
    finally:
        for s in stores:
            s.close()
