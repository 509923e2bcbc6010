"""The audit log: durable appends with group commit, signed checkpoints, receipts.

One committer thread owns writing. ``append`` hands the event over and blocks until the batch
holding it is committed: every append waiting at that moment (up to
``group_commit_max_batch``) shares one transaction and so one fsync -- durability without one
fsync per request. The committer also signs a checkpoint every ``checkpoint_every_entries``
entries, at least every ``checkpoint_interval_seconds`` while entries arrive, and on demand
when a receipt needs one.

The Merkle tree lives in memory (every complete subtree's hash, about 64 bytes per entry),
rebuilt from the stored leaf hashes at open, so proofs at a million entries take milliseconds.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.transparency import (
    Checkpoint,
    MerkleTree,
    Receipt,
    TransparencyError,
    leaf_hash,
    open_checkpoint,
    sign_checkpoint,
)
from enclave.audit._reader import AuditReader
from enclave.audit._settings import AuditLogSettings
from enclave.audit.errors import (
    AuditClosedError,
    AuditError,
    AuditIntegrityError,
    AuditStorageError,
    AuditUnknownEntryError,
)
from enclave.audit.events import AuditEvent, Decision, Release, RequestReceived, encode_leaf
from enclave.audit.interface import AuditStore, NewLeaf

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class AppendResult:
    """Where an event landed: its index and leaf hash (durable when returned)."""

    leaf_index: int
    leaf_hash: bytes


@dataclass
class _Append:
    event: AuditEvent
    future: Future[AppendResult]


@dataclass
class _SignRequest:
    future: Future[tuple[Checkpoint, str]]


_STOP = object()


class AuditLog(AuditReader):
    """The zone's append-only, signed audit log. Thread-safe; one instance per store."""

    def __init__(
        self,
        store: AuditStore,
        settings: AuditLogSettings,
        signer: Ed25519PrivateKey,
        origin: str,
        key_name: str,
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(store)
        self._settings = settings
        self._signer = signer
        self._origin = origin
        self._key_name = key_name
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self._bind_identity()
        self._tree = MerkleTree.from_leaf_hashes(store.leaf_hashes())
        self._tree_lock = threading.Lock()
        self._latest = self._check_latest_checkpoint()
        self._last_signed_at = time.monotonic()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._committer = threading.Thread(target=self._run, name="audit-committer", daemon=True)
        self._committer.start()

    @classmethod
    def open(
        cls,
        db_path: Path,
        settings: AuditLogSettings,
        signer: Ed25519PrivateKey,
        origin: str,
        key_name: str,
        *,
        clock: Clock | None = None,
    ) -> AuditLog:
        """Open (or create) the log in the SQLite file ``db_path`` and start its committer."""
        from enclave.audit._sqlite import SqliteAuditStore

        store = SqliteAuditStore.open(db_path, settings.sqlite_synchronous)
        try:
            return cls(store, settings, signer, origin, key_name, clock=clock)
        except BaseException:
            store.close()
            raise

    def _bind_identity(self) -> None:
        """A store belongs to one log: its origin and key name are fixed at creation."""
        for key, value in (("origin", self._origin), ("key_name", self._key_name)):
            stored = self._store.get_meta(key)
            if stored is None:
                self._store.set_meta(key, value)
            elif stored != value:
                raise AuditIntegrityError(f"this audit store belongs to another log ({key})")

    def _check_latest_checkpoint(self) -> tuple[Checkpoint, str] | None:
        latest = self._store.latest_checkpoint()
        if latest is None:
            return None
        try:
            cp = open_checkpoint(latest.note, self._key_name, self._signer.public_key())
            ok = cp.size <= self._tree.size and self._tree.root(cp.size) == cp.root_hash
        except TransparencyError as exc:
            raise AuditIntegrityError(f"the latest checkpoint is invalid: {exc}") from exc
        if not ok:
            raise AuditIntegrityError(
                "the stored entries do not match the latest signed checkpoint; "
                "run `dataward audit verify` to find the first bad entry"
            )
        return cp, latest.note

    # -- writing ---------------------------------------------------------------------------

    def append(self, event: AuditEvent) -> AppendResult:
        """Log ``event``; returns once it is durable. Raises AuditStorageError if it is not."""
        future: Future[AppendResult] = Future()
        self._submit(_Append(event, future))
        return future.result()

    def checkpoint(self) -> Checkpoint:
        """Sign a checkpoint of the current tree (or return the latest if nothing is new)."""
        return self._signed_now()[0]

    def _signed_now(self) -> tuple[Checkpoint, str]:
        future: Future[tuple[Checkpoint, str]] = Future()
        self._submit(_SignRequest(future))
        return future.result()

    def _submit(self, item: object) -> None:
        with self._close_lock:
            if self._closed:
                raise AuditClosedError("the audit log is closed")
            self._queue.put(item)

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._next_item()
            if item is None:  # the interval passed with unsigned entries
                self._sign_if_due(force=True)
                continue
            batch = [item]
            while len(batch) < self._settings.group_commit_max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(x is _STOP for x in batch)
            appends = [x for x in batch if isinstance(x, _Append)]
            signs = [x for x in batch if isinstance(x, _SignRequest)]
            if appends:
                self._commit(appends)
            self._sign_if_due(force=bool(signs), waiting=signs)

    def _next_item(self) -> object | None:
        with self._tree_lock:
            unsigned = self._tree.size > (self._latest[0].size if self._latest else 0)
        if not unsigned:
            return self._queue.get()
        due = self._last_signed_at + self._settings.checkpoint_interval_seconds
        try:
            return self._queue.get(timeout=max(0.0, due - time.monotonic()))
        except queue.Empty:
            return None

    def _commit(self, appends: Sequence[_Append]) -> None:
        start = self._tree.size  # only this thread grows the tree
        now = self._clock()
        rows: list[NewLeaf] = []
        accepted: list[_Append] = []
        for item in appends:
            try:
                leaf = encode_leaf(item.event, start + len(rows), now)
            except AuditError as exc:
                item.future.set_exception(exc)
                continue
            rows.append(NewLeaf(start + len(rows), leaf, leaf_hash(leaf), *_lookup(item.event)))
            accepted.append(item)
        if not rows:
            return
        try:
            self._store.append(rows)
        except AuditStorageError as exc:
            for item in accepted:
                item.future.set_exception(exc)
            return
        with self._tree_lock:
            for row in rows:
                self._tree.append(row.leaf_hash)
        for item, row in zip(accepted, rows, strict=True):
            item.future.set_result(AppendResult(row.index, row.leaf_hash))

    def _sign_if_due(self, *, force: bool, waiting: Sequence[_SignRequest] = ()) -> None:
        signed = self._latest[0].size if self._latest else -1
        size = self._tree.size
        due = (
            force
            or size - max(signed, 0) >= self._settings.checkpoint_every_entries
            or time.monotonic() - self._last_signed_at >= self._settings.checkpoint_interval_seconds
        )
        if size > signed and due:
            with self._tree_lock:
                root = self._tree.root()
            cp = Checkpoint(self._origin, size, root)
            note = sign_checkpoint(cp, self._key_name, self._signer)
            try:
                self._store.add_checkpoint(size, note)
            except AuditStorageError as exc:
                for request in waiting:
                    request.future.set_exception(exc)
                return
            self._latest = (cp, note)
            self._last_signed_at = time.monotonic()
        for request in waiting:
            if self._latest is None:
                request.future.set_exception(AuditStorageError("no checkpoint could be signed"))
            else:
                request.future.set_result(self._latest)

    # -- reading ---------------------------------------------------------------------------

    @property
    def size(self) -> int:
        with self._tree_lock:
            return self._tree.size

    def receipt(self, leaf_index: int) -> Receipt:
        """Leaf hash + the latest checkpoint covering the entry + the inclusion proof.

        Signs a new checkpoint first if none covers the entry yet.
        """
        if not 0 <= leaf_index < self.size:
            raise AuditUnknownEntryError(f"no audit entry {leaf_index}")
        latest = self._latest
        if latest is None or latest[0].size <= leaf_index:
            latest = self._signed_now()
        cp, note = latest
        with self._tree_lock:
            proof = self._tree.inclusion_proof(leaf_index, cp.size)
            hashed = self._tree.leaf_hash(leaf_index)
        return Receipt(leaf_index, hashed, note, tuple(proof))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 consistency proof between two tree sizes of this log."""
        with self._tree_lock:
            try:
                return self._tree.consistency_proof(old_size, new_size)
            except TransparencyError as exc:
                raise AuditUnknownEntryError(str(exc)) from exc

    def root(self, size: int | None = None) -> bytes:
        with self._tree_lock:
            return self._tree.root(size)

    def close(self) -> None:
        """Commit what is queued, stop the committer, close the store. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._committer.join()
        super().close()


def _lookup(event: AuditEvent) -> tuple[str | None, str | None]:
    """The store's lookup columns for ``event``: person token and request id."""
    if isinstance(event, RequestReceived):
        return event.person_token, event.request_id
    if isinstance(event, Decision | Release):
        return None, event.request_id
    return None, None
