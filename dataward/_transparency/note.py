"""C2SP tlog-checkpoint bodies in C2SP signed notes, signed with Ed25519.

A checkpoint body is three lines, each ending in a newline: the origin (the log's name), the
tree size in decimal, and the root hash in standard base64 (c2sp.org/tlog-checkpoint). A
signed note is the body, a blank line, and one line per signature:
``— <key name> <base64(key id || signature)>`` where the key id is the first four bytes of
SHA-256(key name || "\\n" || 0x01 || 32-byte public key) and 0x01 marks Ed25519
(c2sp.org/signed-note). The signature covers the body bytes exactly.

Extension lines after the root hash are refused: this package writes none, and accepting text
nobody reads only widens what a forger may play with.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
)

from dataward._transparency.errors import CheckpointError
from dataward._transparency.merkle import HASH_SIZE

_ED25519 = b"\x01"
_SIG_PREFIX = "\u2014 "  # an em dash and a space
_KEY_NAME = re.compile(r"[^\s+\u2014]+")  # no spaces, no plus signs (signed-note §names)
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_MAX_NOTE_CHARS = 16_384


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement: its name, how many entries, and their Merkle root."""

    origin: str
    size: int
    root_hash: bytes

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("a checkpoint origin must be one non-empty line")
        if self.size < 0:
            raise CheckpointError("a checkpoint size cannot be negative")
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(f"a checkpoint root hash must be {HASH_SIZE} bytes")

    def body(self) -> str:
        """The C2SP tlog-checkpoint text: origin, size, base64 root, each line ending in \\n."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root}\n"


def key_id(key_name: str, public_key: Ed25519PublicKey) -> bytes:
    """The signed-note key id: SHA-256(name || "\\n" || 0x01 || public key)[:4]."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(key_name.encode("utf-8") + b"\n" + _ED25519 + raw).digest()[:4]


def _check_key_name(key_name: str) -> None:
    if not _KEY_NAME.fullmatch(key_name):
        raise CheckpointError("a key name must be non-empty, without spaces or '+'")


@functools.lru_cache(maxsize=8)
def _signer_key_id(key_name: str, private_key: Ed25519PrivateKey) -> bytes:
    """:func:`key_id` of the key's public half, kept per (name, key): a log signs every
    checkpoint with one key, and deriving the public key and hashing it again each time was
    a tenth of a signature (issue 15). Keyed by the key object (hashed by identity); held
    are at most a few keys a process signs with anyway."""
    return key_id(key_name, private_key.public_key())


def sign_checkpoint(cp: Checkpoint, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note for ``cp``: body, blank line, one Ed25519 signature line."""
    _check_key_name(key_name)
    body = cp.body()
    signature = private_key.sign(body.encode("utf-8"))
    blob = base64.b64encode(_signer_key_id(key_name, private_key) + signature)
    return f"{body}\n{_SIG_PREFIX}{key_name} {blob.decode('ascii')}\n"


def open_checkpoint(note: str, key_name: str, public_key: Ed25519PublicKey) -> Checkpoint:
    """Verify a signed note with ``public_key`` and parse its checkpoint body.

    Signatures by other keys are ignored (a note may carry witnesses' cosignatures); at least
    one signature by (``key_name``, ``public_key``) must verify. Raises :class:`CheckpointError`.
    """
    _check_key_name(key_name)
    if len(note) > _MAX_NOTE_CHARS:
        raise CheckpointError("the signed note is too long")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise CheckpointError("not a signed note: no blank line before the signatures")
    body, signatures = note[: split + 1], note[split + 2 :]
    wanted = key_id(key_name, public_key)
    verified = False
    for line in signatures[:-1].split("\n"):
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointError("not a signed note: a signature line is malformed")
        name, _, blob_text = line[len(_SIG_PREFIX) :].partition(" ")
        try:
            blob = base64.b64decode(blob_text, validate=True)
        except binascii.Error as exc:
            raise CheckpointError("a signature line is not valid base64") from exc
        if name != key_name or blob[:4] != wanted:
            continue
        try:
            public_key.verify(blob[4:], body.encode("utf-8"))
        except InvalidSignature as exc:
            raise CheckpointError(f"the signature by {key_name} does not verify") from exc
        verified = True
    if not verified:
        raise CheckpointError(f"the note carries no signature by the key {key_name}")
    return _parse_body(body)


def _parse_body(body: str) -> Checkpoint:
    lines = body[:-1].split("\n")
    if len(lines) != 3:
        raise CheckpointError("a checkpoint body must be exactly origin, size and root lines")
    origin, size_text, root_text = lines
    if not _DECIMAL.fullmatch(size_text):
        raise CheckpointError("the checkpoint size is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error as exc:
        raise CheckpointError("the checkpoint root hash is not valid base64") from exc
    return Checkpoint(origin=origin, size=int(size_text), root_hash=root)
