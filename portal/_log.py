"""The portal log: an append-only Merkle log (RFC 6962 hashing) of typed portal events.

Leaves are appended in the same transaction as the change they record, so the log and the
state cannot disagree. Checkpoints are signed with the portal's Ed25519 key.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from portal._events import PortalEvent, canonical_leaf
from portal._models import LogEntry

__all__ = ["PortalLog"]


class PortalLog:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock

    def append(self, session: Session, event: PortalEvent) -> None:
        """Add ``event`` as a leaf inside the caller's transaction."""
        now = self._clock()
        session.add(LogEntry(leaf=canonical_leaf(event, now), created_at=now))
