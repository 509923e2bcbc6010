"""The portal log: an append-only Merkle log (RFC 6962 hashing) of typed portal events.

Leaves are appended in the same transaction as the change they record, so the log and the
state cannot disagree. Checkpoints are signed with the portal's Ed25519 key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataward.transparency import (
    Checkpoint,
    StoredEntry,
    leaf_hash,
    root_from_leaf_hashes,
    sign_checkpoint,
)
from portal._events import PortalEvent, canonical_leaf
from portal._models import LogCheckpoint, LogEntry

__all__ = [
    "KEY_NAME",
    "ORIGIN",
    "PortalLog",
    "PortalLogExport",
    "export_log",
    "sign_checkpoint_now",
]


class PortalLog:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock

    def append(self, session: Session, event: PortalEvent) -> None:
        """Add ``event`` as a leaf inside the caller's transaction."""
        now = self._clock()
        session.add(LogEntry(leaf=canonical_leaf(event, now), created_at=now))


ORIGIN = "dataward-portal"
KEY_NAME = "dataward-portal"


@dataclass(frozen=True)
class PortalLogExport:
    """Everything ``dataward audit verify`` needs to check the portal log offline:
    ``verify_log_entries(entries, checkpoints, key_name, public_key, origin=origin)``."""

    origin: str
    key_name: str
    public_key: Ed25519PublicKey
    entries: tuple[StoredEntry, ...]
    checkpoints: tuple[str, ...]


def sign_checkpoint_now(session: Session, key: Ed25519PrivateKey, now: float) -> str | None:
    """Sign a checkpoint over every leaf so far, unless the newest one already covers them."""
    leaves = session.scalars(select(LogEntry.leaf).order_by(LogEntry.id)).all()
    latest = session.scalar(select(func.max(LogCheckpoint.size))) or 0
    if not leaves or len(leaves) == latest:
        return None
    root = root_from_leaf_hashes([leaf_hash(leaf) for leaf in leaves])
    note = sign_checkpoint(Checkpoint(ORIGIN, len(leaves), root), KEY_NAME, key)
    session.add(LogCheckpoint(size=len(leaves), note=note, created_at=now))
    return note


def export_log(session: Session, key: Ed25519PrivateKey) -> PortalLogExport:
    rows = session.execute(select(LogEntry.id, LogEntry.leaf).order_by(LogEntry.id)).all()
    notes = session.scalars(select(LogCheckpoint.note).order_by(LogCheckpoint.size)).all()
    return PortalLogExport(
        origin=ORIGIN,
        key_name=KEY_NAME,
        public_key=key.public_key(),
        entries=tuple(StoredEntry(index=i - 1, leaf=leaf) for i, leaf in rows),
        checkpoints=tuple(notes),
    )
