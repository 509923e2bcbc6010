"""The portal's own keys, sealed in ``STATE_DIR/keys/`` (never a zone key).

- JWT signing keys: ES256 (P-256), one sealed private JWK per ``kid`` (``jwt/KID``). The
  newest is active; :func:`rotate_key_files` adds a new one and retires the old, which stays
  published in the JWKS until every token it signed has expired (retired_at + access-token
  TTL). (The public ``portal.rotate_signing_key`` calls it and records the rotation in the
  portal log.)
- The portal-log key (``portal-log-key``): Ed25519, signs the portal log's checkpoints.
- The session key (``session``): signs Flask's session cookie.

Each is sealed under the portal key by :class:`portal._sealing.Sealer` (AES-256-GCM, files
0600); none is ever written in clear.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import ECKey, KeySet

from portal._sealing import SEALED_SUFFIX, Sealer
from portal.errors import SigningKeyError

__all__ = [
    "LOG_PUBLIC_KEY_FILE",
    "KeyRing",
    "import_jwt_record",
    "import_log_key",
    "load_log_key",
    "new_session_secret",
    "rotate_key_files",
    "session_secret",
]

# The portal-log public key (PEM), relative to the state dir; verifiers need only this file.
LOG_PUBLIC_KEY_FILE = Path("public") / "portal-log-key.pub"

ALG = "ES256"


@dataclass(frozen=True)
class _StoredKey:
    kid: str
    key: ECKey
    created_at: float
    retired_at: float | None


_JWT = "jwt"
_LOG_KEY = "portal-log-key"
_SESSION_KEY = "session"


def _write_jwt(sealer: Sealer, key: ECKey, created_at: float, retired_at: float | None) -> None:
    record = {"created_at": created_at, "retired_at": retired_at, "jwk": key.as_dict(private=True)}
    sealer.write(f"{_JWT}/{key.kid}", json.dumps(record).encode())


def _new_key(sealer: Sealer, now: float) -> str:
    kid = f"{time.strftime('%Y%m%d', time.gmtime(now))}-{secrets.token_hex(4)}"
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": ALG, "use": "sig"})
    _write_jwt(sealer, key, now, None)
    return kid


def _load_all(sealer: Sealer) -> list[_StoredKey]:
    keys = []
    for path in sorted((sealer.keys_dir / _JWT).glob(f"*{SEALED_SUFFIX}")):
        name = f"{_JWT}/{path.name.removesuffix(SEALED_SUFFIX)}"
        raw = sealer.read(name)  # SigningKeyError if altered or moved from another name
        try:
            record: dict[str, Any] = json.loads(raw)
            key = ECKey.import_key(record["jwk"])
            stored = _StoredKey(
                str(key.kid), key, float(record["created_at"]), record["retired_at"]
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise SigningKeyError(f"unreadable signing key file {path.name}") from exc
        keys.append(stored)
    return sorted(keys, key=lambda k: k.created_at)


def rotate_key_files(sealer: Sealer, now: float) -> tuple[str, tuple[str, ...]]:
    """Add a new active JWT signing key, retire the active one(s); return the new ``kid``
    and the retired ones."""
    retired: list[str] = []
    for stored in _load_all(sealer):
        if stored.retired_at is None:
            _write_jwt(sealer, stored.key, stored.created_at, now)
            retired.append(stored.kid)
    return _new_key(sealer, now), tuple(retired)


def import_jwt_record(sealer: Sealer, record: bytes) -> str:
    """Seal a JWT key record of an earlier release's plain ``jwt/KID.json``; return its kid."""
    try:
        parsed: dict[str, Any] = json.loads(record)
        key = ECKey.import_key(parsed["jwk"])
        _write_jwt(sealer, key, float(parsed["created_at"]), parsed["retired_at"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SigningKeyError("an unsealed JWT key file is unreadable") from exc
    return str(key.kid)


class KeyRing:
    """The JWT keys of one state directory, reloaded when the key directory changes."""

    def __init__(self, sealer: Sealer, token_ttl_seconds: int) -> None:
        self._sealer = sealer
        self._dir = sealer.keys_dir / _JWT
        self._ttl = token_ttl_seconds
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: list[_StoredKey] = []
        if not any(self._dir.glob(f"*{SEALED_SUFFIX}")):
            _new_key(sealer, time.time())
        self._current()  # open every key now: a wrong or altered one fails here, not later

    def _current(self) -> list[_StoredKey]:
        st = self._dir.stat()
        stamp = (st.st_mtime_ns, st.st_ino)
        with self._lock:
            if stamp != self._stamp:
                self._keys = _load_all(self._sealer)
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


def load_log_key(sealer: Sealer) -> Ed25519PrivateKey:
    """The portal-log Ed25519 key, created on first use. :meth:`Portal.open` publishes its
    public key (PEM) at ``STATE_DIR/`` :data:`LOG_PUBLIC_KEY_FILE`."""
    if not sealer.exists(_LOG_KEY):
        import_log_key(sealer, _pem(Ed25519PrivateKey.generate()))
    try:
        loaded = serialization.load_pem_private_key(sealer.read(_LOG_KEY), password=None)
    except ValueError as exc:
        raise SigningKeyError("unreadable portal-log key") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SigningKeyError("the portal-log key is not an Ed25519 key")
    return loaded


def import_log_key(sealer: Sealer, pem: bytes) -> None:
    """Seal a portal-log key given as an unencrypted PKCS#8 PEM (as earlier releases kept it)."""
    sealer.write(_LOG_KEY, pem)


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def session_secret(sealer: Sealer) -> bytes:
    """The Flask session-cookie signing secret, created on first use."""
    if not sealer.exists(_SESSION_KEY):
        new_session_secret(sealer)
    return sealer.read(_SESSION_KEY)


def new_session_secret(sealer: Sealer) -> None:
    """Replace the session secret (every signed-in session ends)."""
    sealer.write(_SESSION_KEY, secrets.token_bytes(32))
