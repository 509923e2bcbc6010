"""verify_log_entries(trusted=...): a log held to checkpoints kept outside it (issue 8, item 6).

The log's own checkpoints cannot catch its newest entries deleted together with every
checkpoint covering them, nor a log rebuilt and re-signed by whoever holds the key.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.transparency import (
    EMPTY_ROOT,
    Checkpoint,
    LogSummary,
    LogVerificationError,
    MerkleTree,
    StoredEntry,
    leaf_hash,
    sign_checkpoint,
    verify_log_entries,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NAME = "example.test/log"


def _log(n: int, tag: bytes = b"entry") -> tuple[list[StoredEntry], MerkleTree]:
    tree = MerkleTree()
    entries = []
    for i in range(n):
        leaf = b"%s %d" % (tag, i)
        tree.append(leaf_hash(leaf))
        entries.append(StoredEntry(i, leaf, leaf_hash(leaf)))
    return entries, tree


def _notes(tree: MerkleTree, *sizes: int) -> list[str]:
    return [sign_checkpoint(_cp(tree, size), NAME, KEY) for size in sizes]


def _cp(tree: MerkleTree, size: int) -> Checkpoint:
    return Checkpoint(NAME, size, tree.root(size))


def _verify(entries: list[StoredEntry], notes: list[str], *trusted: Checkpoint) -> LogSummary:
    return verify_log_entries(
        entries, notes, NAME, KEY.public_key(), origin=NAME, trusted=list(trusted)
    )


def test_a_log_that_extends_the_trusted_checkpoints_verifies() -> None:
    entries, tree = _log(20)
    summary = verify_log_entries(
        entries,
        _notes(tree, 0, 10, 20),
        NAME,
        KEY.public_key(),
        trusted=[_cp(tree, 13), _cp(tree, 0), _cp(tree, 7)],  # any order, any size
    )
    assert summary.trusted == _cp(tree, 13)  # the largest one held
    assert summary.entries == 20


def test_without_trusted_checkpoints_the_summary_names_none() -> None:
    entries, tree = _log(3)
    assert verify_log_entries(entries, _notes(tree, 3), NAME, KEY.public_key()).trusted is None


def test_the_empty_trusted_checkpoint_holds_any_log() -> None:
    entries, tree = _log(4)
    empty = Checkpoint(NAME, 0, EMPTY_ROOT)
    assert _verify(entries, _notes(tree, 4), empty).trusted == empty
    assert _verify([], [], empty).entries == 0


def test_newest_entries_deleted_with_every_checkpoint_fail_against_a_trusted_one() -> None:
    entries, tree = _log(10)
    trusted = _cp(tree, 10)
    _verify(entries[:6], [])  # what `audit verify` accepted before (issue 8, item 6)
    with pytest.raises(LogVerificationError) as info:
        _verify(entries[:6], [], trusted)
    assert str(info.value) == (
        "the log is smaller than the trusted checkpoint: it covers 10 entries, only 6 are "
        "stored; entry 6 is the first missing"
    )
    assert info.value.entry == 6


def test_truncation_back_to_an_older_checkpoint_fails_against_a_newer_trusted_one() -> None:
    entries, tree = _log(10)
    _verify(entries[:5], _notes(tree, 0, 5))  # consistent in itself
    with pytest.raises(LogVerificationError, match="smaller than the trusted checkpoint") as info:
        _verify(entries[:5], _notes(tree, 0, 5), _cp(tree, 8))
    assert info.value.entry == 5


def test_one_entry_short_of_the_trusted_size_fails() -> None:
    entries, tree = _log(10)
    with pytest.raises(LogVerificationError, match="entry 9 is the first missing"):
        _verify(entries[:9], _notes(tree, 5), _cp(tree, 10))
    _verify(entries, _notes(tree, 5), _cp(tree, 10))


def test_a_rebuilt_and_resigned_log_fails_against_a_trusted_checkpoint() -> None:
    _, tree = _log(10)
    trusted = _cp(tree, 6)
    forged, forged_tree = _log(12, tag=b"other")  # re-signed throughout with the same key
    _verify(forged, _notes(forged_tree, 0, 6, 12))
    with pytest.raises(LogVerificationError) as info:
        _verify(forged, _notes(forged_tree, 0, 6, 12), trusted)
    assert "do not match the trusted checkpoint (size 6)" in str(info.value)
    assert (info.value.first, info.value.last) == (0, 5)


def test_an_edited_entry_is_named_by_the_stored_hash_before_the_trusted_root() -> None:
    entries, tree = _log(10)
    entries[4] = StoredEntry(4, b"edited", entries[4].leaf_hash)
    with pytest.raises(LogVerificationError, match="entry 4: the leaf does not match"):
        _verify(entries, _notes(tree, 10), _cp(tree, 8))


def test_an_edited_entry_with_its_hash_is_bounded_by_the_stored_checkpoint_first() -> None:
    entries, tree = _log(10)
    entries[4] = StoredEntry(4, b"edited", leaf_hash(b"edited"))
    with pytest.raises(LogVerificationError, match="signed checkpoint #0") as info:
        _verify(entries, _notes(tree, 5, 10), _cp(tree, 5))
    assert (info.value.first, info.value.last) == (0, 4)
    with pytest.raises(LogVerificationError, match="trusted checkpoint \\(size 5\\)"):
        _verify(entries, [], _cp(tree, 5))
