"""Every range and length check of the Merkle proofs, one by one (issue 8, item 13).

Each refusal here is one that a verifier without that check would accept, or answer with
another error: the comments name the input that would slip through. Messages are asserted
exactly because they are public (``dataward audit verify`` and the SDK print them) and
because a check that is deleted often still fails later, with another message. The last
test walks every proof of every tree up to 33 leaves, so that no mutant of the walks survives
on the luck of hypothesis' draws (one did: 13 -> 14 is the smallest pair that tells a
shifted sn from a reset one).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from dataward.transparency import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

H = [leaf_hash(bytes([i])) for i in range(8)]
R2 = node_hash(H[0], H[1])
R3 = root_from_leaf_hashes(H[:3])
R4 = root_from_leaf_hashes(H[:4])
PROOF_3_4 = consistency_proof(H[:4], 3)
OTHER = leaf_hash(b"other")


@contextmanager
def refused(message: str) -> Iterator[None]:
    with pytest.raises(ProofError) as info:
        yield
    assert str(info.value) == message


def test_leaf_and_node_hashes_match_rfc6962_vectors() -> None:
    # Computed in the test, not at import, so a changed prefix byte fails here.
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert node_hash(leaf_hash(b""), leaf_hash(b"\x00")).hex() == (
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
    )


# --- verify_inclusion -----------------------------------------------------------------------


def test_inclusion_at_the_last_index_verifies() -> None:
    verify_inclusion(H[0], 0, 1, [], H[0])
    verify_inclusion(H[1], 1, 2, [H[0]], R2)


@pytest.mark.parametrize(
    ("leaf", "index", "size", "proof", "root"),
    [
        # Without the check the first four verify (the walk reads the index bit by bit and
        # accepts -1, -2 or the size itself as a valid position); the rest fail later with
        # another message.
        (H[0], 1, 1, [], H[0]),  # index == size
        (H[0], 2, 2, [H[1]], R2),  # index == size, non-empty proof
        (H[0], -1, 1, [], H[0]),  # negative index
        (H[0], -2, 2, [H[1]], R2),  # negative index, non-empty proof
        (H[0], 5, 3, [H[1]], R2),  # index past the size
        (EMPTY_ROOT, 0, 0, [], EMPTY_ROOT),  # the empty tree has no leaf
        (H[0], 0, -1, [], H[0]),  # negative size
    ],
)
def test_inclusion_index_outside_the_tree_is_refused(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    with refused(f"leaf index {index} is outside a tree of size {size}"):
        verify_inclusion(leaf, index, size, proof, root)


def test_inclusion_hash_lengths_are_checked() -> None:
    with refused("the leaf hash is 5 bytes, not 32"):
        verify_inclusion(b"short", 0, 1, [], EMPTY_ROOT)
    with refused("the leaf hash is 33 bytes, not 32"):
        verify_inclusion(H[0] + b"x", 0, 1, [], H[0])
    with refused("the root hash is 31 bytes, not 32"):
        verify_inclusion(H[0], 0, 1, [], H[0][:31])
    with refused("a proof element is 33 bytes, not 32"):
        verify_inclusion(H[0], 0, 2, [H[1] + b"x"], R2)


def test_inclusion_proof_of_the_wrong_length_is_refused() -> None:
    with refused("the inclusion proof is longer than the tree is deep"):
        verify_inclusion(H[0], 0, 1, [H[1]], H[0])
    with refused("the inclusion proof is longer than the tree is deep"):
        verify_inclusion(H[0], 0, 2, [H[1], H[2]], R2)
    with refused("the inclusion proof is shorter than the tree is deep"):
        verify_inclusion(H[0], 0, 2, [], R2)
    with refused("the inclusion proof is shorter than the tree is deep"):
        verify_inclusion(H[0], 0, 3, [H[1]], R3)


def test_inclusion_proof_to_another_root_is_refused() -> None:
    with refused("the inclusion proof does not lead to the root hash"):
        verify_inclusion(H[0], 0, 2, [H[1]], OTHER)
    with refused("the inclusion proof does not lead to the root hash"):
        verify_inclusion(H[0], 0, 1, [], OTHER)


# --- verify_consistency ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "old_root", "new_root", "proof"),
    [
        # Without the check this verifies: old root A, new root node(A, B), proof [A, B].
        (3, 2, H[0], node_hash(H[0], H[1]), [H[0], H[1]]),  # old size > new size
        (2, 1, R2, H[0], [H[0]]),  # old size > new size
        (2, 1, R2, H[0], []),  # ... with an empty proof
        # Without the check this verifies: a one-element proof equal to both roots.
        (-1, 1, H[0], H[0], [H[0]]),  # negative old size
        (-1, 1, H[0], H[0], []),
        (-2, -1, H[0], H[0], [H[0]]),  # both negative
        # Without the check this verifies as a proof from the empty tree.
        (0, -1, EMPTY_ROOT, EMPTY_ROOT, []),  # negative new size
    ],
)
def test_consistency_sizes_out_of_order_are_refused(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> None:
    with refused(f"old size {old} is not between 0 and the new size {new}"):
        verify_consistency(old, new, old_root, new_root, proof)


def test_consistency_hash_lengths_are_checked() -> None:
    with refused("the old root hash is 31 bytes, not 32"):
        verify_consistency(1, 1, H[0][:31], H[0], [])
    with refused("the new root hash is 33 bytes, not 32"):
        verify_consistency(1, 1, H[0], H[0] + b"x", [])
    with refused("a proof element is 31 bytes, not 32"):
        verify_consistency(3, 4, R3, R4, [*PROOF_3_4[:-1], PROOF_3_4[-1][:31]])


def test_consistency_from_the_empty_tree() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 4, EMPTY_ROOT, R4, [])
    with refused("a consistency proof from the empty tree must be empty"):
        verify_consistency(0, 4, EMPTY_ROOT, R4, [R4])


def test_consistency_between_equal_sizes() -> None:
    verify_consistency(4, 4, R4, R4, [])
    # Without the emptiness check a junk proof between equal trees would be accepted.
    with refused("a consistency proof between equal sizes must be empty"):
        verify_consistency(1, 1, H[0], H[0], [H[1]])
    with refused("a consistency proof between equal sizes must be empty"):
        verify_consistency(4, 4, R4, R4, [R4])
    with refused("two trees of the same size have different roots"):
        verify_consistency(4, 4, R4, R3, [])


def test_consistency_proof_missing_is_refused() -> None:
    # Without the check the old size 3 would index an empty path (IndexError, not ProofError)
    # and the power-of-two old size 2 would fail only as "shorter".
    with refused("the consistency proof is empty"):
        verify_consistency(3, 4, R3, R4, [])
    with refused("the consistency proof is empty"):
        verify_consistency(2, 4, R2, R4, [])


def test_consistency_proof_of_the_wrong_length_is_refused() -> None:
    proof_1_4 = consistency_proof(H[:4], 1)
    verify_consistency(1, 4, H[0], R4, proof_1_4)
    with refused("the consistency proof is longer than needed"):
        verify_consistency(1, 4, H[0], R4, [*proof_1_4, H[5]])
    with refused("the consistency proof is longer than needed"):
        verify_consistency(1, 2, H[0], R2, [H[1], H[1]])
    with refused("the consistency proof is shorter than needed"):
        verify_consistency(1, 4, H[0], R4, proof_1_4[:-1])


def test_consistency_proof_to_other_roots_is_refused() -> None:
    verify_consistency(3, 4, R3, R4, PROOF_3_4)
    with refused("the consistency proof does not lead to the old root hash"):
        verify_consistency(3, 4, OTHER, R4, PROOF_3_4)
    with refused("the consistency proof does not lead to the new root hash"):
        verify_consistency(3, 4, R3, OTHER, PROOF_3_4)


# --- the reference proofs -------------------------------------------------------------------


def test_reference_inclusion_proof_range() -> None:
    assert inclusion_proof(H[:1], 0) == []
    assert inclusion_proof(H, 7) == MerkleTree.from_leaf_hashes(H).inclusion_proof(7)
    for hashes, index in ((H, 8), (H, 9), (H, -1), ([], 0)):
        with refused(f"leaf index {index} is outside a tree of size {len(hashes)}"):
            inclusion_proof(hashes, index)


def test_reference_consistency_proof_range() -> None:
    assert consistency_proof(H, 0) == []
    assert consistency_proof(H, 8) == []
    assert consistency_proof([], 0) == []
    assert consistency_proof(H, 7) == MerkleTree.from_leaf_hashes(H).consistency_proof(7)
    for hashes, old in ((H, 9), (H, -1), ([], 1)):
        with refused(f"old size {old} is outside a tree of size {len(hashes)}"):
            consistency_proof(hashes, old)


# --- MerkleTree -----------------------------------------------------------------------------


def test_tree_refuses_leaf_hashes_of_the_wrong_length() -> None:
    with refused("a leaf hash is 31 bytes, not 32"):
        MerkleTree.from_leaf_hashes([H[0], H[1][:31]])
    with refused("a leaf hash is 33 bytes, not 32"):
        MerkleTree().append(H[0] + b"x")


def test_tree_leaf_hash_range() -> None:
    tree = MerkleTree.from_leaf_hashes(H)
    assert tree.leaf_hash(0) == H[0]
    assert tree.leaf_hash(7) == H[7]
    for index in (8, -1):
        with refused(f"leaf index {index} is outside a tree of size 8"):
            tree.leaf_hash(index)
    with refused("leaf index 0 is outside a tree of size 0"):
        MerkleTree().leaf_hash(0)


def test_tree_size_range() -> None:
    tree = MerkleTree.from_leaf_hashes(H)
    assert tree.root(0) == EMPTY_ROOT
    assert tree.root(8) == tree.root() == root_from_leaf_hashes(H)
    for size in (9, -1):
        with refused(f"tree size {size} is outside 0..8"):
            tree.root(size)
        with refused(f"tree size {size} is outside 0..8"):
            tree.inclusion_proof(0, size)
        with refused(f"tree size {size} is outside 0..8"):
            tree.consistency_proof(0, size)


def test_tree_inclusion_proof_range() -> None:
    tree = MerkleTree.from_leaf_hashes(H)
    assert tree.inclusion_proof(2, 3) == inclusion_proof(H[:3], 2)
    # Index 3 is in the tree but not in its first three leaves.
    with refused("leaf index 3 is outside a tree of size 3"):
        tree.inclusion_proof(3, 3)
    with refused("leaf index -1 is outside a tree of size 8"):
        tree.inclusion_proof(-1)
    with refused("leaf index 8 is outside a tree of size 8"):
        tree.inclusion_proof(8)


def test_tree_consistency_proof_range() -> None:
    tree = MerkleTree.from_leaf_hashes(H)
    assert tree.consistency_proof(0, 5) == []
    assert tree.consistency_proof(5, 5) == []
    assert tree.consistency_proof(3, 5) == consistency_proof(H[:5], 3)
    with refused("old size 6 is outside 0..5"):
        tree.consistency_proof(6, 5)
    with refused("old size -1 is outside 0..8"):
        tree.consistency_proof(-1)
    with refused("old size 9 is outside 0..8"):
        tree.consistency_proof(9)


def test_every_proof_of_every_small_tree_verifies() -> None:
    hashes = [leaf_hash(i.to_bytes(2, "big")) for i in range(33)]
    tree = MerkleTree.from_leaf_hashes(hashes)
    for new in range(1, 34):
        root = tree.root(new)
        assert root == root_from_leaf_hashes(hashes[:new])
        for index in range(new):
            proof = tree.inclusion_proof(index, new)
            assert proof == inclusion_proof(hashes[:new], index)
            verify_inclusion(hashes[index], index, new, proof, root)
        for old in range(new + 1):
            proof = tree.consistency_proof(old, new)
            assert proof == consistency_proof(hashes[:new], old)
            verify_consistency(old, new, tree.root(old), root, proof)


def test_the_empty_tree_has_one_root() -> None:
    """Found by mutation testing: from size 0 any old root passed, and at sizes 0 and 0 the
    roots were not compared at all."""
    import hashlib

    from dataward.transparency import ProofError, verify_consistency

    empty, other = hashlib.sha256(b"").digest(), hashlib.sha256(b"x").digest()
    verify_consistency(0, 5, empty, other, [])
    verify_consistency(0, 0, empty, empty, [])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 5, other, other, [])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 0, empty, other, [])


def test_the_stored_walks_equal_the_rfc_recursion_up_to_130_leaves() -> None:
    """Issue 15 reads proofs and roots off the stored levels instead of recursing: every
    root and inclusion proof of every size up to 130 (past three powers of two) is still
    the RFC's, for a tree built in bulk and one grown leaf by leaf."""
    hashes = [leaf_hash(i.to_bytes(2, "big")) for i in range(130)]
    bulk = MerkleTree.from_leaf_hashes(hashes)
    grown = MerkleTree()
    for new in range(1, 131):
        grown.append(hashes[new - 1])
        assert bulk.root(new) == grown.root() == root_from_leaf_hashes(hashes[:new])
        for index in range(new):
            proof = bulk.inclusion_proof(index, new)
            assert proof == grown.inclusion_proof(index) == inclusion_proof(hashes[:new], index)
            assert all(type(p) is bytes for p in proof)  # what a Receipt and the wire hold
