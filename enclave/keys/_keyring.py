"""The zone keyring: signing, tokenization and data keys, sealed under the operator's master key.

File ``ZONE/keyring.json`` (JSON)::

    {"format": "dataward-keyring", "version": 1, "zone_id": "...",
     "kdf": {"name": "scrypt", "salt": b64, "n": 32768, "r": 8, "p": 1},
     "check": b64, "nonce": b64, "ciphertext": b64}

The key-encryption key is Scrypt(master key, salt) (memory-hard, from ``cryptography``). The
ciphertext is AES-256-GCM of the JSON key material with associated data binding the format,
version, zone id and KDF parameters, so a file edited to claim another zone or weaker KDF
parameters fails to open. ``check`` is HMAC-SHA256(kek, "dataward keyring check"): it tells a
wrong master key apart from an altered file without revealing anything the scrypt'd
ciphertext does not already.

The public signing key is written in clear to ``ZONE/public/zone-signing-key.pub``, so anyone
verifies receipts offline: its signed-note verifier key line (``<key name>+<key id>+<key>``:
the name checkpoints are signed under, so pinning needs no guessing) then the same key as PEM
(SubjectPublicKeyInfo), which every PEM reader still takes (see
``dataward.transparency.load_named_public_key``; zones made before issue 14 have the PEM
alone, and both forms are read).

Tokens: HMAC-SHA256(tokenization key, column || 0x00 || normalize(column, value)), 32 bytes.
Normalization (see :func:`normalize`): ``id_number`` whitespace-stripped and upper-cased (the
check character ``x`` becomes ``X``); ``name`` NFKC-normalized and stripped; ``phone`` digits
only; any other column NFKC-normalized and stripped.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dataward.transparency import public_key_file
from enclave._fsio import write_atomic
from enclave.audit import ZONE_LOG_FILE, create_log, zone_log_name
from enclave.errors import (
    CorruptKeyring,
    WrongMasterKey,
    ZoneAlreadyInitialized,
    ZoneNotInitialized,
)

__all__ = ["KEYRING_FILE", "PUBLIC_KEY_FILE", "Keyring", "init_zone", "normalize", "open_keyring"]

KEYRING_FILE = "keyring.json"
PUBLIC_KEY_FILE = Path("public") / "zone-signing-key.pub"
_FORMAT = "dataward-keyring"
_VERSION = 1
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1
_CHECK_LABEL = b"dataward keyring check"
_NONCE_BYTES = 12
# Columns whose keyed HMAC a keyring keeps (the identifier columns: a handful).
_KEYED_COLUMNS = 16
_NOT_ASCII_DIGIT = re.compile(r"[^0-9]")  # ``[0-9]``: the ASCII digits only, whatever the flags


def normalize(column: str, value: str) -> str:
    """The canonical form of an identifier before tokenization (see the module docstring)."""
    if column == "id_number":
        return value.strip().upper()
    if column == "phone":
        if value.isascii() and value.isdigit():  # the usual phone, already digits only
            return value
        return _NOT_ASCII_DIGIT.sub("", value)
    return unicodedata.normalize("NFKC", value).strip()


@dataclass(frozen=True)
class Keyring:
    """The zone's keys. ``repr`` shows only the zone id."""

    zone_id: str
    signing_key: Ed25519PrivateKey = field(repr=False)
    _token_key: bytes = field(repr=False)
    _data_key: bytes = field(repr=False)
    # Per column, the HMAC keyed and fed ``column || 0x00``, copied per token (issue 15, the
    # hot path: hmac.digest keys OpenSSL's HMAC anew on every call; a copy is a third cheaper,
    # and the same MAC). Filled on first use, never read by anything else.
    _keyed: dict[str, hmac.HMAC] = field(default_factory=dict, repr=False, compare=False)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key()

    def token(self, column: str, value: str) -> bytes:
        """The 32-byte keyed token of a (normalized) identifier value."""
        keyed = self._keyed.get(column)
        if keyed is None:
            keyed = hmac.new(self._token_key, column.encode() + b"\x00", sha256)
            if len(self._keyed) < _KEYED_COLUMNS:
                self._keyed[column] = keyed
        mac = keyed.copy()
        mac.update(normalize(column, value).encode())
        return mac.digest()

    def tokens(self, column: str, values: Iterable[str | None]) -> list[bytes | None]:
        """:meth:`token` over many values; ``None`` stays ``None``."""
        # one HMAC keyed and fed the column prefix, copied per value: a third less work per
        # token than hmac.digest, which keys OpenSSL's HMAC anew each call (issue 15, ingest)
        keyed = hmac.new(self._token_key, column.encode() + b"\x00", sha256).copy
        out: list[bytes | None] = []
        for v in values:
            if v is None:
                out.append(None)
                continue
            mac = keyed()
            mac.update(normalize(column, v).encode())
            out.append(mac.digest())
        return out

    def encrypt(self, column: str, value: str) -> bytes:
        """AES-256-GCM: 12-byte random nonce || ciphertext+tag; the column is associated data."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + AESGCM(self._data_key).encrypt(nonce, value.encode(), column.encode())

    def encrypt_many(self, column: str, values: Sequence[str | None]) -> list[bytes | None]:
        """:meth:`encrypt` over many values; ``None`` stays ``None``."""
        aead, aad = AESGCM(self._data_key), column.encode()
        nonces = os.urandom(_NONCE_BYTES * len(values))
        out: list[bytes | None] = []
        for i, v in enumerate(values):
            if v is None:
                out.append(None)
                continue
            nonce = nonces[i * _NONCE_BYTES : (i + 1) * _NONCE_BYTES]
            out.append(nonce + aead.encrypt(nonce, v.encode(), aad))
        return out

    def seal(self, label: str, data: bytes) -> bytes:
        """AES-256-GCM of bytes (a face template): 12-byte random nonce || ciphertext+tag, with
        ``label`` as associated data -- bind it to the row (e.g. the person id), so a sealed
        value copied to another row does not open."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + AESGCM(self._data_key).encrypt(nonce, data, label.encode())

    def seal_many(self, labels: Sequence[bytes], data: Sequence[bytes | memoryview]) -> list[bytes]:
        """:meth:`seal` over many values, ``labels`` already encoded (one cipher object and
        one draw of nonces for all)."""
        if len(labels) != len(data):
            raise ValueError("seal_many takes one label per value")
        encrypt = AESGCM(self._data_key).encrypt
        nonces = os.urandom(_NONCE_BYTES * len(data))
        out: list[bytes] = []
        for i, (label, value) in enumerate(zip(labels, data, strict=True)):
            nonce = nonces[i * _NONCE_BYTES : (i + 1) * _NONCE_BYTES]
            out.append(nonce + encrypt(nonce, value, label))
        return out

    def unseal(self, label: str, blob: bytes) -> bytes:
        """Inverse of :meth:`seal`; raises ``cryptography.exceptions.InvalidTag`` if the blob
        was altered or sealed under another label."""
        nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        return AESGCM(self._data_key).decrypt(nonce, sealed, label.encode())

    def decrypt(self, column: str, blob: bytes) -> str:
        """Inverse of :meth:`encrypt`; raises ``cryptography.exceptions.InvalidTag`` if altered."""
        nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        return AESGCM(self._data_key).decrypt(nonce, sealed, column.encode()).decode()


def init_zone(zone_dir: Path, master_key: bytes) -> None:
    """Create the zone directory, a fresh keyring sealed under ``master_key``, the public key,
    and the audit log with a checkpoint of size 0 (the zone has a log from its first moment:
    one that later goes missing is an error, not "nothing logged yet")."""
    path = zone_dir / KEYRING_FILE
    if path.exists():
        raise ZoneAlreadyInitialized
    zone_dir.mkdir(parents=True, exist_ok=True)
    zone_id = "zone-" + secrets.token_hex(8)
    signing = Ed25519PrivateKey.generate()
    material = {
        "signing_key": _b64(
            signing.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
        ),
        "token_key": _b64(os.urandom(32)),
        "data_key": _b64(AESGCM.generate_key(bit_length=256)),
    }
    kdf: dict[str, Any] = {
        "name": "scrypt",
        "salt": _b64(os.urandom(16)),
        "n": _SCRYPT_N,
        "r": _SCRYPT_R,
        "p": _SCRYPT_P,
    }
    kek = _derive(master_key, kdf)
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(kek).encrypt(
        nonce, json.dumps(material).encode(), _associated_data(zone_id, kdf)
    )
    document = {
        "format": _FORMAT,
        "version": _VERSION,
        "zone_id": zone_id,
        "kdf": kdf,
        "check": _b64(hmac.digest(kek, _CHECK_LABEL, sha256)),
        "nonce": _b64(nonce),
        "ciphertext": _b64(sealed),
    }
    log_name = zone_log_name(zone_id)
    (zone_dir / PUBLIC_KEY_FILE).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(zone_dir / PUBLIC_KEY_FILE, public_key_file(log_name, signing.public_key()))
    create_log(zone_dir / ZONE_LOG_FILE, signing, log_name, log_name)
    write_atomic(path, json.dumps(document, indent=2).encode(), mode=0o600)


def open_keyring(zone_dir: Path, master_key: bytes) -> Keyring:
    """Unseal the zone's keyring; :class:`WrongMasterKey` or :class:`CorruptKeyring` if it fails."""
    path = zone_dir / KEYRING_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ZoneNotInitialized from None
    try:
        document = json.loads(raw)
        if document.get("format") != _FORMAT or document.get("version") != _VERSION:
            raise CorruptKeyring
        zone_id = str(document["zone_id"])
        kdf = dict(document["kdf"])
        check, nonce = _unb64(document["check"]), _unb64(document["nonce"])
        sealed = _unb64(document["ciphertext"])
        kek = _derive(master_key, kdf)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise CorruptKeyring from exc
    if not hmac.compare_digest(check, hmac.digest(kek, _CHECK_LABEL, sha256)):
        raise WrongMasterKey
    try:
        material = json.loads(AESGCM(kek).decrypt(nonce, sealed, _associated_data(zone_id, kdf)))
        signing = Ed25519PrivateKey.from_private_bytes(_unb64(material["signing_key"]))
        token_key, data_key = _unb64(material["token_key"]), _unb64(material["data_key"])
    except (InvalidTag, ValueError, KeyError, TypeError) as exc:
        raise CorruptKeyring from exc
    if len(token_key) != 32 or len(data_key) != 32:
        raise CorruptKeyring
    return Keyring(zone_id=zone_id, signing_key=signing, _token_key=token_key, _data_key=data_key)


def _derive(master_key: bytes, kdf: dict[str, Any]) -> bytes:
    if kdf.get("name") != "scrypt":
        raise ValueError("unknown kdf")
    n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
    if n < 2**14 or r < 8 or p < 1:  # refuse a file that was edited to weaken the KDF
        raise ValueError("weak kdf parameters")
    return Scrypt(salt=_unb64(kdf["salt"]), length=32, n=n, r=r, p=p).derive(master_key)


def _associated_data(zone_id: str, kdf: dict[str, Any]) -> bytes:
    bound = {"format": _FORMAT, "version": _VERSION, "zone_id": zone_id, "kdf": kdf}
    return json.dumps(bound, sort_keys=True).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise TypeError("expected base64 text")
    return base64.b64decode(text, validate=True)
