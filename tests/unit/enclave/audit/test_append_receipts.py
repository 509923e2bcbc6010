"""``AuditLog.append_many(..., receipts_at=...)`` (issue 15, the CheckBatch group): one commit,
one checkpoint, and a receipt per asked event, each verifying and carrying its own leaf."""

from __future__ import annotations

import pytest

from dataward.transparency import verify_receipt
from enclave.audit import AuditEventError, Decision, Release, encode_leaf
from tests.unit.enclave.audit.conftest import KEY, KEY_NAME, ORIGIN, OpenRecorded, request


def decision(i: int) -> Decision:
    return Decision(request_id=f"{i:032x}", allow=True, reasons=(), policy_version="test/1")


def release(i: int) -> Release:
    return Release(request_id=f"{i:032x}", result_hash=f"{i:064x}", epsilon_spent_micro=0)


def test_each_asked_event_gets_its_receipt_under_the_one_checkpoint_of_the_commit(
    open_recorded: OpenRecorded,
) -> None:
    log, store = open_recorded(checkpoint_every_entries=1000, checkpoint_interval_seconds=3600.0)
    log.append(request(99))  # the group does not start at 0
    events = [e for i in range(4) for e in (request(i), decision(i), release(i))]
    at = [2, 8, 11, 5]  # the releases, in an order of the caller's choosing
    appended = log.append_many(events, receipts_at=at)

    assert len(store.appends) == 2
    leaves, checkpoint = store.appends[1]
    assert checkpoint is not None and checkpoint.size == 13
    assert [c.note for c in store.checkpoints()] == [checkpoint.note]
    assert appended.receipt is None
    assert [r.leaf_index for r in appended.receipts] == [1 + k for k in at]
    when = log.tail(1)[0].time
    for k, receipt in zip(at, appended.receipts, strict=True):
        assert receipt.checkpoint_note == checkpoint.note
        assert receipt.leaf == encode_leaf(events[k], 1 + k, when)
        assert receipt.leaf == leaves[k].leaf
        cp = verify_receipt(receipt, KEY_NAME, KEY.public_key())
        assert (cp.origin, cp.size, cp.root_hash) == (ORIGIN, 13, log.root(13))


def test_receipt_and_receipts_at_together_share_the_checkpoint(
    open_recorded: OpenRecorded,
) -> None:
    log, store = open_recorded(checkpoint_every_entries=1000, checkpoint_interval_seconds=3600.0)
    appended = log.append_many([request(0), decision(0), release(0)], receipt=True, receipts_at=[0])
    assert appended.receipt is not None and appended.receipt.leaf_index == 2
    assert [r.leaf_index for r in appended.receipts] == [0]
    assert appended.receipts[0].checkpoint_note == appended.receipt.checkpoint_note
    for receipt in (appended.receipt, *appended.receipts):
        verify_receipt(receipt, KEY_NAME, KEY.public_key())
    assert len(store.checkpoints()) == 1


@pytest.mark.parametrize("at", [[3], [-1]])
def test_a_position_outside_the_events_logs_nothing(
    open_recorded: OpenRecorded, at: list[int]
) -> None:
    log, store = open_recorded()
    with pytest.raises(AuditEventError):
        log.append_many([request(0), decision(0), release(0)], receipts_at=at)
    assert log.size == 0 and store.appends == []


def test_without_receipts_nothing_is_signed(open_recorded: OpenRecorded) -> None:
    log, store = open_recorded(checkpoint_every_entries=1000, checkpoint_interval_seconds=3600.0)
    appended = log.append_many([request(0), decision(0)], receipts_at=())
    assert appended.receipts == () and appended.receipt is None
    assert store.appends[0][1] is None
