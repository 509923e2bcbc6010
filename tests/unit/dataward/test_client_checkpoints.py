"""The SDK's CheckpointTracker: the largest checkpoint seen per log, every other one held to it
with the zone's consistency proofs (issue 8, item 6). The prover is a fake zone over a real
RFC 6962 tree, answering as ``AuditService.GetConsistencyProof`` does."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.client import LogForked, LogRolledBack, NotFound, ReceiptInvalid, Unavailable
from dataward.client._checkpoints import CheckpointTracker
from dataward.transparency import Checkpoint, MerkleTree, leaf_hash, sign_checkpoint

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NAME = "example.test/zone"


class FakeZone:
    """A log of ``n`` entries; ``prove`` records what it was asked and answers from the tree."""

    def __init__(self, n: int, tag: bytes = b"entry") -> None:
        self.tree = MerkleTree()
        for i in range(n):
            self.tree.append(leaf_hash(b"%s %d" % (tag, i)))
        self.asked: list[tuple[int, int]] = []

    def checkpoint(self, size: int, origin: str = NAME) -> tuple[Checkpoint, str]:
        cp = Checkpoint(origin, size, self.tree.root(size))
        return cp, sign_checkpoint(cp, NAME, KEY)

    def prove(self, old: int, new: int) -> Sequence[bytes]:
        self.asked.append((old, new))
        if new > self.tree.size:
            raise NotFound("new_size is larger than the audit log", reason="NOT_FOUND")
        return self.tree.consistency_proof(old, new)


def _observe(
    tracker: CheckpointTracker,
    seen: tuple[Checkpoint, str],
    prove: Callable[[int, int], Sequence[bytes]],
) -> None:
    tracker.observe(NAME, seen[0], seen[1], prove)


def test_the_first_checkpoint_is_kept_without_a_proof() -> None:
    zone, tracker = FakeZone(10), CheckpointTracker()
    assert tracker.largest(NAME) is None
    _observe(tracker, zone.checkpoint(4), zone.prove)
    assert zone.asked == []
    assert tracker.largest(NAME) == zone.checkpoint(4)[1]


def test_a_larger_consistent_checkpoint_is_proved_and_kept() -> None:
    zone, tracker = FakeZone(10), CheckpointTracker()
    _observe(tracker, zone.checkpoint(4), zone.prove)
    _observe(tracker, zone.checkpoint(9), zone.prove)
    assert zone.asked == [(4, 9)]
    assert tracker.largest(NAME) == zone.checkpoint(9)[1]


def test_a_smaller_consistent_checkpoint_is_proved_a_prefix_and_not_kept() -> None:
    zone, tracker = FakeZone(10), CheckpointTracker()
    _observe(tracker, zone.checkpoint(9), zone.prove)
    _observe(tracker, zone.checkpoint(3), zone.prove)
    _observe(tracker, zone.checkpoint(0), zone.prove)
    assert zone.asked == [(3, 9), (0, 9)]
    assert tracker.largest(NAME) == zone.checkpoint(9)[1]


def test_the_same_checkpoint_again_needs_no_proof() -> None:
    zone, tracker = FakeZone(10), CheckpointTracker()
    _observe(tracker, zone.checkpoint(5), zone.prove)
    _observe(tracker, zone.checkpoint(5), zone.prove)
    assert zone.asked == []


def test_one_size_with_two_roots_is_a_fork_with_both_notes_as_evidence() -> None:
    honest, forked, tracker = FakeZone(10), FakeZone(10, b"other"), CheckpointTracker()
    _observe(tracker, honest.checkpoint(6), honest.prove)
    with pytest.raises(LogForked, match="two checkpoints of size 6") as info:
        _observe(tracker, forked.checkpoint(6), forked.prove)
    assert (info.value.seen, info.value.presented) == (
        honest.checkpoint(6)[1],
        forked.checkpoint(6)[1],
    )
    assert isinstance(info.value, ReceiptInvalid)
    assert tracker.largest(NAME) == honest.checkpoint(6)[1]


@pytest.mark.parametrize(("kept", "presented"), [(4, 9), (9, 4)])
def test_a_checkpoint_of_another_history_is_a_fork(kept: int, presented: int) -> None:
    honest, forked, tracker = FakeZone(10), FakeZone(10, b"other"), CheckpointTracker()
    _observe(tracker, honest.checkpoint(kept), honest.prove)
    with pytest.raises(LogForked, match="not consistent"):
        _observe(tracker, forked.checkpoint(presented), forked.prove)
    assert tracker.largest(NAME) == honest.checkpoint(kept)[1]


def test_a_junk_proof_is_a_fork() -> None:
    zone, tracker = FakeZone(10), CheckpointTracker()
    _observe(tracker, zone.checkpoint(3), zone.prove)
    with pytest.raises(LogForked):
        _observe(tracker, zone.checkpoint(7), lambda old, new: [b"\x00" * 32] * 3)
    with pytest.raises(LogForked):
        _observe(tracker, zone.checkpoint(7), lambda old, new: [])


def test_a_log_smaller_than_a_checkpoint_it_signed_is_a_rollback() -> None:
    before, tracker = FakeZone(10), CheckpointTracker()
    _observe(tracker, before.checkpoint(10), before.prove)
    after = FakeZone(6)  # the same first 6 entries, the rest deleted
    with pytest.raises(LogRolledBack, match="no longer holds the 10 entries") as info:
        _observe(tracker, after.checkpoint(6), after.prove)
    assert after.asked == [(6, 10)]
    assert info.value.seen == before.checkpoint(10)[1]
    assert tracker.largest(NAME) == before.checkpoint(10)[1]


def test_a_proof_the_zone_cannot_give_now_is_raised_as_it_is_and_nothing_is_kept() -> None:
    zone, tracker = FakeZone(10), CheckpointTracker()
    _observe(tracker, zone.checkpoint(3), zone.prove)

    def unavailable(old: int, new: int) -> Sequence[bytes]:
        raise Unavailable("the zone cannot serve now")

    with pytest.raises(Unavailable):
        _observe(tracker, zone.checkpoint(8), unavailable)
    assert tracker.largest(NAME) == zone.checkpoint(3)[1]


def test_another_origin_under_the_zone_key_is_a_fork() -> None:
    """Issue 8 review: keyed per (key, origin), a rewritten history signed by the zone's key
    under another origin passed as a new log (and was handed on as the trusted seed)."""
    zone, tracker = FakeZone(10), CheckpointTracker()
    _observe(tracker, zone.checkpoint(8, origin="log-a"), zone.prove)
    for origin in ("log-b", "log-a ", "x"):
        with pytest.raises(LogForked, match="another log"):
            _observe(tracker, zone.checkpoint(2, origin=origin), zone.prove)
    assert zone.asked == []
    assert tracker.largest(NAME) == zone.checkpoint(8, origin="log-a")[1]
    assert tracker.largest("another-key") is None


def test_a_checkpoint_kept_meanwhile_by_another_call_is_checked_against_too() -> None:
    """The proof is fetched outside the lock: when another call keeps a larger checkpoint in
    the meantime, the new one is held to that one as well."""
    honest, tracker = FakeZone(10), CheckpointTracker()
    forked = FakeZone(5)  # the honest log's first 5 entries, then another history
    for i in range(5, 10):
        forked.tree.append(leaf_hash(b"other %d" % i))
    _observe(tracker, honest.checkpoint(2), honest.prove)

    def racing(old: int, new: int) -> Sequence[bytes]:
        if not forked.asked:  # while this proof is fetched, another call keeps honest 9
            _observe(tracker, honest.checkpoint(9), honest.prove)
        return forked.prove(old, new)

    with pytest.raises(LogForked):  # consistent with honest 2, not with honest 9
        _observe(tracker, forked.checkpoint(7), racing)
    assert forked.asked == [(2, 7), (7, 9)]
    assert tracker.largest(NAME) == honest.checkpoint(9)[1]
