"""The portal's private keys sealed at rest under the portal key (scrypt + AES-256-GCM).

Why: whoever could read ``STATE_DIR/keys/`` got the JWT signing key in clear and could mint
``steward:admin`` tokens the zone accepts (issue 8, item 9). The portal key is not stored in
the zone: the launcher reads it from ``DATAWARD_PORTAL_KEY`` / ``DATAWARD_PORTAL_KEY_FILE``
and hands it to the portal process (never the zone's master key).

``STATE_DIR/keys/seal.json`` (JSON, no secret in it)::

    {"format": "dataward-portal-seal", "version": 1,
     "kdf": {"name": "scrypt", "salt": b64, "n": 32768, "r": 8, "p": 1}, "check": b64}

The key-encryption key is Scrypt(portal key, salt), as the zone's keyring derives its own
(``enclave/_keys.py``); ``check`` is HMAC-SHA256(kek, "dataward portal seal check"), so a wrong
portal key is told apart from an altered file. Each private key is one file
``STATE_DIR/keys/NAME.sealed``::

    {"format": "dataward-portal-sealed-key", "version": 1, "nonce": b64, "ciphertext": b64}

AES-256-GCM under the kek; the associated data binds the format, version, the seal's KDF
parameters and ``NAME`` (e.g. ``jwt/20261201-ab12cd34``), so a sealed file moved to another
name, or copied from another portal, fails to open rather than becoming that key.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import secrets
from hashlib import sha256
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from portal.config import PortalKey
from portal.errors import SigningKeyError, UnsealedKeysError, WrongPortalKeyError

__all__ = [
    "SEALED_SUFFIX",
    "SEAL_FILE",
    "Sealer",
    "refuse_unsealed",
    "unsealed_files",
    "write_private",
]

SEAL_FILE = "seal.json"
SEALED_SUFFIX = ".sealed"
_SEAL_FORMAT = "dataward-portal-seal"
_FILE_FORMAT = "dataward-portal-sealed-key"
_VERSION = 1
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
_CHECK_LABEL = b"dataward portal seal check"
_NONCE_BYTES = 12
# Where earlier releases kept the keys in clear, relative to STATE_DIR/keys.
_UNSEALED_PATTERNS = ("jwt/*.json", "portal-log-key.pem", "session.key")


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (fsynced temp file renamed into place), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def unsealed_files(keys_dir: Path) -> list[Path]:
    """Key files in clear left by an earlier release, if any."""
    return sorted(p for pattern in _UNSEALED_PATTERNS for p in keys_dir.glob(pattern))


def refuse_unsealed(keys_dir: Path) -> None:
    """Raise :class:`UnsealedKeysError` if a key file in clear is there.

    They are refused rather than sealed silently on open: a key file anyone could write would
    otherwise become a trusted, sealed key (sealing gives integrity as well as secrecy). The
    operator seals them once, on purpose, with ``portal.seal_unsealed_keys``.
    """
    found = unsealed_files(keys_dir)
    if found:
        raise UnsealedKeysError(
            f"{keys_dir} holds {len(found)} key files in clear from an earlier release; seal "
            "them once with `dataward portal seal-keys` (with the portal key set), then rotate "
            "the JWT key with `dataward portal rotate-key`: the old one was readable"
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    return base64.b64decode(str(text), validate=True)


class Sealer:
    """Seals and opens the key files of one ``STATE_DIR/keys`` directory; see :meth:`open`."""

    def __init__(self, keys_dir: Path, kek: bytes, kdf: dict[str, Any]) -> None:
        self.keys_dir = keys_dir
        self._aead = AESGCM(kek)
        self._kdf = kdf

    def __repr__(self) -> str:
        return f"Sealer({str(self.keys_dir)!r})"

    @classmethod
    def open(cls, keys_dir: Path, key: PortalKey | None) -> Sealer:
        """Open the seal of ``keys_dir`` with ``key``, or create it there on first use.

        ``key=None`` creates a seal under a one-off random key held only by the returned
        object (a portal that lives as long as it: tests, benchmarks); a directory already
        sealed cannot be opened without its key. Raises :class:`WrongPortalKeyError`.
        """
        path = keys_dir / SEAL_FILE
        if not path.exists():
            return cls._create(keys_dir, key or PortalKey(secrets.token_bytes(32)))
        if key is None:
            raise WrongPortalKeyError(
                f"the keys in {keys_dir} are sealed under a portal key, and no portal key was given"
            )
        try:
            document = json.loads(path.read_bytes())
            if document.get("format") != _SEAL_FORMAT or document.get("version") != _VERSION:
                raise ValueError("unknown seal format")
            kdf = dict(document["kdf"])
            check = _unb64(document["check"])
            kek = _derive(key, kdf)
        except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise SigningKeyError(f"the seal file {path} is unreadable or corrupt") from exc
        if not hmac.compare_digest(check, hmac.digest(kek, _CHECK_LABEL, sha256)):
            raise WrongPortalKeyError(
                f"wrong portal key: the keys in {keys_dir} were sealed under another one"
            )
        return cls(keys_dir, kek, kdf)

    @classmethod
    def _create(cls, keys_dir: Path, key: PortalKey) -> Sealer:
        kdf: dict[str, Any] = {"name": "scrypt", "salt": _b64(os.urandom(16)), **_SCRYPT}
        kek = _derive(key, kdf)
        document = {
            "format": _SEAL_FORMAT,
            "version": _VERSION,
            "kdf": kdf,
            "check": _b64(hmac.digest(kek, _CHECK_LABEL, sha256)),
        }
        write_private(keys_dir / SEAL_FILE, json.dumps(document, indent=2).encode())
        return cls(keys_dir, kek, kdf)

    def path(self, name: str) -> Path:
        """The file of the sealed key ``name`` (``jwt/KID``, ``portal-log-key``, ``session``)."""
        return self.keys_dir / f"{name}{SEALED_SUFFIX}"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def write(self, name: str, secret: bytes) -> None:
        """Seal ``secret`` as ``name`` (atomic, 0600)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret, self._associated_data(name))
        document = {
            "format": _FILE_FORMAT,
            "version": _VERSION,
            "nonce": _b64(nonce),
            "ciphertext": _b64(sealed),
        }
        write_private(self.path(name), json.dumps(document).encode())

    def read(self, name: str) -> bytes:
        """Open the sealed key ``name``; :class:`SigningKeyError` if it is missing or altered."""
        path = self.path(name)
        try:
            document = json.loads(path.read_bytes())
            if document.get("format") != _FILE_FORMAT or document.get("version") != _VERSION:
                raise ValueError("unknown sealed-key format")
            nonce, sealed = _unb64(document["nonce"]), _unb64(document["ciphertext"])
            return self._aead.decrypt(nonce, sealed, self._associated_data(name))
        except FileNotFoundError as exc:
            raise SigningKeyError(f"the key file {path.name} is missing") from exc
        except (OSError, ValueError, KeyError, TypeError, binascii.Error, InvalidTag) as exc:
            raise SigningKeyError(f"the key file {path.name} is corrupt or was altered") from exc

    def _associated_data(self, name: str) -> bytes:
        bound = {"format": _FILE_FORMAT, "version": _VERSION, "kdf": self._kdf, "name": name}
        return json.dumps(bound, sort_keys=True, separators=(",", ":")).encode()


def _derive(key: PortalKey, kdf: dict[str, Any]) -> bytes:
    if kdf.get("name") != "scrypt":
        raise ValueError("unknown key-derivation function")
    return Scrypt(
        salt=_unb64(kdf["salt"]), length=32, n=int(kdf["n"]), r=int(kdf["r"]), p=int(kdf["p"])
    ).derive(key.value)
