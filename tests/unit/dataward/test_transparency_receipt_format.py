"""The receipt's JSON form and what :func:`verify_receipt` refuses, with exact messages."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.transparency import (
    Checkpoint,
    MerkleTree,
    ProofError,
    Receipt,
    ReceiptError,
    leaf_hash,
    sign_checkpoint,
    verify_receipt,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NAME = "dataward.zone/test"
LEAVES = [f"event {i}".encode() for i in range(5)]
TREE = MerkleTree.from_leaf_hashes(leaf_hash(x) for x in LEAVES)
NOTE = sign_checkpoint(Checkpoint(NAME, 5, TREE.root()), NAME, KEY)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _receipt(index: int = 3, leaf: bytes | None = None) -> Receipt:
    return Receipt(index, TREE.leaf_hash(index), NOTE, tuple(TREE.inclusion_proof(index)), leaf)


_DROP = object()  # a field value in _fields(): leave the field out


def _fields(**changes: Any) -> dict[str, Any]:
    """The genuine receipt's JSON fields with ``changes`` applied."""
    data = _receipt().to_dict()
    data.update(changes)
    return {k: v for k, v in data.items() if v is not _DROP}


@contextmanager
def refused(message: str, error: type[Exception] = ReceiptError) -> Iterator[None]:
    with pytest.raises(error) as info:
        yield
    assert str(info.value) == message


def test_the_json_form_is_compact_and_sorted() -> None:
    receipt = _receipt(leaf=LEAVES[3])
    proof = ",".join(f'"{_b64(p)}"' for p in receipt.inclusion_proof)
    assert receipt.to_json() == (
        f'{{"checkpoint":{json.dumps(NOTE)},"inclusion_proof":[{proof}],'
        f'"leaf":"{_b64(LEAVES[3])}","leaf_hash":"{_b64(receipt.leaf_hash)}","leaf_index":3}}'
    )
    assert "leaf" not in _receipt().to_dict()
    assert Receipt.from_json(receipt.to_json()) == receipt


def test_index_zero_and_an_empty_leaf_are_accepted() -> None:
    receipt = Receipt.from_dict(_fields(leaf_index=0, leaf=_b64(b"")))
    assert (receipt.leaf_index, receipt.leaf) == (0, b"")
    assert Receipt.from_dict(_fields(leaf=None)).leaf is None


@pytest.mark.parametrize("index", [-1, True, False, "3", 3.0, None])
def test_leaf_index_must_be_a_non_negative_integer(index: object) -> None:
    with refused("receipt: leaf_index must be a non-negative integer"):
        Receipt.from_dict(_fields(leaf_index=index))


@pytest.mark.parametrize(
    "changes",
    [{"checkpoint": 5}, {"inclusion_proof": "AAAA"}, {"inclusion_proof": None}],
)
def test_checkpoint_must_be_text_and_the_proof_a_list(changes: dict[str, object]) -> None:
    with refused("receipt: checkpoint must be text, inclusion_proof a list"):
        Receipt.from_dict(_fields(**changes))


@pytest.mark.parametrize("field", ["leaf_index", "leaf_hash", "checkpoint", "inclusion_proof"])
def test_a_missing_field_is_named(field: str) -> None:
    with refused(f"receipt: missing field {field}"):
        Receipt.from_dict(_fields(**{field: _DROP}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"leaf_hash": 5}, "receipt: hashes and the leaf must be base64 text"),
        ({"inclusion_proof": [b"raw"]}, "receipt: hashes and the leaf must be base64 text"),
        ({"leaf": 5}, "receipt: hashes and the leaf must be base64 text"),
        ({"leaf_hash": "!!"}, "receipt: a hash or the leaf is not valid base64"),
        ({"leaf": "AAA"}, "receipt: a hash or the leaf is not valid base64"),
        ({"leaf_hash": _b64(bytes(31))}, "receipt: a hash must be 32 bytes"),
        ({"inclusion_proof": [_b64(bytes(33))]}, "receipt: a hash must be 32 bytes"),
    ],
)
def test_malformed_hashes_and_leaves_are_refused(changes: dict[str, object], message: str) -> None:
    with refused(message):
        Receipt.from_dict(_fields(**changes))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "receipt: not valid JSON"),
        ("", "receipt: not valid JSON"),
        ("[]", "receipt: not a JSON object"),
        ('"receipt"', "receipt: not a JSON object"),
    ],
)
def test_text_that_is_not_a_receipt_object_is_refused(text: str, message: str) -> None:
    with refused(message):
        Receipt.from_json(text)


def test_the_genuine_receipt_verifies_with_and_without_its_leaf() -> None:
    assert verify_receipt(_receipt(), NAME, KEY.public_key()).size == 5
    assert verify_receipt(_receipt(leaf=LEAVES[3]), NAME, KEY.public_key()).size == 5
    assert verify_receipt(_receipt(), NAME, KEY.public_key(), LEAVES[3]).size == 5


def test_a_receipt_carrying_another_leaf_is_refused() -> None:
    # The receipt's own leaf is checked when no leaf is passed in.
    with refused("the receipt is for a different leaf"):
        verify_receipt(_receipt(leaf=LEAVES[2]), NAME, KEY.public_key())
    # A leaf passed in wins over the one the receipt carries.
    with refused("the receipt is for a different leaf"):
        verify_receipt(_receipt(leaf=LEAVES[3]), NAME, KEY.public_key(), LEAVES[2])


def test_a_proof_failure_names_the_entry() -> None:
    receipt = _receipt()
    moved = Receipt(2, receipt.leaf_hash, NOTE, receipt.inclusion_proof)
    with refused(
        "receipt for entry 2: the inclusion proof does not lead to the root hash", ProofError
    ):
        verify_receipt(moved, NAME, KEY.public_key())
    outside = Receipt(5, receipt.leaf_hash, NOTE, receipt.inclusion_proof)
    with refused("receipt for entry 5: leaf index 5 is outside a tree of size 5", ProofError):
        verify_receipt(outside, NAME, KEY.public_key())
