"""One portal's state, composed: database, log, keys and the admin service."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization

from portal._admin import PortalAdmin
from portal._events import SigningKeyRotated
from portal._keys import LOG_PUBLIC_KEY_FILE, KeyRing, load_log_key, rotate_key_files
from portal._log import (
    CheckpointSigner,
    PortalLog,
    PortalLogExport,
    export_log,
    latest_checkpoint,
)
from portal._store import Store
from portal.config import PortalConfig

__all__ = ["Portal", "rotate_signing_key"]


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
    # The address actually bound (port 0 resolved); the default issuer uses it.
    bound: str | None = field(default=None)

    @classmethod
    def open(cls, config: PortalConfig, clock: Callable[[], float] = time.time) -> Portal:
        """Create ``state_dir`` and the keys on first use; migrate the database to head."""
        config.state_dir.mkdir(parents=True, exist_ok=True)
        (config.state_dir / "public").mkdir(exist_ok=True)
        store = Store(config.resolved_database_url)
        store.migrate()
        log = PortalLog(clock)
        keys = KeyRing(config.state_dir, config.access_token_ttl_seconds)
        admin = PortalAdmin(store, log, config, clock)
        signer = CheckpointSigner(load_log_key(config.state_dir))
        public = signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (config.state_dir / LOG_PUBLIC_KEY_FILE).write_bytes(public)
        return cls(config, store, log, keys, admin, clock, signer)

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
        kid, retired = rotate_key_files(portal.config.state_dir, portal.clock())
        portal.log.append(s, SigningKeyRotated(kid=kid, retired_kids=retired))
    return kid
