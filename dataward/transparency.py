"""Transparency-log primitives: RFC 6962/9162 Merkle hashing and proofs, C2SP signed-note
checkpoints, receipts and their offline verification, and whole-log verification.

This module is the bottom layer: partners import it (through the SDK) to check receipts with
nothing but the zone's public key; the zone's audit log and the portal's log are built on it.
It depends only on the standard library and ``cryptography``.

Errors::

    TransparencyError
    ├── ProofError             an inclusion or consistency proof does not verify
    ├── CheckpointError        a signed checkpoint is malformed or forged
    ├── ReceiptError           a receipt is malformed or about another leaf
    ├── PublicKeyError         a published key file is not an Ed25519 key (PEM or named)
    └── LogVerificationError   a stored log fails verification (names the first bad entry)
"""

from __future__ import annotations

from dataward._transparency.errors import (
    CheckpointError,
    LogVerificationError,
    ProofError,
    PublicKeyError,
    ReceiptError,
    TransparencyError,
)
from dataward._transparency.keyfile import (
    load_named_public_key,
    load_public_key,
    public_key_file,
    read_verifier_key,
    verifier_key,
)
from dataward._transparency.logcheck import (
    LeafCheck,
    LogSummary,
    StoredEntry,
    verify_log_entries,
)
from dataward._transparency.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from dataward._transparency.note import (
    Checkpoint,
    key_id,
    open_checkpoint,
    sign_checkpoint,
)
from dataward._transparency.receipt import Receipt, verify_receipt
from dataward._transparency.tree import MerkleTree

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Checkpoint",
    "CheckpointError",
    "LeafCheck",
    "LogSummary",
    "LogVerificationError",
    "MerkleTree",
    "ProofError",
    "PublicKeyError",
    "Receipt",
    "ReceiptError",
    "StoredEntry",
    "TransparencyError",
    "consistency_proof",
    "inclusion_proof",
    "key_id",
    "leaf_hash",
    "load_named_public_key",
    "load_public_key",
    "node_hash",
    "open_checkpoint",
    "public_key_file",
    "read_verifier_key",
    "root_from_leaf_hashes",
    "sign_checkpoint",
    "verifier_key",
    "verify_consistency",
    "verify_inclusion",
    "verify_log_entries",
    "verify_receipt",
]
