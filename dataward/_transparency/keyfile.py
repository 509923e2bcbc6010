"""Published checkpoint-key files: the key and the name it signs under, in one file.

A signed note's signature line names its key (C2SP signed-note), and a verifier needs that
name as well as the key: without it the key id cannot be recomputed and nothing verifies.
Older zones published only the PEM key, so a partner had to be told the name separately
(``dataward-zone-<zone id>``); since issue 14 the file carries it. Two forms are read:

- **named** (written since issue 14): the C2SP signed-note verifier key on the first line,
  ``<name>+<key id, 8 hex digits>+<base64(0x01 || 32-byte Ed25519 key)>``, then the same key as
  a PEM ``PUBLIC KEY`` block. RFC 7468 §5.2 lets text precede a PEM block, so OpenSSL, the
  ``cryptography`` package and every PEM reader still read the file as the key alone; the
  first line is what Go's ``golang.org/x/mod/sumdb/note.NewVerifier`` and other signed-note
  verifiers take as it is. The verifier key line alone (no PEM block) is read too.
- **PEM only** (written before issue 14): the key, no name.

Anything else -- other text before the PEM block, two verifier key lines, a line whose key id
is not the one its name and key give, a verifier key line and PEM block holding different
keys -- is :class:`PublicKeyError`: a key file that says two things is not pinned.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from dataward._transparency.errors import PublicKeyError
from dataward._transparency.note import key_id

__all__ = [
    "load_named_public_key",
    "load_public_key",
    "public_key_file",
    "read_verifier_key",
    "verifier_key",
]

_ED25519 = b"\x01"
_PEM_BEGIN = "-----BEGIN "
_MAX_FILE_BYTES = 8192
_KEY_NAME = re.compile(r"[^\s+\u2014]+")  # no spaces, plus signs or em dashes (signed-note)
# name + key id (8 hex digits) + base64 key
_VKEY = re.compile(r"([^\s+\u2014]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)")


def _check_name(key_name: str) -> None:
    if not _KEY_NAME.fullmatch(key_name):
        raise PublicKeyError("a key name must be non-empty, without spaces or '+'")


def verifier_key(key_name: str, public_key: Ed25519PublicKey) -> str:
    """The C2SP signed-note verifier key of ``public_key`` signing as ``key_name``."""
    _check_name(key_name)
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    blob = base64.b64encode(_ED25519 + raw).decode("ascii")
    return f"{key_name}+{key_id(key_name, public_key).hex()}+{blob}"


def read_verifier_key(text: str) -> tuple[str, Ed25519PublicKey]:
    """The name and key of a verifier key line; :class:`PublicKeyError` if it is not one."""
    match = _VKEY.fullmatch(text.strip())
    if match is None:
        raise PublicKeyError("not a signed-note verifier key (name+keyid+key)")
    name, hash_hex, blob = match.groups()
    try:
        data = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PublicKeyError("the verifier key's key is not base64") from exc
    if len(data) != 33 or data[:1] != _ED25519:
        raise PublicKeyError("the verifier key is not an Ed25519 key")
    key = Ed25519PublicKey.from_public_bytes(data[1:])
    if key_id(name, key).hex() != hash_hex:
        raise PublicKeyError("the verifier key's key id does not match its name and key")
    return name, key


def public_key_file(key_name: str, public_key: Ed25519PublicKey) -> bytes:
    """The named form of a published key file (see the module docstring)."""
    pem = public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return f"{verifier_key(key_name, public_key)}\n".encode("ascii") + pem


def _split(data: bytes) -> tuple[str | None, bytes | None]:
    """The verifier key line (or None) and the PEM block (or None) of a key file."""
    if len(data) > _MAX_FILE_BYTES:
        raise PublicKeyError("the key file is too large to be a public key")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise PublicKeyError("not a PEM public key") from None
    head, begin, rest = text.partition(_PEM_BEGIN)
    lines = [line for line in head.splitlines() if line.strip()]
    if len(lines) > 1:
        raise PublicKeyError("a key file holds at most one line before its PEM block")
    pem = (begin + rest).encode("ascii") if begin else None
    if not lines and pem is None:
        raise PublicKeyError("not a PEM public key")
    return (lines[0] if lines else None), pem


def _pem_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(pem)
    except ValueError as exc:
        raise PublicKeyError("not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise PublicKeyError("not an Ed25519 public key")
    return key


def _read(data: bytes) -> tuple[str | None, Ed25519PublicKey]:
    line, pem = _split(data)
    if pem is None and line is not None and not _VKEY.fullmatch(line.strip()):
        raise PublicKeyError("not a PEM public key")  # nor a verifier key: not a key file
    named = read_verifier_key(line) if line is not None else None
    if pem is None:
        assert named is not None  # _split refuses a file with neither
        return named
    key = _pem_key(pem)
    if named is None:
        return None, key
    if named[1].public_bytes_raw() != key.public_bytes_raw():
        raise PublicKeyError("the key file's verifier key line and PEM block hold different keys")
    return named[0], key


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """The key of a published key file, either form (the name, if any, is checked, not
    returned); raises :class:`PublicKeyError` for anything else."""
    return _read(data)[1]


def load_named_public_key(data: bytes, key_name: str | None = None) -> tuple[str, Ed25519PublicKey]:
    """``(key name, key)`` of a published key file: what ``Client(audit_key=...)`` pins.

    The name is the file's; ``key_name`` is needed only for a PEM-only file (an older
    zone's), and when both are there they must agree. Raises :class:`PublicKeyError`.
    """
    name, key = _read(data)
    if name is None:
        if key_name is None:
            raise PublicKeyError(
                "the key file names no key (a zone initialised before issue 14): "
                "give its key name, dataward-zone-<zone id>"
            )
        name = key_name
    elif key_name is not None and key_name != name:
        raise PublicKeyError("the key file is the key of another name than the one given")
    _check_name(name)
    return name, key
