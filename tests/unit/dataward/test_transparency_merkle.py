"""RFC 6962 reference vectors and property tests for the Merkle hashing and proofs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataward.transparency import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# Certificate Transparency's reference test data (merkle_tree_test / transparency-dev).
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, proof)
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
HASHES = [leaf_hash(x) for x in LEAVES]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert MerkleTree().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_reference_roots(size: int) -> None:
    assert root_from_leaf_hashes(HASHES[:size]).hex() == ROOTS[size - 1]
    assert MerkleTree.from_leaf_hashes(HASHES).root(size).hex() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_reference_inclusion_proofs(index: int, size: int, proof: list[str]) -> None:
    expected = [bytes.fromhex(p) for p in proof]
    assert inclusion_proof(HASHES[:size], index) == expected
    assert MerkleTree.from_leaf_hashes(HASHES).inclusion_proof(index, size) == expected
    verify_inclusion(HASHES[index], index, size, expected, bytes.fromhex(ROOTS[size - 1]))


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_reference_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    expected = [bytes.fromhex(p) for p in proof]
    assert consistency_proof(HASHES[:new], old) == expected
    assert MerkleTree.from_leaf_hashes(HASHES).consistency_proof(old, new) == expected
    verify_consistency(
        old, new, bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1]), expected
    )


def test_tampered_reference_proofs_fail() -> None:
    index, size, proof_hex = INCLUSION[2]
    proof = [bytes.fromhex(p) for p in proof_hex]
    root = bytes.fromhex(ROOTS[size - 1])
    bad_cases = [
        (HASHES[index], index - 1, size, proof, root),
        (HASHES[index], index + 1, size, proof, root),
        (HASHES[index], index, size * 2, proof, root),
        (HASHES[index], index, size // 2, proof, root),
        (HASHES[index], index, size, proof[:-1], root),
        (HASHES[index], index, size, [*proof, root], root),
        (HASHES[index], index, size, [root, *proof], root),
        (HASHES[index + 1], index, size, proof, root),
        (HASHES[index], index, size, proof, EMPTY_ROOT),
        (HASHES[index], index, size, [bytes([proof[0][0] ^ 8]) + proof[0][1:], *proof[1:]], root),
    ]
    for case in bad_cases:
        with pytest.raises(ProofError):
            verify_inclusion(*case)


def test_consistency_edge_cases() -> None:
    r1, r2 = bytes.fromhex(ROOTS[0]), bytes.fromhex(ROOTS[1])
    verify_consistency(0, 5, EMPTY_ROOT, r2, [])
    verify_consistency(1, 1, r1, r1, [])
    for args in [
        (1, 1, r1, r2, []),  # same size, different roots
        (2, 1, r2, r1, []),  # time travel
        (1, 2, r1, r2, []),  # empty proof
        (0, 1, EMPTY_ROOT, r1, [EMPTY_ROOT]),  # non-empty proof from the empty tree
        (1, 2, r2, r1, [HASHES[1]]),  # swapped roots
    ]:
        with pytest.raises(ProofError):
            verify_consistency(*args)


def test_proof_errors_for_out_of_range_requests() -> None:
    tree = MerkleTree.from_leaf_hashes(HASHES)
    with pytest.raises(ProofError):
        tree.inclusion_proof(8)
    with pytest.raises(ProofError):
        tree.consistency_proof(9)
    with pytest.raises(ProofError):
        inclusion_proof(HASHES, -1)
    with pytest.raises(ProofError):
        verify_inclusion(b"short", 0, 1, [], EMPTY_ROOT)


def _hashes(n: int, salt: int = 0) -> list[bytes]:
    return [leaf_hash(f"{salt}:{i}".encode()) for i in range(n)]


def test_appending_one_by_one_equals_the_bulk_build() -> None:
    hashes = _hashes(300)
    tree = MerkleTree()
    for h in hashes:
        tree.append(h)
    bulk = MerkleTree.from_leaf_hashes(hashes)
    for size in range(301):
        assert tree.root(size) == bulk.root(size) == root_from_leaf_hashes(hashes[:size])


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 200), st.data())
def test_every_inclusion_proof_verifies(size: int, data: st.DataObject) -> None:
    hashes = _hashes(size)
    index = data.draw(st.integers(0, size - 1))
    tree = MerkleTree.from_leaf_hashes(hashes)
    proof = tree.inclusion_proof(index)
    assert proof == inclusion_proof(hashes, index)
    verify_inclusion(hashes[index], index, size, proof, root_from_leaf_hashes(hashes))


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 200), st.data())
def test_every_consistency_proof_verifies(new: int, data: st.DataObject) -> None:
    hashes = _hashes(new)
    old = data.draw(st.integers(0, new))
    tree = MerkleTree.from_leaf_hashes(hashes)
    proof = tree.consistency_proof(old)
    assert proof == consistency_proof(hashes, old)
    verify_consistency(old, new, tree.root(old), tree.root(), proof)


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 100), st.data())
def test_changed_dropped_or_reordered_leaves_break_verification(
    size: int, data: st.DataObject
) -> None:
    hashes = _hashes(size)
    root = root_from_leaf_hashes(hashes)
    i = data.draw(st.integers(0, size - 1))
    j = data.draw(st.integers(0, size - 1).filter(lambda x: x != i))
    changed = list(hashes)
    changed[i] = leaf_hash(b"changed")
    dropped = hashes[:i] + hashes[i + 1 :]
    reordered = list(hashes)
    reordered[i], reordered[j] = reordered[j], reordered[i]
    for tampered in (changed, dropped, reordered):
        assert root_from_leaf_hashes(tampered) != root
    # A proof built from the tampered log does not verify against the honest root.
    k = min(i, j)
    with pytest.raises(ProofError):
        verify_inclusion(changed[i], i, size, inclusion_proof(changed, i), root)
    with pytest.raises(ProofError):
        verify_inclusion(reordered[k], k, size, inclusion_proof(reordered, k), root)
    if i < size - 1:
        with pytest.raises(ProofError):
            verify_inclusion(dropped[i], i, size, inclusion_proof(dropped, i), root)
    # ... and the honest tree's old head is not consistent with a tampered extension.
    if i + 1 < size:
        tampered_tree = MerkleTree.from_leaf_hashes(changed)
        old = i + 1
        with pytest.raises(ProofError):
            verify_consistency(
                old,
                size,
                root_from_leaf_hashes(hashes[:old]),
                tampered_tree.root(),
                tampered_tree.consistency_proof(old),
            )
