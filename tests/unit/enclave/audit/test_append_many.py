"""``AuditLog.append_many``: one commit per group, one checkpoint per commit group stored with
its leaves, receipts under it, and failing closed when the store refuses a commit."""

from __future__ import annotations

import threading
import time

import pytest

from dataward.transparency import open_checkpoint, verify_receipt
from enclave.audit import (
    AuditEventError,
    AuditLog,
    AuditStorageError,
    Decision,
    Release,
    SqliteAuditStore,
    encode_leaf,
)
from launcher.settings import AuditSettings
from tests.unit.enclave.audit.conftest import KEY, KEY_NAME, ORIGIN, OpenRecorded, request


def decision(i: int) -> Decision:
    return Decision(request_id=f"{i:032x}", allow=True, reasons=(), policy_version="test/1")


def release(i: int) -> Release:
    return Release(request_id=f"{i:032x}", result_hash=f"{i:064x}", epsilon_spent_micro=0)


def test_a_group_is_one_commit_with_its_checkpoint_and_the_receipt_verifies(
    open_recorded: OpenRecorded,
) -> None:
    log, store = open_recorded(checkpoint_every_entries=1000, checkpoint_interval_seconds=3600.0)
    log.append(request(0))
    appended = log.append_many([decision(0), release(0)], receipt=True)

    assert [e.leaf_index for e in appended.entries] == [1, 2]
    assert len(store.appends) == 2
    leaves, checkpoint = store.appends[1]
    assert [x.index for x in leaves] == [1, 2]
    assert checkpoint is not None and checkpoint.size == 3
    # The one stored checkpoint is the one the receipt rests on: no separate checkpoint write.
    assert [c.note for c in store.checkpoints()] == [checkpoint.note]
    receipt = appended.receipt
    assert receipt is not None and receipt.checkpoint_note == checkpoint.note
    leaf = encode_leaf(release(0), 2, log.tail(1)[0].time)
    cp = verify_receipt(receipt, KEY_NAME, KEY.public_key(), leaf)
    assert (cp.origin, cp.size, cp.root_hash) == (ORIGIN, 3, log.root(3))


def test_without_a_receipt_no_checkpoint_is_signed_until_one_is_due(
    open_recorded: OpenRecorded,
) -> None:
    log, store = open_recorded(checkpoint_every_entries=4, checkpoint_interval_seconds=3600.0)
    first = log.append_many([request(0), decision(0)])
    assert first.receipt is None and store.appends[0][1] is None
    log.append_many([release(0), request(1)])  # 4 entries: the periodic checkpoint is due
    assert store.appends[1][1] is not None and store.appends[1][1].size == 4
    assert [c.size for c in store.checkpoints()] == [4]
    # receipt() for a covered entry reuses that checkpoint.
    assert log.receipt(2).checkpoint_note == store.appends[1][1].note


def test_concurrent_groups_are_consecutive_and_share_one_signature(
    open_recorded: OpenRecorded,
) -> None:
    log, store = open_recorded(checkpoint_every_entries=1000, checkpoint_interval_seconds=3600.0)
    store.gate = threading.Event()
    results: dict[int, object] = {}

    def call(i: int) -> None:
        results[i] = log.append_many([request(i), decision(i), release(i)], receipt=True)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(9)]
    threads[0].start()
    assert store.at_gate.wait(timeout=5)  # the first group is held inside the store
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 5
    while log._queue.qsize() < 8 and time.monotonic() < deadline:
        time.sleep(0.005)
    store.gate.set()
    for t in threads:
        t.join()

    # Two commits: the first group alone, then the eight that queued behind it, together.
    assert [len(leaves) for leaves, _ in store.appends] == [3, 24]
    notes = {r.receipt.checkpoint_note for i, r in results.items() if i}  # type: ignore[attr-defined]
    assert len(notes) == 1 and [c.size for c in store.checkpoints()] == [3, 27]
    seen: list[int] = []
    for r in results.values():
        indexes = [e.leaf_index for e in r.entries]  # type: ignore[attr-defined]
        assert indexes == list(range(indexes[0], indexes[0] + 3))
        seen += indexes
        verify_receipt(r.receipt, KEY_NAME, KEY.public_key())  # type: ignore[attr-defined]
    assert sorted(seen) == list(range(27))


def test_a_bad_event_fails_its_whole_group_and_nothing_else(open_recorded: OpenRecorded) -> None:
    log, _ = open_recorded()
    with pytest.raises(AuditEventError):
        log.append_many([request(0), object()])  # type: ignore[list-item]
    with pytest.raises(AuditEventError):
        log.append_many([])
    assert log.size == 0
    assert log.append(request(1)).leaf_index == 0


@pytest.mark.parametrize("failure", [AuditStorageError("disk full"), OSError("I/O error")])
def test_a_failed_commit_breaks_the_log_until_it_is_reopened(
    open_recorded: OpenRecorded, failure: Exception
) -> None:
    log, store = open_recorded(checkpoint_every_entries=1000, checkpoint_interval_seconds=3600.0)
    log.append_many([request(0), decision(0)], receipt=True)
    good_root = log.root()
    store.failing = failure
    with pytest.raises(AuditStorageError):
        log.append_many([request(1), decision(1)], receipt=True)
    store.failing = None  # the store works again, but the tree ran ahead of it: stay closed
    with pytest.raises(AuditStorageError, match="reopened"):
        log.append(request(2))
    with pytest.raises(AuditStorageError, match="reopened"):
        log.checkpoint()
    # Readers still see the durable prefix only, with proofs that match the store.
    assert log.size == 2 and log.root() == good_root
    verify_receipt(log.receipt(1), KEY_NAME, KEY.public_key())
    path = store.inner._path
    log.close()

    reopened = AuditLog(SqliteAuditStore.open(path), AuditSettings(), KEY, ORIGIN, KEY_NAME)
    try:
        assert reopened.size == 2 and reopened.root() == good_root
        again = reopened.append_many([request(3), decision(3)], receipt=True)
        assert [e.leaf_index for e in again.entries] == [2, 3]
        assert again.receipt is not None
        cp = verify_receipt(again.receipt, KEY_NAME, KEY.public_key())
        assert open_checkpoint(again.receipt.checkpoint_note, KEY_NAME, KEY.public_key()) == cp
    finally:
        reopened.close()
