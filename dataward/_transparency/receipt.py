"""Receipts: what a partner keeps to prove later that an answer was logged.

A receipt is the leaf's index and hash, the signed checkpoint it was proved against, and the
inclusion proof. :func:`verify_receipt` needs nothing but the log's public key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dataward._transparency.errors import ProofError, ReceiptError
from dataward._transparency.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from dataward._transparency.note import Checkpoint, open_checkpoint


@dataclass(frozen=True)
class Receipt:
    """Proof that the leaf with ``leaf_hash`` is entry ``leaf_index`` of a signed log."""

    leaf_index: int
    leaf_hash: bytes
    checkpoint_note: str
    inclusion_proof: tuple[bytes, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "leaf_hash": base64.b64encode(self.leaf_hash).decode("ascii"),
            "checkpoint": self.checkpoint_note,
            "inclusion_proof": [base64.b64encode(p).decode("ascii") for p in self.inclusion_proof],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Receipt:
        try:
            index = data["leaf_index"]
            note = data["checkpoint"]
            proof = data["inclusion_proof"]
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise ReceiptError("receipt: leaf_index must be a non-negative integer")
            if not isinstance(note, str) or not isinstance(proof, list):
                raise ReceiptError("receipt: checkpoint must be text, inclusion_proof a list")
            hashes = [_b64_hash(data["leaf_hash"]), *(_b64_hash(p) for p in proof)]
        except KeyError as exc:
            raise ReceiptError(f"receipt: missing field {exc.args[0]}") from exc
        return cls(index, hashes[0], note, tuple(hashes[1:]))

    @classmethod
    def from_json(cls, text: str) -> Receipt:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReceiptError("receipt: not valid JSON") from exc
        if not isinstance(data, dict):
            raise ReceiptError("receipt: not a JSON object")
        return cls.from_dict(data)


def _b64_hash(value: object) -> bytes:
    if not isinstance(value, str):
        raise ReceiptError("receipt: a hash must be base64 text")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ReceiptError("receipt: a hash is not valid base64") from exc
    if len(raw) != HASH_SIZE:
        raise ReceiptError(f"receipt: a hash must be {HASH_SIZE} bytes")
    return raw


def verify_receipt(
    receipt: Receipt, key_name: str, public_key: Ed25519PublicKey, leaf: bytes | None = None
) -> Checkpoint:
    """Check a receipt offline with the log's public key; returns the checkpoint it rests on.

    With ``leaf`` (the logged bytes), also checks that the receipt is about that leaf.
    Raises :class:`CheckpointError` (bad signature), :class:`ReceiptError` (wrong leaf) or
    :class:`ProofError` (the proof does not lead to the signed root).
    """
    checkpoint = open_checkpoint(receipt.checkpoint_note, key_name, public_key)
    if leaf is not None and leaf_hash(leaf) != receipt.leaf_hash:
        raise ReceiptError("the receipt is for a different leaf")
    try:
        verify_inclusion(
            receipt.leaf_hash,
            receipt.leaf_index,
            checkpoint.size,
            receipt.inclusion_proof,
            checkpoint.root_hash,
        )
    except ProofError as exc:
        raise ProofError(f"receipt for entry {receipt.leaf_index}: {exc}") from exc
    return checkpoint
