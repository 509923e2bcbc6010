"""Whole-log verification: which entry or checkpoint each failure names, and its message."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.transparency import (
    EMPTY_ROOT,
    Checkpoint,
    LogVerificationError,
    MerkleTree,
    StoredEntry,
    leaf_hash,
    sign_checkpoint,
    verify_log_entries,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NAME = "dataward.zone/test"
PUB = KEY.public_key()
LEAVES = [f"event {i}".encode() for i in range(12)]
TREE = MerkleTree.from_leaf_hashes(leaf_hash(x) for x in LEAVES)
ENTRIES = [StoredEntry(i, x, leaf_hash(x)) for i, x in enumerate(LEAVES)]


def _note(size: int, root: bytes | None = None, origin: str = NAME) -> str:
    return sign_checkpoint(Checkpoint(origin, size, root or TREE.root(size)), NAME, KEY)


@contextmanager
def refused(
    message: str,
    *,
    entry: int | None = None,
    first: int | None = None,
    last: int | None = None,
    checkpoint: int | None = None,
) -> Iterator[None]:
    with pytest.raises(LogVerificationError) as info:
        yield
    error = info.value
    assert str(error) == message
    assert (error.entry, error.first, error.last, error.checkpoint) == (
        entry,
        entry if first is None else first,
        entry if last is None else last,
        checkpoint,
    )


def test_the_summary_names_the_newest_checkpoint() -> None:
    summary = verify_log_entries(ENTRIES, [_note(4), _note(8), _note(10)], NAME, PUB)
    assert (summary.entries, summary.checkpoints, summary.unsigned_entries) == (12, 3, 2)
    assert summary.latest == Checkpoint(NAME, 10, TREE.root(10))


def test_a_log_with_no_checkpoint_and_entries_without_stored_hashes() -> None:
    entries = [StoredEntry(i, x) for i, x in enumerate(LEAVES)]
    summary = verify_log_entries(entries, [], NAME, PUB)
    assert (summary.entries, summary.checkpoints, summary.latest) == (12, 0, None)
    assert summary.unsigned_entries == 12


def test_a_checkpoint_of_size_zero_and_repeated_sizes_verify() -> None:
    notes = [_note(0, EMPTY_ROOT), _note(0, EMPTY_ROOT), _note(5), _note(5), _note(12)]
    summary = verify_log_entries(ENTRIES, notes, NAME, PUB, origin=NAME)
    assert (summary.checkpoints, summary.unsigned_entries) == (5, 0)
    assert verify_log_entries([], [_note(0, EMPTY_ROOT)], NAME, PUB).entries == 0


def test_the_only_checkpoint_is_checked() -> None:
    with refused(
        "entries 0..4 do not match signed checkpoint #0 (size 5): an entry in this range "
        "was altered",
        first=0,
        last=4,
        checkpoint=0,
    ):
        verify_log_entries(ENTRIES, [_note(5, TREE.root(4))], NAME, PUB)


def test_a_later_checkpoint_names_the_range_since_the_one_before() -> None:
    notes = [_note(3), _note(7, TREE.root(6))]
    with refused(
        "entries 3..6 do not match signed checkpoint #1 (size 7): an entry in this range "
        "was altered",
        first=3,
        last=6,
        checkpoint=1,
    ):
        verify_log_entries(ENTRIES, notes, NAME, PUB)


def test_entries_out_of_order_are_named() -> None:
    with refused("entry 3 is missing", entry=3):
        verify_log_entries(ENTRIES[:3] + ENTRIES[4:], [], NAME, PUB)
    with refused("entry 3 is stored twice or out of order", entry=3):
        verify_log_entries(ENTRIES[:3] + ENTRIES[2:], [], NAME, PUB)
    with refused("entry 0 is missing", entry=0):
        verify_log_entries(ENTRIES[1:], [], NAME, PUB)


def test_an_edited_leaf_is_named() -> None:
    edited = [*ENTRIES]
    edited[6] = StoredEntry(6, b"edited", ENTRIES[6].leaf_hash)
    with refused("entry 6: the leaf does not match its stored hash (edited)", entry=6):
        verify_log_entries(edited, [], NAME, PUB)


def test_check_leaf_sees_every_entry_and_its_answer_is_the_error() -> None:
    seen: list[tuple[int, bytes]] = []

    def check(index: int, leaf: bytes) -> str | None:
        seen.append((index, leaf))
        return None

    verify_log_entries(ENTRIES, [], NAME, PUB, check_leaf=check)
    assert seen == list(enumerate(LEAVES))

    def refuse_the_fifth(index: int, leaf: bytes) -> str | None:
        return f"not an event ({hashlib.sha256(leaf).hexdigest()[:4]})" if index == 5 else None

    problem = refuse_the_fifth(5, LEAVES[5])
    with refused(f"entry 5: {problem}", entry=5):
        verify_log_entries(ENTRIES, [], NAME, PUB, check_leaf=refuse_the_fifth)


def test_truncation_names_the_checkpoint_and_the_first_missing_entry() -> None:
    with refused(
        "the log is truncated: checkpoint #1 covers 10 entries, only 8 are stored; "
        "entry 8 is the first missing",
        entry=8,
        checkpoint=1,
    ):
        verify_log_entries(ENTRIES[:8], [_note(4), _note(10)], NAME, PUB)


def test_checkpoint_problems_name_the_checkpoint() -> None:
    with refused("checkpoint #1 is for another log (origin 'other')", checkpoint=1):
        verify_log_entries(ENTRIES, [_note(4), _note(8, origin="other")], NAME, PUB, origin=NAME)
    with refused(
        "checkpoint #2 (size 4) is smaller than the one before it (size 8): the log went backwards",
        checkpoint=2,
    ):
        verify_log_entries(ENTRIES, [_note(4), _note(8), _note(4)], NAME, PUB)
    with refused(
        "checkpoint #1: not a signed note: no blank line before the signatures", checkpoint=1
    ):
        verify_log_entries(ENTRIES, [_note(4), "junk"], NAME, PUB)


def test_every_trusted_checkpoint_is_checked_and_a_mismatch_names_the_range() -> None:
    # Two trusted checkpoints, the larger one rewritten: stopping after the first would pass.
    trusted = [Checkpoint(NAME, 4, TREE.root(4)), Checkpoint(NAME, 8, TREE.root(7))]
    with refused(
        "entries 0..7 do not match the trusted checkpoint (size 8): the log was rewritten "
        "since that checkpoint was signed",
        first=0,
        last=7,
    ):
        verify_log_entries(ENTRIES, [], NAME, PUB, trusted=trusted)
