"""RFC 6962 / RFC 9162 Merkle tree hashing, reference proofs and proof verification.

The reference functions (:func:`root_from_leaf_hashes`, :func:`inclusion_proof`,
:func:`consistency_proof`) follow the recursive definitions of RFC 9162 §2.1.1, §2.1.3.1 and
§2.1.4.1 literally: they are for small logs and for tests. :class:`~.tree.MerkleTree` computes
the same values from stored subtree hashes for large logs.

The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from dataward._transparency.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """MTH of one entry: SHA-256(0x00 || data) (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right) (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the leaf hashes; the empty tree's root is SHA-256 of the empty string."""
    if not hashes:
        return EMPTY_ROOT
    # Fold complete subtrees left to right, then merge the stack right to left: the same tree
    # the recursive definition builds, without recursion depth or slicing.
    stack: list[tuple[int, bytes]] = []
    for h in hashes:
        size, node = 1, h
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, node = left_size + size, node_hash(left, node)
        stack.append((size, node))
    _, root = stack.pop()
    while stack:
        _, left = stack.pop()
        root = node_hash(left, root)
    return root


def inclusion_proof(hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) (RFC 9162 §2.1.3.1), leaf-to-root order."""
    if not 0 <= index < len(hashes):
        raise ProofError(f"leaf index {index} is outside a tree of size {len(hashes)}")
    return _path(index, hashes)


def _path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*_path(m, d[:k]), root_from_leaf_hashes(d[k:])]
    return [*_path(m - k, d[k:]), root_from_leaf_hashes(d[:k])]


def consistency_proof(hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]) (RFC 9162 §2.1.4.1); empty when ``old_size`` is 0 or ``n``."""
    if not 0 <= old_size <= len(hashes):
        raise ProofError(f"old size {old_size} is outside a tree of size {len(hashes)}")
    if old_size in (0, len(hashes)):
        return []
    return _subproof(old_size, hashes, True)


def _subproof(m: int, d: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if complete else [root_from_leaf_hashes(d)]
    k = split_point(n)
    if m <= k:
        return [*_subproof(m, d[:k], complete), root_from_leaf_hashes(d[k:])]
    return [*_subproof(m - k, d[k:], False), root_from_leaf_hashes(d[:k])]


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` sits at ``index`` in the tree of ``tree_size`` with ``root``.

    RFC 9162 §2.1.3.2. Raises :class:`ProofError`; returns nothing on success.
    """
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} is outside a tree of size {tree_size}")
    _check_hash(leaf_hash, "the leaf hash")
    _check_hash(root, "the root hash")
    fn, sn = index, tree_size - 1
    r = leaf_hash
    for p in proof:
        _check_hash(p, "a proof element")
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError("the inclusion proof does not lead to the root hash")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new_size`` with ``new_root`` extends ``old_size``/``old_root``.

    RFC 9162 §2.1.4.2. A tree of size 0 (whose root must be the empty tree's) is consistent
    with every later tree (its proof is empty). Raises :class:`ProofError`; returns nothing on
    success.
    """
    if not 0 <= old_size <= new_size:
        raise ProofError(f"old size {old_size} is not between 0 and the new size {new_size}")
    _check_hash(old_root, "the old root hash")
    _check_hash(new_root, "the new root hash")
    for p in proof:
        _check_hash(p, "a proof element")
    if old_size == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        # The empty tree has one root (RFC 9162 §2.1.1): any other "old root" of size 0 is not
        # a tree of this log, and neither is a new tree of size 0 with another root.
        if old_root != EMPTY_ROOT:
            raise ProofError("the root of the empty tree is not the hash of the empty string")
        if new_size == 0 and new_root != EMPTY_ROOT:
            raise ProofError("the root of the empty tree is not the hash of the empty string")
        return
    if old_size == new_size:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("two trees of the same size have different roots")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a subtree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than needed")
    if fr != old_root:
        raise ProofError("the consistency proof does not lead to the old root hash")
    if sr != new_root:
        raise ProofError("the consistency proof does not lead to the new root hash")
