"""A group of answers in one commit (issue 15, CheckBatch): ``Releaser.settle_group`` over the
real :class:`AuditLogTrail` logs each item's request, decision and -- allowed -- release leaves
in ONE commit, and each released item's receipt verifies as the release of its own answer."""

from __future__ import annotations

import pytest

from dataward import receipts
from dataward.transparency import ReceiptError
from enclave.audit import AuditLogTrail, Decision, Release, RequestReceived, decode_leaf
from enclave.errors import ZoneError
from enclave.release import Caller, GroupItem, Releaser
from tests.support.person_fakes import MemoryAuditTrail
from tests.unit.enclave.audit.conftest import KEY, KEY_NAME, OpenRecorded

CALLER = Caller("app-1", "acme-insurance", frozenset({"INSURANCE_UNDERWRITING"}))
METHOD = receipts.ELIGIBILITY_CHECK


class _RefusedError(ZoneError):
    reason = "CONSENT_REQUIRED"


def fields(i: int) -> receipts.ResultFields:
    return receipts.eligibility_fields(eligible=i % 2 == 0, coverage_class="A", reasons=())


def test_a_group_is_one_commit_and_each_released_item_has_its_own_receipt(
    open_recorded: OpenRecorded,
) -> None:
    log, store = open_recorded(checkpoint_every_entries=1000, checkpoint_interval_seconds=3600.0)
    releaser = Releaser(AuditLogTrail(log), "test/1")
    tokens = [bytes([i]) * 32 for i in range(4)]
    items = [
        GroupItem("INSURANCE_UNDERWRITING", "", tokens[0], fields(0), client_nonce="n0"),
        GroupItem("INSURANCE_UNDERWRITING", "", tokens[1], _RefusedError()),
        GroupItem("INSURANCE_UNDERWRITING", "", None, _RefusedError()),
        GroupItem("INSURANCE_UNDERWRITING", "", tokens[3], fields(3), client_nonce="n3"),
    ]
    settled = releaser.settle_group(CALLER, METHOD, items)

    assert len(store.appends) == 1  # ONE commit for the whole group
    leaves, checkpoint = store.appends[0]
    assert checkpoint is not None and checkpoint.size == len(leaves) == 10
    events = [decode_leaf(leaf.leaf).event for leaf in leaves]
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        *("RequestReceived", "Decision", "Release"),
        *("RequestReceived", "Decision"),
        *("RequestReceived", "Decision"),
        *("RequestReceived", "Decision", "Release"),
    ]
    requests = [e for e in events if isinstance(e, RequestReceived)]
    decisions = [e for e in events if isinstance(e, Decision)]
    assert [r.request_id for r in requests] == [s.request.request_id for s in settled]
    assert [d.request_id for d in decisions] == [s.request.request_id for s in settled]
    assert [r.person_token for r in requests] == [
        tokens[0].hex(),
        tokens[1].hex(),
        None,
        tokens[3].hex(),
    ]
    assert [(d.allow, d.reasons) for d in decisions] == [
        (True, ()),
        (False, ("CONSENT_REQUIRED",)),
        (False, ("CONSENT_REQUIRED",)),
        (True, ()),
    ]
    assert [s.receipt is None for s in settled] == [False, True, True, False]
    for i, nonce in ((0, "n0"), (3, "n3")):
        receipt = settled[i].receipt
        assert receipt is not None and receipt.checkpoint_note == checkpoint.note
        release = decode_leaf(receipt.leaf or b"").event
        assert isinstance(release, Release)
        receipts.verify_release(
            receipt,
            method=METHOD,
            request_id=settled[i].request.request_id,
            fields=fields(i),
            key_name=KEY_NAME,
            public_key=KEY.public_key(),
            client_nonce=nonce,
        )
        with pytest.raises(ReceiptError):  # another item's answer does not verify
            receipts.verify_release(
                receipt,
                method=METHOD,
                request_id=settled[3 - i].request.request_id,
                fields=fields(i),
                key_name=KEY_NAME,
                public_key=KEY.public_key(),
                client_nonce=nonce,
            )


def test_an_empty_group_logs_nothing(open_recorded: OpenRecorded) -> None:
    log, store = open_recorded()
    assert Releaser(AuditLogTrail(log), "test/1").settle_group(CALLER, METHOD, []) == []
    assert store.appends == []


def test_a_trail_without_group_commits_is_refused_before_anything_is_logged() -> None:
    trail = MemoryAuditTrail()
    with pytest.raises(TypeError):
        Releaser(trail, "test/1").settle_group(
            CALLER, METHOD, [GroupItem("INSURANCE_UNDERWRITING", "", None, _RefusedError())]
        )
    assert trail.entries == []
