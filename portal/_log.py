"""The portal log: an append-only Merkle log (RFC 6962 hashing) of typed portal events.

Leaves are appended in the same transaction as the change they record, so the log and the
state cannot disagree. Checkpoints are signed with the portal's Ed25519 key by one
:class:`CheckpointSigner` per process, which keeps the tree in memory and feeds it only the
leaves added since its last call, so a signature costs ``O(new leaves + log² n)`` hashes rather
than a pass over the whole log (about 64 bytes of memory per leaf).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataward.transparency import (
    Checkpoint,
    MerkleTree,
    StoredEntry,
    leaf_hash,
    sign_checkpoint,
)
from portal._events import PortalEvent, canonical_leaf
from portal._models import LogCheckpoint, LogEntry

__all__ = [
    "KEY_NAME",
    "ORIGIN",
    "CheckpointSigner",
    "PortalLog",
    "PortalLogExport",
    "export_log",
    "latest_checkpoint",
]

ORIGIN = "dataward-portal"
KEY_NAME = "dataward-portal"


class PortalLog:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock

    def append(self, session: Session, event: PortalEvent) -> None:
        """Add ``event`` as a leaf inside the caller's transaction."""
        now = self._clock()
        session.add(LogEntry(leaf=canonical_leaf(event, now), created_at=now))


@dataclass(frozen=True)
class PortalLogExport:
    """Everything ``dataward audit verify`` needs to check the portal log offline:
    ``verify_log_entries(entries, checkpoints, key_name, public_key, origin=origin)``."""

    origin: str
    key_name: str
    public_key: Ed25519PublicKey
    entries: tuple[StoredEntry, ...]
    checkpoints: tuple[str, ...]


class CheckpointSigner:
    """Signs checkpoints over an in-memory tree kept in step with the stored leaves.

    Thread-safe (the HTTP threads and the background signer share one). Leaves are read in
    id order and only while ids are contiguous (leaf index = id - 1): a gap, e.g. a
    transaction not yet committed on a database whose sequences run ahead of commits, is
    waited for rather than skipped. A later edit of a stored leaf does not change the tree
    already built, so the next checkpoint stays consistent with the earlier ones and
    ``dataward audit verify`` names the edit.
    """

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self._tree = MerkleTree()
        self._lock = threading.Lock()

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def sign_if_grown(self, session: Session, now: float) -> str | None:
        """Sign a checkpoint over every leaf so far, unless the newest one already covers them."""
        with self._lock:
            rows = session.execute(
                select(LogEntry.id, LogEntry.leaf)
                .where(LogEntry.id > self._tree.size)
                .order_by(LogEntry.id)
            ).all()
            for row_id, leaf in rows:
                if row_id != self._tree.size + 1:
                    break
                self._tree.append(leaf_hash(leaf))
            size = self._tree.size
            latest = session.scalar(select(func.max(LogCheckpoint.size))) or 0
            if size == 0 or size <= latest:
                return None
            note = sign_checkpoint(Checkpoint(ORIGIN, size, self._tree.root()), KEY_NAME, self._key)
            session.add(LogCheckpoint(size=size, note=note, created_at=now))
            return note


def latest_checkpoint(session: Session) -> str | None:
    """The newest signed checkpoint note, or None before the first one."""
    return session.scalar(select(LogCheckpoint.note).order_by(LogCheckpoint.size.desc()).limit(1))


def export_log(session: Session, public_key: Ed25519PublicKey) -> PortalLogExport:
    """The stored leaves (index = id - 1) and checkpoints, for offline verification."""
    rows = session.execute(select(LogEntry.id, LogEntry.leaf).order_by(LogEntry.id)).all()
    notes = session.scalars(select(LogCheckpoint.note).order_by(LogCheckpoint.size)).all()
    return PortalLogExport(
        origin=ORIGIN,
        key_name=KEY_NAME,
        public_key=public_key,
        entries=tuple(StoredEntry(index=i - 1, leaf=leaf) for i, leaf in rows),
        checkpoints=tuple(notes),
    )
