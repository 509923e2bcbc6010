"""One portal's state, composed: database, log, keys and the admin service."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization

from portal._admin import PortalAdmin
from portal._events import SigningKeyRotated
from portal._keys import (
    LOG_PUBLIC_KEY_FILE,
    KeyRing,
    import_jwt_record,
    import_log_key,
    load_log_key,
    new_session_secret,
    rotate_key_files,
    session_secret,
)
from portal._log import (
    CheckpointSigner,
    PortalLog,
    PortalLogExport,
    export_log,
    latest_checkpoint,
)
from portal._sealing import Sealer, refuse_unsealed, unsealed_files
from portal._store import Store
from portal.config import PortalConfig
from portal.errors import WrongPortalKeyError

__all__ = ["Portal", "rotate_signing_key", "seal_unsealed_keys"]


@dataclass
class Portal:
    """Open with :meth:`open`; ``admin`` is the programmatic API (no HTTP needed)."""

    config: PortalConfig
    store: Store
    log: PortalLog
    keys: KeyRing
    admin: PortalAdmin
    clock: Callable[[], float]
    signer: CheckpointSigner
    sealer: Sealer
    session_secret: bytes = field(repr=False)
    # The address actually bound (port 0 resolved); the default issuer uses it.
    bound: str | None = field(default=None)

    @classmethod
    def open(cls, config: PortalConfig, clock: Callable[[], float] = time.time) -> Portal:
        """Create ``state_dir`` and the keys on first use; migrate the database to head.

        The private keys are unsealed with ``config.key``: :class:`WrongPortalKeyError` if it
        does not open them, :class:`UnsealedKeysError` (before anything is written) if key
        files in clear from an earlier release are there (see :func:`seal_unsealed_keys`).
        """
        keys_dir = config.state_dir / "keys"
        refuse_unsealed(keys_dir)
        sealer = Sealer.open(keys_dir, config.key)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        (config.state_dir / "public").mkdir(exist_ok=True)
        keys = KeyRing(sealer, config.access_token_ttl_seconds)
        signer = CheckpointSigner(load_log_key(sealer))
        session = session_secret(sealer)
        store = Store(config.resolved_database_url)
        store.migrate()
        log = PortalLog(clock)
        admin = PortalAdmin(store, log, config, clock)
        public = signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (config.state_dir / LOG_PUBLIC_KEY_FILE).write_bytes(public)
        return cls(config, store, log, keys, admin, clock, signer, sealer, session)

    def checkpoint(self) -> str | None:
        """Sign a checkpoint over the portal log if it grew; returns the new note or None.

        Incremental: only leaves added since the last call are hashed (see
        :class:`CheckpointSigner`). The serving portal calls this periodically.
        """
        with self.store.transaction() as s:
            return self.signer.sign_if_grown(s, self.clock())

    def latest_checkpoint(self) -> str | None:
        """The newest signed checkpoint note (None before the first)."""
        with self.store.transaction() as s:
            return latest_checkpoint(s)

    def export_log(self) -> PortalLogExport:
        """The portal log (leaves + signed checkpoints, a fresh one first) for verification.

        The writer's view: it signs first, so it needs the private key. An auditor uses
        :func:`portal.read_portal_log` instead (read-only, public key only).
        """
        self.checkpoint()
        with self.store.transaction() as s:
            return export_log(s, self.signer.public_key)

    def issuer(self) -> str:
        return self.config.resolved_issuer(self.bound)

    def close(self) -> None:
        self.store.dispose()


def rotate_signing_key(portal: Portal) -> str:
    """Make a new JWT signing key active and record it in the portal log; return its ``kid``.

    The previous key stops signing but stays in the JWKS until its tokens expire. The log
    entry (:class:`SigningKeyRotated`: key ids only) is written in one transaction with the
    key files: if writing a key fails, nothing is logged. (A crash between the key files and
    the commit would leave a rotation unlogged; the files are renamed into place, so there
    is no half-written key.)
    """
    with portal.store.transaction() as s:
        kid, retired = rotate_key_files(portal.sealer, portal.clock())
        portal.log.append(s, SigningKeyRotated(kid=kid, retired_kids=retired))
    return kid


def seal_unsealed_keys(config: PortalConfig) -> tuple[str, ...]:
    """Seal the key files an earlier release kept in clear under ``config.key``; return the
    names of the files sealed (relative to ``STATE_DIR/keys``; empty when there were none).

    The JWT keys and the portal-log key are carried over (tokens they signed stay valid; the
    published portal-log key, and so every checkpoint, stays the same). The session key is
    replaced instead (everyone signs in again): a readable one lets anyone forge a session.
    Each sealed file is written (fsynced) before its clear one is removed, so a crash leaves
    a state that this function finishes on the next run. The JWT key was readable, so rotate
    it afterwards (:func:`rotate_signing_key`); the portal-log key cannot be rotated yet.
    """
    if config.key is None:  # a one-off key would leave keys that nothing can open
        raise WrongPortalKeyError("sealing the portal's keys needs the portal key")
    keys_dir = config.state_dir / "keys"
    found = unsealed_files(keys_dir)
    if not found:
        return ()
    sealer = Sealer.open(keys_dir, config.key)
    for path in found:
        relative = path.relative_to(keys_dir).as_posix()
        if relative == "session.key":
            new_session_secret(sealer)
        elif relative == "portal-log-key.pem":
            import_log_key(sealer, path.read_bytes())
        else:
            import_jwt_record(sealer, path.read_bytes())
    for path in found:
        path.unlink()
    return tuple(path.relative_to(keys_dir).as_posix() for path in found)
