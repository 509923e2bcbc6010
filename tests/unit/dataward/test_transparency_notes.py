"""Signed-note checkpoints, receipts and whole-log verification."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dataward.transparency import (
    Checkpoint,
    CheckpointError,
    LogVerificationError,
    MerkleTree,
    ProofError,
    Receipt,
    ReceiptError,
    StoredEntry,
    leaf_hash,
    open_checkpoint,
    sign_checkpoint,
    verify_log_entries,
    verify_receipt,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
NAME = "dataward.zone/test"
ROOT = hashlib.sha256(b"root").digest()


def test_body_is_the_c2sp_checkpoint_text() -> None:
    cp = Checkpoint("dataward.zone/test", 42, ROOT)
    assert cp.body() == f"dataward.zone/test\n42\n{base64.b64encode(ROOT).decode()}\n"


def test_signed_note_format_and_key_id() -> None:
    cp = Checkpoint(NAME, 7, ROOT)
    note = sign_checkpoint(cp, NAME, KEY)
    body, sig_line = note.split("\n\n")
    assert body + "\n" == cp.body()
    assert sig_line.startswith(f"\u2014 {NAME} ")
    blob = base64.b64decode(sig_line.split(" ")[2])
    raw = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert blob[:4] == hashlib.sha256(NAME.encode() + b"\n\x01" + raw).digest()[:4]
    assert len(blob) == 68
    KEY.public_key().verify(blob[4:], cp.body().encode())
    assert open_checkpoint(note, NAME, KEY.public_key()) == cp


@pytest.mark.parametrize(
    "mutate",
    [
        lambda n: n.replace("\n7\n", "\n8\n"),  # body changed
        lambda n: n.replace(NAME + "\n", "other.log\n", 1),  # origin changed
        lambda n: n.split("\n\n")[0] + "\n",  # signatures stripped
        lambda n: n[:-6] + "AAAAA\n",  # signature bytes changed
        lambda n: n.replace("\n\n", "\n"),  # no blank line
        lambda n: n.replace("\n7\n", "\n07\n"),  # non-canonical size
    ],
)
def test_tampered_notes_are_refused(mutate: Callable[[str], str]) -> None:
    note = sign_checkpoint(Checkpoint(NAME, 7, ROOT), NAME, KEY)
    with pytest.raises(CheckpointError):
        open_checkpoint(mutate(note), NAME, KEY.public_key())


def test_note_signed_by_another_key_is_refused() -> None:
    note = sign_checkpoint(Checkpoint(NAME, 7, ROOT), NAME, OTHER)
    with pytest.raises(CheckpointError, match="no signature by"):
        open_checkpoint(note, NAME, KEY.public_key())


def test_cosignature_by_another_key_is_ignored() -> None:
    note = sign_checkpoint(Checkpoint(NAME, 7, ROOT), NAME, KEY)
    cosigned = sign_checkpoint(Checkpoint(NAME, 7, ROOT), "witness", OTHER)
    note = note + cosigned.split("\n\n")[1]
    assert open_checkpoint(note, NAME, KEY.public_key()).size == 7


def _log(n: int) -> tuple[list[bytes], MerkleTree]:
    leaves = [f"event {i}".encode() for i in range(n)]
    return leaves, MerkleTree.from_leaf_hashes(leaf_hash(x) for x in leaves)


def test_receipt_round_trip_and_offline_verification() -> None:
    leaves, tree = _log(13)
    note = sign_checkpoint(Checkpoint(NAME, 13, tree.root()), NAME, KEY)
    receipt = Receipt(5, tree.leaf_hash(5), note, tuple(tree.inclusion_proof(5)))
    again = Receipt.from_json(receipt.to_json())
    assert again == receipt
    assert verify_receipt(again, NAME, KEY.public_key(), leaves[5]).size == 13
    with pytest.raises(ReceiptError):
        verify_receipt(again, NAME, KEY.public_key(), leaves[6])
    with pytest.raises(CheckpointError):
        verify_receipt(again, NAME, OTHER.public_key())
    wrong_index = Receipt(6, receipt.leaf_hash, note, receipt.inclusion_proof)
    with pytest.raises(ProofError):
        verify_receipt(wrong_index, NAME, KEY.public_key())


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "{}",
        '{"leaf_index": -1, "leaf_hash": "", "checkpoint": "", "inclusion_proof": []}',
        '{"leaf_index": 1, "leaf_hash": "!!", "checkpoint": "x", "inclusion_proof": []}',
        "nope",
    ],
)
def test_malformed_receipts_are_refused(text: str) -> None:
    with pytest.raises(ReceiptError):
        Receipt.from_json(text)


def _signed_log(n: int, every: int) -> tuple[list[StoredEntry], list[str]]:
    leaves, tree = _log(n)
    entries = [StoredEntry(i, x, leaf_hash(x)) for i, x in enumerate(leaves)]
    notes = [
        sign_checkpoint(Checkpoint(NAME, size, tree.root(size)), NAME, KEY)
        for size in range(every, n + 1, every)
    ]
    return entries, notes


def test_an_honest_log_verifies() -> None:
    entries, notes = _signed_log(50, 10)
    summary = verify_log_entries(entries, notes, NAME, KEY.public_key(), origin=NAME)
    assert (summary.entries, summary.checkpoints, summary.unsigned_entries) == (50, 5, 0)


def test_first_bad_entry_is_named() -> None:
    entries, notes = _signed_log(50, 10)
    edited = list(entries)
    edited[23] = StoredEntry(23, b"edited", entries[23].leaf_hash)
    edited[40] = StoredEntry(40, b"edited", entries[40].leaf_hash)
    with pytest.raises(LogVerificationError, match="entry 23") as info:
        verify_log_entries(edited, notes, NAME, KEY.public_key())
    assert info.value.entry == 23


def test_rewritten_entry_and_hash_is_caught_by_the_signed_root() -> None:
    entries, notes = _signed_log(50, 10)
    entries[23] = StoredEntry(23, b"edited", leaf_hash(b"edited"))
    with pytest.raises(LogVerificationError) as info:
        verify_log_entries(entries, notes, NAME, KEY.public_key())
    assert (info.value.first, info.value.last, info.value.checkpoint) == (20, 29, 2)


def test_deleted_entry_truncation_and_forged_signature_are_caught() -> None:
    entries, notes = _signed_log(50, 10)
    with pytest.raises(LogVerificationError, match="entry 7 is missing"):
        verify_log_entries(entries[:7] + entries[8:], notes, NAME, KEY.public_key())
    with pytest.raises(LogVerificationError, match="truncated") as info:
        verify_log_entries(entries[:45], notes, NAME, KEY.public_key())
    assert info.value.entry == 45
    forged = [*notes]
    forged[3] = sign_checkpoint(open_checkpoint(notes[3], NAME, KEY.public_key()), NAME, OTHER)
    with pytest.raises(LogVerificationError, match="checkpoint #3") as info:
        verify_log_entries(entries, forged, NAME, KEY.public_key())
    assert info.value.checkpoint == 3
    with pytest.raises(LogVerificationError, match="backwards"):
        verify_log_entries(entries, [notes[1], notes[0]], NAME, KEY.public_key())
    with pytest.raises(LogVerificationError, match="another log"):
        verify_log_entries(entries, notes, NAME, KEY.public_key(), origin="other")


def test_published_keys_load_and_anything_else_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

    from dataward.transparency import PublicKeyError, load_public_key

    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert load_public_key(pem).public_bytes_raw() == key.public_key().public_bytes_raw()
    ec_pem = (
        generate_private_key(SECP256R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(PublicKeyError, match="not an Ed25519 public key"):
        load_public_key(ec_pem)
    with pytest.raises(PublicKeyError, match="not a PEM public key"):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


def test_each_note_names_the_key_that_signed_it_however_many_keys_sign() -> None:
    """Issue 15 keeps a signer's key id: notes signed in turn by many keys (more than it
    keeps) and names each open with their own key and name only."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from dataward.transparency import Checkpoint, CheckpointError, open_checkpoint, sign_checkpoint

    keys = [Ed25519PrivateKey.generate() for _ in range(12)]
    cp = Checkpoint("log.example", 3, b"r" * 32)
    for _ in range(2):
        for k, key in enumerate(keys):
            name = f"signer-{k % 3}"
            note = sign_checkpoint(cp, name, key)
            assert open_checkpoint(note, name, key.public_key()) == cp
            with pytest.raises(CheckpointError):
                open_checkpoint(note, name, keys[k - 1].public_key())
