"""The budget ledger over real SQLite files (issue 11: the durable privacy budget)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from enclave.budget import (
    BUDGET_DB,
    MICRO_EPSILON,
    PER_PARTNER_PER_DATASET_VERSION,
    PER_PARTNER_PER_DAY,
    PER_QUERY,
    TOTAL_PER_DATASET_VERSION,
    BudgetExhausted,
    BudgetLedger,
    BudgetLedgerCorrupt,
    BudgetLimits,
    ChargeNotFound,
    ResultAlreadyStored,
)

NOW = dt.datetime(2026, 12, 2, 10, 30, tzinfo=dt.UTC)
HALF = MICRO_EPSILON // 2
Open = Callable[..., BudgetLedger]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / BUDGET_DB


@pytest.fixture
def open_ledger(path: Path) -> Iterator[Open]:
    opened: list[BudgetLedger] = []

    def factory(limits: BudgetLimits | None = None, **kwargs: object) -> BudgetLedger:
        ledger = BudgetLedger.open(path, limits, **kwargs)  # type: ignore[arg-type]
        opened.append(ledger)
        return ledger

    yield factory
    for ledger in opened:
        ledger.close()


def _rows(path: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT * FROM charges ORDER BY seq").fetchall()


def _tamper(path: Path, sql: str) -> None:
    """Edit the file directly, as someone with the disk would: drop the triggers first."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        for trigger in ("charges_no_update", "charges_no_delete", "results_no_update"):
            db.execute(f"DROP TRIGGER {trigger}")
        db.execute(sql)


def test_a_charge_is_durable_and_counted_against_every_limit(open_ledger: Open, path: Path) -> None:
    ledger = open_ledger()
    charge = ledger.charge("insurer-a", "v1", "q1", HALF, NOW)
    assert charge.new and charge.sequence == 1 and charge.micro_epsilon == HALF
    assert charge.charged_at == NOW
    ledger.close()
    reopened = open_ledger()
    assert reopened.get(charge.charge_id) == dataclasses.replace(charge, new=False)
    state = reopened.state("insurer-a", "v1", NOW)
    assert state.details() == {
        "per_query.limit": 1_000_000,
        "per_partner_per_day.limit": 2_000_000,
        "per_partner_per_day.spent": 500_000,
        "per_partner_per_day.left": 1_500_000,
        "per_partner_per_dataset_version.limit": 10_000_000,
        "per_partner_per_dataset_version.spent": 500_000,
        "per_partner_per_dataset_version.left": 9_500_000,
        "total_per_dataset_version.limit": 100_000_000,
        "total_per_dataset_version.spent": 500_000,
        "total_per_dataset_version.left": 99_500_000,
    }
    assert state.available == MICRO_EPSILON
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert reopened.verify() == 1


def test_synchronous_is_full_by_default_and_a_parameter(open_ledger: Open) -> None:
    ledger = open_ledger()
    assert ledger._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert open_ledger(synchronous="normal")._db.execute("PRAGMA synchronous").fetchone() == (1,)
    with pytest.raises(ValueError, match="synchronous"):
        open_ledger(synchronous="sometimes")


@pytest.mark.parametrize(
    ("limits", "spend", "request_", "refused_by"),
    [
        # one query over the per-query limit
        (BudgetLimits(), [], MICRO_EPSILON + 1, PER_QUERY),
        # 2.0 per partner per day: 1.0 + 1.0 spent, 1 micro-epsilon more is refused
        (BudgetLimits(), [MICRO_EPSILON, MICRO_EPSILON], 1, PER_PARTNER_PER_DAY),
        # per partner per dataset version (spread over days so the daily limit does not bite)
        (
            BudgetLimits(per_partner_per_dataset_version=3 * HALF),
            [MICRO_EPSILON],
            HALF + 1,
            PER_PARTNER_PER_DATASET_VERSION,
        ),
        # the global cap: other partners spent it
        (
            BudgetLimits(total_per_dataset_version=2 * MICRO_EPSILON),
            [],
            1,
            TOTAL_PER_DATASET_VERSION,
        ),
    ],
    ids=["per_query", "per_day", "per_dataset_version", "global"],
)
def test_a_charge_past_a_limit_is_refused_and_changes_nothing(
    open_ledger: Open,
    path: Path,
    limits: BudgetLimits,
    spend: list[int],
    request_: int,
    refused_by: str,
) -> None:
    ledger = open_ledger(limits)
    for i, amount in enumerate(spend):
        ledger.charge("insurer-a", "v1", f"spent-{i}", amount, NOW)
    if refused_by == TOTAL_PER_DATASET_VERSION:
        for i, partner in enumerate(("bank-b", "bank-c")):
            ledger.charge(partner, "v1", f"other-{i}", MICRO_EPSILON, NOW)
    before_rows, before = _rows(path), ledger.state("insurer-a", "v1", NOW)
    with pytest.raises(BudgetExhausted) as caught:
        ledger.charge("insurer-a", "v1", "refused", request_, NOW)
    exc = caught.value
    assert exc.reason == "BUDGET_EXHAUSTED"
    assert exc.limit == refused_by and exc.requested == request_
    assert exc.state == before
    assert refused_by in exc.public_message
    assert all(isinstance(v, int) for v in exc.state.details().values())
    assert _rows(path) == before_rows
    assert ledger.state("insurer-a", "v1", NOW) == before
    assert ledger.verify() == len(before_rows)


def test_the_day_is_the_utc_day_of_now(open_ledger: Open) -> None:
    ledger = open_ledger()
    late = dt.datetime(2026, 12, 2, 23, 59, tzinfo=dt.UTC)
    ledger.charge("insurer-a", "v1", "a", MICRO_EPSILON, late)
    ledger.charge("insurer-a", "v1", "b", MICRO_EPSILON, late)
    with pytest.raises(BudgetExhausted):
        ledger.charge("insurer-a", "v1", "c", 1, late)
    # 07:00 in Beijing on the 3rd is 23:00 UTC on the 2nd: still the same day
    beijing = dt.timezone(dt.timedelta(hours=8))
    with pytest.raises(BudgetExhausted):
        ledger.charge("insurer-a", "v1", "c", 1, dt.datetime(2026, 12, 3, 7, tzinfo=beijing))
    assert ledger.charge("insurer-a", "v1", "c", 1, late + dt.timedelta(minutes=1)).new
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.charge("insurer-a", "v1", "d", 1, dt.datetime(2026, 12, 4))


def test_a_repeated_query_key_is_not_charged_again(open_ledger: Open, path: Path) -> None:
    ledger = open_ledger()
    first = ledger.charge("insurer-a", "v1", "q", MICRO_EPSILON, NOW)
    ledger.charge("insurer-a", "v1", "other", MICRO_EPSILON, NOW)  # the day's budget is spent
    ledger.store_result(first.charge_id, b"noisy answer")
    for _ in range(20):
        again = ledger.charge("insurer-a", "v1", "q", MICRO_EPSILON, NOW)
        assert not again.new and again.charge_id == first.charge_id
        assert ledger.result(again.charge_id) == b"noisy answer"
    assert len(_rows(path)) == 2
    assert ledger.state("insurer-a", "v1", NOW).limits[0].spent == 2 * MICRO_EPSILON
    # the same key from another partner, or on another dataset version, is another query
    assert ledger.charge("bank-b", "v1", "q", MICRO_EPSILON, NOW).new
    with pytest.raises(BudgetExhausted):
        ledger.charge("insurer-a", "v2", "q", MICRO_EPSILON, NOW)


def test_a_result_is_stored_once_and_never_overwritten(open_ledger: Open) -> None:
    ledger = open_ledger()
    charge = ledger.charge("insurer-a", "v1", "q", HALF, NOW)
    assert ledger.result(charge.charge_id) is None
    ledger.store_result(charge.charge_id, b"first draw")
    ledger.store_result(charge.charge_id, b"first draw")  # the same bytes again: a no-op
    with pytest.raises(ResultAlreadyStored):
        ledger.store_result(charge.charge_id, b"second draw")
    assert ledger.result(charge.charge_id) == b"first draw"
    with pytest.raises(ChargeNotFound):
        ledger.store_result("chg_unknown", b"x")
    with pytest.raises(sqlite3.IntegrityError, match="never overwritten"):
        ledger._db.execute("UPDATE results SET result = x'00'")
    assert ledger.verify() == 1


def test_triggers_refuse_update_and_delete(open_ledger: Open) -> None:
    ledger = open_ledger()
    ledger.charge("insurer-a", "v1", "q", HALF, NOW)
    for sql in ("UPDATE charges SET micro_epsilon = 1", "DELETE FROM charges"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            ledger._db.execute(sql)


def _three_charges(open_ledger: Open) -> BudgetLedger:
    ledger = open_ledger()
    for key in ("q1", "q2", "q3"):
        ledger.charge("insurer-a", "v1", key, HALF, NOW)
    assert ledger.verify() == 3
    return ledger


def test_the_chain_detects_an_edited_entry(open_ledger: Open, path: Path) -> None:
    ledger = _three_charges(open_ledger)
    _tamper(path, "UPDATE charges SET micro_epsilon = 1 WHERE seq = 2")
    with pytest.raises(BudgetLedgerCorrupt) as caught:
        ledger.verify()
    assert caught.value.sequence == 2 and "does not match" in caught.value.problem


def test_the_chain_detects_an_edited_hash(open_ledger: Open, path: Path) -> None:
    # whoever recomputes the edited entry's own hash breaks the next entry's link
    ledger = _three_charges(open_ledger)
    _tamper(path, "UPDATE charges SET entry_hash = zeroblob(32) WHERE seq = 2")
    with pytest.raises(BudgetLedgerCorrupt) as caught:
        ledger.verify()
    assert caught.value.sequence == 2


def test_the_chain_detects_a_deleted_entry(open_ledger: Open, path: Path) -> None:
    ledger = _three_charges(open_ledger)
    _tamper(path, "DELETE FROM charges WHERE seq = 2")
    with pytest.raises(BudgetLedgerCorrupt) as caught:
        ledger.verify()
    assert caught.value.sequence == 2 and "missing" in caught.value.problem


def test_the_chain_detects_a_renumbered_deletion(open_ledger: Open, path: Path) -> None:
    ledger = _three_charges(open_ledger)
    _tamper(path, "DELETE FROM charges WHERE seq = 2")
    with closing(sqlite3.connect(path, isolation_level=None)) as db:  # triggers are gone
        db.execute("UPDATE charges SET seq = 2 WHERE seq = 3")
    with pytest.raises(BudgetLedgerCorrupt) as caught:
        ledger.verify()
    assert caught.value.sequence == 2 and "chain" in caught.value.problem


def test_the_chain_detects_entries_deleted_at_the_end(open_ledger: Open, path: Path) -> None:
    ledger = _three_charges(open_ledger)
    _tamper(path, "DELETE FROM charges WHERE seq = 3")
    with pytest.raises(BudgetLedgerCorrupt) as caught:
        ledger.verify()
    assert caught.value.sequence == 3 and "end" in caught.value.problem


def test_verify_detects_an_edited_result(open_ledger: Open, path: Path) -> None:
    ledger = _three_charges(open_ledger)
    charge = ledger.charge("insurer-a", "v1", "q4", HALF, NOW)
    ledger.store_result(charge.charge_id, b"noisy")
    _tamper(path, "UPDATE results SET result = CAST('other' AS BLOB)")
    with pytest.raises(BudgetLedgerCorrupt) as caught:
        ledger.verify()
    assert caught.value.sequence == 4 and "result" in caught.value.problem


@pytest.mark.parametrize("shared", [True, False], ids=["one_ledger", "one_ledger_per_thread"])
def test_concurrent_charges_never_pass_a_limit(open_ledger: Open, path: Path, shared: bool) -> None:
    # 50 threads race for a daily budget of 2.0 at 0.5 each: exactly 4 are charged
    ledgers = [open_ledger()] * 50 if shared else [open_ledger() for _ in range(50)]
    start = threading.Barrier(50)
    outcomes: list[str] = []

    def run(i: int) -> None:
        start.wait()
        try:
            ledgers[i].charge("insurer-a", "v1", f"q{i}", HALF, NOW)
            outcomes.append("charged")
        except BudgetExhausted:
            outcomes.append("refused")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes).count("charged") == 4 and len(outcomes) == 50
    assert len(_rows(path)) == 4
    assert ledgers[0].state("insurer-a", "v1", NOW).limits[0].spent == 2 * MICRO_EPSILON
    assert ledgers[0].verify() == 4


def test_limits_are_positive_integers() -> None:
    assert BudgetLimits().per_partner_per_day == 2 * MICRO_EPSILON
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="per_query"):
            BudgetLimits(per_query=bad)  # type: ignore[arg-type]


def test_a_charge_is_a_positive_integer(open_ledger: Open) -> None:
    ledger = open_ledger()
    for bad in (0, -5, 0.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            ledger.charge("insurer-a", "v1", "q", bad, NOW)  # type: ignore[arg-type]
