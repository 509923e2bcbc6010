"""Receipts: what a partner keeps to prove later that an answer was logged.

A receipt is the leaf's index and hash, the signed checkpoint it was proved against, the
inclusion proof and -- for an answer -- the leaf bytes themselves (the zone's release event:
ids and hashes only), so a partner can tie the receipt to the answer it came with
(:mod:`dataward.receipts`). :func:`verify_receipt` needs nothing but the log's public key.
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
    """Proof that the leaf with ``leaf_hash`` is entry ``leaf_index`` of a signed log.

    ``leaf`` is the logged bytes when the log handed them out (answers do); absent otherwise.
    """

    leaf_index: int
    leaf_hash: bytes
    checkpoint_note: str
    inclusion_proof: tuple[bytes, ...]
    leaf: bytes | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "leaf_index": self.leaf_index,
            "leaf_hash": base64.b64encode(self.leaf_hash).decode("ascii"),
            "checkpoint": self.checkpoint_note,
            "inclusion_proof": [base64.b64encode(p).decode("ascii") for p in self.inclusion_proof],
        }
        if self.leaf is not None:
            data["leaf"] = base64.b64encode(self.leaf).decode("ascii")
        return data

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
        leaf = _b64_bytes(data["leaf"]) if data.get("leaf") is not None else None
        return cls(index, hashes[0], note, tuple(hashes[1:]), leaf)

    @classmethod
    def from_json(cls, text: str) -> Receipt:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReceiptError("receipt: not valid JSON") from exc
        if not isinstance(data, dict):
            raise ReceiptError("receipt: not a JSON object")
        return cls.from_dict(data)


def _b64_bytes(value: object) -> bytes:
    if not isinstance(value, str):
        raise ReceiptError("receipt: hashes and the leaf must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ReceiptError("receipt: a hash or the leaf is not valid base64") from exc


def _b64_hash(value: object) -> bytes:
    raw = _b64_bytes(value)
    if len(raw) != HASH_SIZE:
        raise ReceiptError(f"receipt: a hash must be {HASH_SIZE} bytes")
    return raw


def verify_receipt(
    receipt: Receipt, key_name: str, public_key: Ed25519PublicKey, leaf: bytes | None = None
) -> Checkpoint:
    """Check a receipt offline with the log's public key; returns the checkpoint it rests on.

    With ``leaf`` (the logged bytes; default: the receipt's own ``leaf`` when it carries one),
    also checks that the receipt is about that leaf. This proves only that the leaf is in the
    log; that the leaf is the release of a given answer is :func:`dataward.receipts.verify_release`.
    Raises :class:`CheckpointError` (bad signature), :class:`ReceiptError` (wrong leaf) or
    :class:`ProofError` (the proof does not lead to the signed root).
    """
    checkpoint = open_checkpoint(receipt.checkpoint_note, key_name, public_key)
    if leaf is None:
        leaf = receipt.leaf
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
