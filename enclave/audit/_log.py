"""The audit log: durable appends with group commit, signed checkpoints, receipts.

One committer thread owns writing. ``append`` / ``append_many`` hand events over and block
until the commit group holding them is durable: every append waiting at that moment (up to
``group_commit_max_batch`` callers) shares one transaction and so one fsync -- durability
without one fsync per request. The events of one ``append_many`` are consecutive leaves of
one transaction.

Checkpoints: when a caller asks ``append_many(..., receipt=True)`` (or one is due: every
``checkpoint_every_entries`` entries, at least every ``checkpoint_interval_seconds`` while
entries arrive), the committer extends the in-memory tree by the group's hashes, signs ONE
checkpoint over the new size and stores it in the SAME transaction as the leaves. A receipt
then costs no extra commit, and all concurrent callers of the group share one signature.

Fail closed: the tree is extended before the store commits (the signature needs the new
root). If that commit fails, the tree holds leaves the store does not, so the log marks itself
broken: the pending and every later append raise :class:`AuditStorageError` until the log is
reopened (which rebuilds the tree from the store). Readers only ever see the durable prefix.

The Merkle tree lives in memory (every complete subtree's hash, about 64 bytes per entry),
rebuilt from the stored leaf hashes at open, so proofs at a million entries take milliseconds.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from enclave.audit._handoff import Handoff
from enclave.audit._reader import AuditReader
from enclave.audit._settings import AuditLogSettings
from enclave.audit._writer import WriterLock
from enclave.audit.errors import (
    AuditBeyondLogError,
    AuditClosedError,
    AuditError,
    AuditEventError,
    AuditIntegrityError,
    AuditNotYetSigned,
    AuditRangeError,
    AuditStorageError,
    AuditUnknownEntryError,
)
from enclave.audit.events import (
    AuditEvent,
    Decision,
    PolicyChanged,
    Release,
    RequestReceived,
    encode_leaf,
)
from enclave.audit.interface import AuditStore, NewCheckpoint, NewLeaf

Clock = Callable[[], datetime]
# (seconds the commit group's transaction took, entries it held): see AuditLog.observe_commits
CommitObserver = Callable[[float, int], None]


@dataclass(frozen=True)
class AppendResult:
    """Where an event landed: its index and leaf hash (durable when returned)."""

    leaf_index: int
    leaf_hash: bytes


@dataclass(frozen=True)
class Appended:
    """Where a group of events landed (consecutive, durable when returned).

    ``receipt`` is that of the LAST event, when it was asked for; its checkpoint is the one
    signed over the commit group and stored with it. ``receipts`` are those of the events at
    the asked ``receipts_at`` positions (in that order), all under that same checkpoint.
    """

    entries: tuple[AppendResult, ...]
    receipt: Receipt | None
    receipts: tuple[Receipt, ...] = ()


@dataclass(frozen=True)
class _Landed:
    entries: tuple[AppendResult, ...]
    checkpoint: tuple[Checkpoint, str] | None
    leaves: tuple[bytes, ...]  # the events' leaf bytes: a receipt hands them out with the proof


@dataclass
class _Append:
    events: tuple[AuditEvent, ...]
    receipt: bool
    future: Handoff[_Landed]


@dataclass
class _SignRequest:
    future: Handoff[tuple[Checkpoint, str]]


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
        # The tree may run ahead of the store while a commit is in flight; readers see only
        # the first ``_durable`` leaves. Both are guarded by ``_tree_lock``.
        self._durable = self._tree.size
        self._tree_lock = threading.Lock()
        self._latest = self._check_latest_checkpoint()
        self._last_signed_at = time.monotonic()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._broken: AuditStorageError | None = None
        self._closed = False
        self._close_lock = threading.Lock()
        self._writer: WriterLock | None = None  # set by :meth:`open`
        self._on_commit: CommitObserver | None = None
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
        """Open (or create) the log in the SQLite file ``db_path`` and start its committer.

        The caller becomes the log's one writer: it holds ``db_path``'s writer lock until
        :meth:`close` (see :mod:`enclave.audit._writer`); if another process holds it, this
        raises :class:`AuditLogBusy` naming that process.
        """
        from enclave.audit._sqlite import SqliteAuditStore

        db_path.parent.mkdir(parents=True, exist_ok=True)
        lock = WriterLock.acquire(db_path)
        try:
            store = SqliteAuditStore.open(db_path, settings.sqlite_synchronous)
            try:
                log = cls(store, settings, signer, origin, key_name, clock=clock)
            except BaseException:
                store.close()
                raise
        except BaseException:
            lock.release()
            raise
        log._writer = lock
        return log

    def observe_commits(self, observer: CommitObserver | None) -> None:
        """Call ``observer(seconds, entries)`` after each durable commit group: how long the
        store's transaction (and its fsync) took, and how many entries it held. For the
        operator's metrics (the launcher passes a Prometheus histogram's observe; this package
        imports no metrics library). What the observer raises is ignored: it never fails a
        commit."""
        self._on_commit = observer

    def describe_writer(self, **info: Any) -> None:
        """Say, in the writer lock, who writes this log (e.g. a server and its address)."""
        if self._writer is not None:
            self._writer.describe(**info)

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
        return self.append_many((event,)).entries[0]

    def append_many(
        self,
        events: Sequence[AuditEvent],
        *,
        receipt: bool = False,
        receipts_at: Sequence[int] = (),
    ) -> Appended:
        """Log ``events`` as consecutive leaves in one commit; returns once they are durable.

        All or nothing: an event that cannot be encoded (AuditEventError) or a failed commit
        (AuditStorageError) logs none of them. With ``receipt``, the answer carries the receipt
        of the last event under the checkpoint stored in the same commit, carrying that event's
        leaf bytes; whoever hands the receipt out decides that leaf may leave the zone (person
        checks hand out only ``Release`` leaves: ids and hashes, no data values).

        ``receipts_at`` asks the same for the events at those positions of ``events`` (a
        group of answers, issue 15: each its own release leaf and receipt): ``receipts`` holds
        one per position, in the order asked, all under the ONE checkpoint signed for this
        commit. A position outside ``events`` is an AuditEventError and logs nothing.
        """
        if not events:
            raise AuditEventError("append_many needs at least one event")
        positions = tuple(receipts_at)
        if any(not 0 <= k < len(events) for k in positions):
            raise AuditEventError("receipts_at names a position outside the events")
        future: Handoff[_Landed] = Handoff()
        self._submit(_Append(tuple(events), receipt or bool(positions), future))
        landed = future.result()
        if not receipt and not positions:
            return Appended(landed.entries, None)
        if landed.checkpoint is None:  # the committer signs whenever a receipt is asked for
            raise AuditStorageError("no checkpoint was signed for the receipt")
        cp, note = landed.checkpoint
        asked = (*positions, len(events) - 1) if receipt else positions
        with self._tree_lock:
            proofs = [
                self._tree.inclusion_proof(landed.entries[k].leaf_index, cp.size) for k in asked
            ]
        made = tuple(
            Receipt(
                landed.entries[k].leaf_index,
                landed.entries[k].leaf_hash,
                note,
                tuple(proof),
                landed.leaves[k],
            )
            for k, proof in zip(asked, proofs, strict=True)
        )
        if receipt:
            return Appended(landed.entries, made[-1], made[:-1])
        return Appended(landed.entries, None, made)

    def checkpoint(self) -> Checkpoint:
        """Sign a checkpoint of the current tree (or return the latest if nothing is new)."""
        return self._signed_now()[0]

    def _signed_now(self) -> tuple[Checkpoint, str]:
        future: Handoff[tuple[Checkpoint, str]] = Handoff()
        self._submit(_SignRequest(future))
        return future.result()

    def _submit(self, item: object) -> None:
        with self._close_lock:
            if self._closed:
                raise AuditClosedError("the audit log is closed")
            if self._broken is not None:
                raise self._broken
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
            try:
                if appends:
                    self._commit(appends, force_checkpoint=bool(signs))
                self._sign_if_due(force=bool(signs), waiting=signs)
            except Exception as exc:  # a dying committer would leave every caller waiting
                self._break(AuditStorageError(f"the audit committer failed: {type(exc).__name__}"))
                pending: list[Handoff[Any]] = [x.future for x in appends]
                pending += [x.future for x in signs]
                for future in pending:
                    if not future.done():
                        future.set_exception(self._broken or exc)  # _break set it

    def _next_item(self) -> object | None:
        if self._broken is not None or not self._unsigned():
            return self._queue.get()
        due = self._last_signed_at + self._settings.checkpoint_interval_seconds
        try:
            return self._queue.get(timeout=max(0.0, due - time.monotonic()))
        except queue.Empty:
            return None

    def _unsigned(self) -> bool:
        return self._durable > (self._latest[0].size if self._latest else 0)

    def _checkpoint_due(self, size: int) -> bool:
        signed = self._latest[0].size if self._latest else 0
        return (
            size - signed >= self._settings.checkpoint_every_entries
            or time.monotonic() - self._last_signed_at >= self._settings.checkpoint_interval_seconds
        )

    def _break(self, exc: AuditStorageError) -> None:
        with self._close_lock:
            if self._broken is None:
                self._broken = AuditStorageError(
                    f"the audit log stopped after a failed commit and refuses appends until it "
                    f"is reopened ({exc})"
                )

    def _commit(self, appends: Sequence[_Append], *, force_checkpoint: bool) -> None:
        if self._broken is not None:
            for item in appends:
                item.future.set_exception(self._broken)
            return
        start = self._durable  # only this thread grows the tree; not broken, so tree == store
        now = self._clock()
        rows: list[NewLeaf] = []
        accepted: list[tuple[_Append, int]] = []
        for item in appends:
            try:
                leaves = [
                    encode_leaf(ev, start + len(rows) + k, now) for k, ev in enumerate(item.events)
                ]
            except AuditError as exc:
                item.future.set_exception(exc)
                continue
            first = start + len(rows)
            for k, (ev, leaf) in enumerate(zip(item.events, leaves, strict=True)):
                rows.append(NewLeaf(first + k, leaf, leaf_hash(leaf), *_lookup(ev)))
            accepted.append((item, first))
        if not rows:
            return
        size = start + len(rows)
        sign = force_checkpoint or any(item.receipt for item, _ in accepted)
        with self._tree_lock:
            for row in rows:
                self._tree.append(row.leaf_hash)
            root = self._tree.root(size) if sign or self._checkpoint_due(size) else None
        signed: tuple[Checkpoint, str] | None = None
        if root is not None:
            cp = Checkpoint(self._origin, size, root)
            signed = (cp, sign_checkpoint(cp, self._key_name, self._signer))
        committing = time.monotonic()
        try:
            self._store.append(rows, NewCheckpoint(size, signed[1]) if signed else None)
        except Exception as exc:
            # The tree now holds leaves the store refused: fail closed rather than diverge.
            failure = (
                exc
                if isinstance(exc, AuditStorageError)
                else AuditStorageError(f"the audit store failed: {type(exc).__name__}")
            )
            self._break(failure)
            for item, _ in accepted:
                item.future.set_exception(failure)
            return
        with self._tree_lock:
            self._durable = size
        if self._on_commit is not None:
            with contextlib.suppress(Exception):
                self._on_commit(time.monotonic() - committing, len(rows))
        if signed is not None:
            self._latest = signed
            self._last_signed_at = time.monotonic()
        for item, first in accepted:
            own = rows[first - start : first - start + len(item.events)]
            entries = tuple(AppendResult(row.index, row.leaf_hash) for row in own)
            landed = tuple(row.leaf for row in own)
            item.future.set_result(_Landed(entries, signed if item.receipt else None, landed))

    def _sign_if_due(self, *, force: bool, waiting: Sequence[_SignRequest] = ()) -> None:
        if self._broken is not None:
            for request in waiting:
                request.future.set_exception(self._broken)
            return
        signed = self._latest[0].size if self._latest else -1
        size = self._durable
        if size > signed and (force or self._checkpoint_due(size)):
            with self._tree_lock:
                root = self._tree.root(size)
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
        """The number of durable entries."""
        with self._tree_lock:
            return self._durable

    def receipt(self, leaf_index: int, *, sign: bool = True) -> Receipt:
        """Leaf hash + the latest checkpoint covering the entry + the inclusion proof.

        If no checkpoint covers the entry yet: with ``sign`` a new one is signed first;
        without, :class:`AuditNotYetSigned` says when the committer will have signed one (a
        partner-facing reader passes ``sign=False``, so calls cannot force a signature each).
        """
        if not 0 <= leaf_index < self.size:
            raise AuditUnknownEntryError(f"no audit entry {leaf_index}")
        latest = self._latest
        if latest is None or latest[0].size <= leaf_index:
            if not sign:
                due = self._last_signed_at + self._settings.checkpoint_interval_seconds
                raise AuditNotYetSigned(max(0.0, due - time.monotonic()))
            latest = self._signed_now()
        cp, note = latest
        with self._tree_lock:
            proof = self._tree.inclusion_proof(leaf_index, cp.size)
            hashed = self._tree.leaf_hash(leaf_index)
        return Receipt(leaf_index, hashed, note, tuple(proof))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 consistency proof between two tree sizes of this log.

        Raises :class:`AuditRangeError` when ``old_size`` is negative or past ``new_size``,
        :class:`AuditBeyondLogError` when ``new_size`` is past the durable log.
        """
        if not 0 <= old_size <= new_size:
            raise AuditRangeError("old_size must be between 0 and new_size", field="old_size")
        with self._tree_lock:
            if new_size > self._durable:
                raise AuditBeyondLogError(f"tree size {new_size} is beyond the log")
            try:
                return self._tree.consistency_proof(old_size, new_size)
            except TransparencyError as exc:
                raise AuditUnknownEntryError(str(exc)) from exc

    def root(self, size: int | None = None) -> bytes:
        with self._tree_lock:
            if size is not None and size > self._durable:
                raise AuditUnknownEntryError(f"tree size {size} is beyond the log")
            return self._tree.root(self._durable if size is None else size)

    def close(self) -> None:
        """Commit what is queued, stop the committer, close the store. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._committer.join()
        try:
            super().close()
        finally:
            if self._writer is not None:
                self._writer.release()


def _lookup(event: AuditEvent) -> tuple[str | None, str | None]:
    """The store's lookup columns for ``event``: person token and request id."""
    if isinstance(event, RequestReceived):
        return event.person_token, event.request_id
    if isinstance(event, Decision | Release | PolicyChanged):
        return None, event.request_id
    return None, None
