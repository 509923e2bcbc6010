"""The audit store seam: what the log needs from durable storage.

SQLite (``_sqlite.py``) is the embedded implementation; PostgreSQL can follow behind the same
Protocol. The store keeps leaves, their hashes and the signed checkpoints; it knows nothing of
Merkle trees or signatures. ``person_token`` and ``request_id`` are lookup columns derived from
the leaf; readers re-check them against the leaf itself, so tampering with them hides nothing
from ``verify``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["AuditStore", "NewCheckpoint", "NewLeaf", "StoredCheckpoint", "StoredLeaf"]


@dataclass(frozen=True)
class NewLeaf:
    """A leaf to append, with the lookup columns derived from its event."""

    index: int
    leaf: bytes
    leaf_hash: bytes
    person_token: str | None
    request_id: str | None


@dataclass(frozen=True)
class NewCheckpoint:
    """A signed checkpoint note to store together with the leaves it covers."""

    size: int
    note: str


@dataclass(frozen=True)
class StoredLeaf:
    index: int
    leaf: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint note, in the order it was signed (``seq``)."""

    seq: int
    size: int
    note: str


class AuditStore(Protocol):
    """Durable storage for one log. Implementations serialize their own access (thread-safe)."""

    def append(self, leaves: Sequence[NewLeaf], checkpoint: NewCheckpoint | None = None) -> None:
        """Store ``leaves`` (and ``checkpoint``, if given) in ONE transaction.

        Durable (per the sync setting) on return. Storing the checkpoint signed over these very
        leaves in the same transaction is what lets a receipt cost no extra commit.
        Raises :class:`~enclave.audit.errors.AuditStorageError`; then nothing was stored.
        """

    def add_checkpoint(self, size: int, note: str) -> StoredCheckpoint:
        """Store a signed checkpoint note durably."""

    def size(self) -> int:
        """The number of stored leaves."""

    def leaves(self, start: int = 0) -> Iterator[StoredLeaf]:
        """Stored leaves in index order from ``start`` (gaps are visible as skipped indexes)."""

    def leaf_hashes(self) -> Iterator[bytes]:
        """Every stored leaf hash in index order (to rebuild the tree at open)."""

    def tail(self, n: int) -> list[StoredLeaf]:
        """The last ``n`` leaves, oldest first."""

    def leaves_before(self, end: int, limit: int) -> list[StoredLeaf]:
        """Up to ``limit`` leaves of index below ``end``, NEWEST first (reading the log back)."""

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint in signing order."""

    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    def by_person(self, person_token: str) -> list[StoredLeaf]:
        """Leaves indexed under ``person_token`` (requests about that person)."""

    def by_request(self, request_ids: Sequence[str]) -> list[StoredLeaf]:
        """Leaves indexed under any of ``request_ids``."""

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...
