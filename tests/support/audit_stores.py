"""A store fake that implements :class:`AuditStore` over a real SQLite store, to count
commits and to fail them on demand (a full disk, a lost database)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from enclave.audit import (
    AuditStorageError,
    NewCheckpoint,
    NewLeaf,
    SqliteAuditStore,
    StoredCheckpoint,
    StoredLeaf,
)


@dataclass
class RecordingStore:
    """Delegates to ``inner``; records each ``append`` call; raises while ``failing`` is set.

    With a ``gate``, each ``append`` signals ``at_gate`` and waits until the gate opens (to
    let callers queue up behind a commit in flight).
    """

    inner: SqliteAuditStore
    failing: Exception | None = None
    gate: threading.Event | None = None
    at_gate: threading.Event = field(default_factory=threading.Event)
    appends: list[tuple[list[NewLeaf], NewCheckpoint | None]] = field(default_factory=list)

    def append(self, leaves: Sequence[NewLeaf], checkpoint: NewCheckpoint | None = None) -> None:
        self.at_gate.set()
        if self.gate is not None and not self.gate.wait(timeout=10):
            raise AuditStorageError("the test gate never opened")
        if self.failing is not None:
            raise self.failing
        self.inner.append(leaves, checkpoint)
        self.appends.append((list(leaves), checkpoint))

    def add_checkpoint(self, size: int, note: str) -> StoredCheckpoint:
        if self.failing is not None:
            raise AuditStorageError("the disk is full")
        return self.inner.add_checkpoint(size, note)

    def size(self) -> int:
        return self.inner.size()

    def leaves(self, start: int = 0) -> Iterator[StoredLeaf]:
        return self.inner.leaves(start)

    def leaf_hashes(self) -> Iterator[bytes]:
        return self.inner.leaf_hashes()

    def tail(self, n: int) -> list[StoredLeaf]:
        return self.inner.tail(n)

    def leaves_before(self, end: int, limit: int) -> list[StoredLeaf]:
        return self.inner.leaves_before(end, limit)

    def checkpoints(self) -> list[StoredCheckpoint]:
        return self.inner.checkpoints()

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return self.inner.latest_checkpoint()

    def by_person(self, person_token: str) -> list[StoredLeaf]:
        return self.inner.by_person(person_token)

    def by_request(self, request_ids: Sequence[str]) -> list[StoredLeaf]:
        return self.inner.by_request(request_ids)

    def get_meta(self, key: str) -> str | None:
        return self.inner.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.inner.set_meta(key, value)

    def close(self) -> None:
        self.inner.close()
