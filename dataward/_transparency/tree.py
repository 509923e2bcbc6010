"""A Merkle tree that keeps every complete subtree's hash, for fast proofs over large logs.

Level ``k`` holds, packed 32 bytes each, the hash of every complete, aligned subtree of ``2**k``
leaves; any subtree the RFC 9162 recursion asks for is then a lookup or a combination of
``O(log n)`` lookups, so a root, an inclusion proof or a consistency proof over a million
leaves costs ``O(log² n)`` hashes, not a recomputation. Memory is about 64 bytes per leaf.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from dataward._transparency.errors import ProofError
from dataward._transparency.merkle import EMPTY_ROOT, HASH_SIZE, node_hash, split_point

_NODE_PREFIX = hashlib.sha256(b"\x01")


class MerkleTree:
    """An append-only RFC 6962 tree over leaf hashes. Not thread-safe: callers serialize."""

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0

    @classmethod
    def from_leaf_hashes(cls, hashes: Iterable[bytes]) -> MerkleTree:
        """Build a tree in one pass per level (faster than appending one by one)."""
        tree = cls()
        level0 = bytearray()
        for h in hashes:
            if len(h) != HASH_SIZE:
                raise ProofError(f"a leaf hash is {len(h)} bytes, not {HASH_SIZE}")
            level0 += h
        tree._levels = [level0]
        tree._size = len(level0) // HASH_SIZE
        below = memoryview(level0)
        while len(below) >= 2 * HASH_SIZE:
            above = bytearray()
            for off in range(0, len(below) - HASH_SIZE * 2 + 1, HASH_SIZE * 2):
                # node_hash over the adjacent pair, without copying it out first.
                hasher = _NODE_PREFIX.copy()
                hasher.update(below[off : off + HASH_SIZE * 2])
                above += hasher.digest()
            tree._levels.append(above)
            below = memoryview(above)
        return tree

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Add one leaf hash; returns its index."""
        if len(leaf_hash) != HASH_SIZE:
            raise ProofError(f"a leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
        index = self._size
        self._levels[0] += leaf_hash
        self._size += 1
        j, level, node = index, 0, leaf_hash
        while j & 1:
            node = node_hash(self._node(level, j - 1), node)
            level += 1
            j >>= 1
            if len(self._levels) == level:
                self._levels.append(bytearray())
            self._levels[level] += node
        return index

    def leaf_hash(self, index: int) -> bytes:
        if not 0 <= index < self._size:
            raise ProofError(f"leaf index {index} is outside a tree of size {self._size}")
        return self._node(0, index)

    def _node(self, level: int, j: int) -> bytes:
        return bytes(self._levels[level][j * HASH_SIZE : (j + 1) * HASH_SIZE])

    def _range(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for the ranges the RFC recursion produces (start aligned).

        The recursion splits off the largest power of two below the size each time, so its
        subtrees are one complete stored subtree per bit of ``end - start``, largest first,
        folded right to left: done here as a loop over the stored hashes (issue 15: the same
        hashes as the recursion, without a call per level)."""
        n = end - start
        levels = self._levels
        stack: list[bytes] = []
        while n:
            level = n.bit_length() - 1
            if start & ((1 << level) - 1):  # not aligned: no such stored subtree
                return self._range_recursive(start, end)
            offset = (start >> level) * HASH_SIZE
            stack.append(bytes(levels[level][offset : offset + HASH_SIZE]))
            start += 1 << level
            n -= 1 << level
        node = stack.pop()
        while stack:
            node = node_hash(stack.pop(), node)
        return node

    def _range_recursive(self, start: int, end: int) -> bytes:
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return self._node(n.bit_length() - 1, start // n)
        k = split_point(n)
        return node_hash(self._range(start, start + k), self._range(start + k, end))

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        if not 0 <= size <= self._size:
            raise ProofError(f"tree size {size} is outside 0..{self._size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (default: all)."""
        n = self._check_size(size)
        return EMPTY_ROOT if n == 0 else self._range(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) (RFC 9162 §2.1.3.1).

        Read off the stored levels, leaf first (issue 15; the shape of transparency-dev's
        ``proof.Inclusion``): below the level where the paths to ``index`` and to the last
        leaf part, every sibling is a complete stored subtree; at that level the sibling is
        the right border's subtree (complete, or folded from its parts); above it, the path
        runs along the right border and takes each complete left sibling it passes.
        """
        n = self._check_size(size)
        if not 0 <= index < n:
            raise ProofError(f"leaf index {index} is outside a tree of size {n}")
        levels = self._levels
        inner = (index ^ (n - 1)).bit_length()
        proof: list[bytes] = []
        for level in range(inner - 1):
            offset = ((index >> level) ^ 1) * HASH_SIZE
            proof.append(bytes(levels[level][offset : offset + HASH_SIZE]))
        if inner:
            level = inner - 1
            first = ((index >> level) ^ 1) << level  # the border subtree's first leaf
            proof.append(self._range(first, n))
        for level in range(inner, (n - 1).bit_length()):
            if (index >> level) & 1:
                offset = ((index >> level) ^ 1) * HASH_SIZE
                proof.append(bytes(levels[level][offset : offset + HASH_SIZE]))
        return proof

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1)."""
        n = self._check_size(new_size)
        if not 0 <= old_size <= n:
            raise ProofError(f"old size {old_size} is outside 0..{n}")
        if old_size in (0, n):
            return []
        proof: list[bytes] = []
        m, start, end, complete = old_size, 0, n, True
        while m != end - start:
            k = split_point(end - start)
            if m <= k:
                proof.append(self._range(start + k, end))
                end = start + k
            else:
                proof.append(self._range(start, start + k))
                m -= k
                start += k
                complete = False
        if not complete:
            proof.append(self._range(start, end))
        proof.reverse()
        return proof
