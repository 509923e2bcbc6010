"""The portal's own keys, in ``STATE_DIR/keys/`` (never a zone key).

- JWT signing keys: ES256 (P-256), one private JWK file per ``kid``. The newest is active;
  :func:`rotate_key_files` adds a new one and retires the old, which stays published in the
  JWKS until every token it signed has expired (retired_at + access-token TTL). (The public
  ``portal.rotate_signing_key`` calls it and records the rotation in the portal log.)
- The portal-log key: Ed25519, signs the portal log's checkpoints.
- The session key: signs Flask's session cookie.

Files are written 0600. (Encryption under the master key is not done yet: the portal holds
no master key today.)
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import ECKey, KeySet

from portal.errors import SigningKeyError

__all__ = [
    "LOG_PUBLIC_KEY_FILE",
    "KeyRing",
    "load_log_key",
    "rotate_key_files",
    "session_secret",
]

# The portal-log public key (PEM), relative to the state dir; verifiers need only this file.
LOG_PUBLIC_KEY_FILE = Path("public") / "portal-log-key.pub"

ALG = "ES256"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


@dataclass(frozen=True)
class _StoredKey:
    kid: str
    key: ECKey
    created_at: float
    retired_at: float | None


def _jwt_dir(state_dir: Path) -> Path:
    return state_dir / "keys" / "jwt"


def _new_key(state_dir: Path, now: float) -> str:
    kid = f"{time.strftime('%Y%m%d', time.gmtime(now))}-{secrets.token_hex(4)}"
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": ALG, "use": "sig"})
    record = {"created_at": now, "retired_at": None, "jwk": key.as_dict(private=True)}
    _write_private(_jwt_dir(state_dir) / f"{kid}.json", json.dumps(record).encode())
    return kid


def _load_all(state_dir: Path) -> list[_StoredKey]:
    keys = []
    for path in sorted(_jwt_dir(state_dir).glob("*.json")):
        try:
            record: dict[str, Any] = json.loads(path.read_bytes())
            key = ECKey.import_key(record["jwk"])
        except (OSError, ValueError, KeyError) as exc:
            raise SigningKeyError(f"unreadable signing key file {path.name}") from exc
        keys.append(
            _StoredKey(str(key.kid), key, float(record["created_at"]), record["retired_at"])
        )
    return sorted(keys, key=lambda k: k.created_at)


def rotate_key_files(state_dir: Path, now: float) -> tuple[str, tuple[str, ...]]:
    """Add a new active JWT signing key, retire the active one(s); return the new ``kid``
    and the retired ones."""
    retired: list[str] = []
    for stored in _load_all(state_dir):
        if stored.retired_at is None:
            record = {
                "created_at": stored.created_at,
                "retired_at": now,
                "jwk": stored.key.as_dict(private=True),
            }
            _write_private(_jwt_dir(state_dir) / f"{stored.kid}.json", json.dumps(record).encode())
            retired.append(stored.kid)
    return _new_key(state_dir, now), tuple(retired)


class KeyRing:
    """The JWT keys of one state directory, reloaded when the key directory changes."""

    def __init__(self, state_dir: Path, token_ttl_seconds: int) -> None:
        self._state_dir = state_dir
        self._ttl = token_ttl_seconds
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: list[_StoredKey] = []
        if not any(_jwt_dir(state_dir).glob("*.json")):
            _new_key(state_dir, time.time())

    def _current(self) -> list[_StoredKey]:
        st = _jwt_dir(self._state_dir).stat()
        stamp = (st.st_mtime_ns, st.st_ino)
        with self._lock:
            if stamp != self._stamp:
                self._keys = _load_all(self._state_dir)
                self._stamp = stamp
            return self._keys

    def signing_key(self) -> ECKey:
        """The active key (the newest)."""
        keys = self._current()
        if not keys:
            raise SigningKeyError("no JWT signing key")
        return keys[-1].key

    def published(self, now: float) -> KeySet:
        """Active key plus retired keys whose tokens may still be valid."""
        keys = [
            k.key
            for k in self._current()
            if k.retired_at is None or k.retired_at + self._ttl + 60 > now
        ]
        return KeySet(list[Any](keys))

    def public_jwks(self, now: float) -> dict[str, Any]:
        return dict(self.published(now).as_dict(private=False))


def load_log_key(state_dir: Path) -> Ed25519PrivateKey:
    """The portal-log Ed25519 key, created on first use. :meth:`Portal.open` publishes its
    public key (PEM) at ``STATE_DIR/`` :data:`LOG_PUBLIC_KEY_FILE`."""
    path = state_dir / "keys" / "portal-log-key.pem"
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_private(path, pem)
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise SigningKeyError("unreadable portal-log key") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SigningKeyError("the portal-log key is not an Ed25519 key")
    return loaded


def session_secret(state_dir: Path) -> bytes:
    """The Flask session-cookie signing secret, created on first use."""
    path = state_dir / "keys" / "session.key"
    if not path.exists():
        _write_private(path, secrets.token_bytes(32))
    return path.read_bytes()
