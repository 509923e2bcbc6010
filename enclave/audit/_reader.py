"""Reading a stored audit log: tail, lookups, and end-to-end verification.

Needs no private key: ``dataward audit verify`` and ``tail`` open the store read-only and check
it with the zone's public key alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dataward.transparency import (
    Checkpoint,
    CheckpointError,
    LogSummary,
    LogVerificationError,
    StoredEntry,
    open_checkpoint,
    verify_log_entries,
)
from enclave.audit.errors import AuditEventError, AuditIntegrityError, AuditTrustedCheckpointError
from enclave.audit.events import LoggedEvent, decode_leaf
from enclave.audit.interface import AuditStore, StoredLeaf


class AuditReader:
    """Read access to one stored log."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store

    @classmethod
    def open_read_only(cls, db_path: Path) -> AuditReader:
        from enclave.audit._sqlite import SqliteAuditStore

        return cls(SqliteAuditStore.open(db_path, read_only=True))

    @property
    def origin(self) -> str | None:
        return self._store.get_meta("origin")

    @property
    def key_name(self) -> str | None:
        return self._store.get_meta("key_name")

    def tail(self, n: int) -> list[LoggedEvent]:
        """The last ``n`` events, oldest first."""
        return [_decode(x) for x in self._store.tail(n)]

    def newest_first(self, before: int | None, limit: int) -> list[LoggedEvent]:
        """Up to ``limit`` events of index below ``before`` (None: the whole log), newest first."""
        end = self._store.size() if before is None else before
        return [_decode(x) for x in self._store.leaves_before(end, limit)]

    def events_about(self, person_token: str) -> list[LoggedEvent]:
        """Events indexed under ``person_token`` whose leaf really names that token."""
        found = [_decode(x) for x in self._store.by_person(person_token)]
        return [e for e in found if getattr(e.event, "person_token", None) == person_token]

    def events_for_requests(self, request_ids: Sequence[str]) -> list[LoggedEvent]:
        wanted = set(request_ids)
        found = [_decode(x) for x in self._store.by_request(list(wanted))]
        return [e for e in found if getattr(e.event, "request_id", None) in wanted]

    def latest_checkpoint(self, public_key: Ed25519PublicKey) -> str:
        """The newest stored checkpoint's signed note, once its signature (by this log's key)
        and origin verify: what an auditor keeps to hold the log to it later.

        Raises :class:`AuditIntegrityError` when there is none or it does not verify.
        """
        origin, key_name = self._identity()
        latest = self._store.latest_checkpoint()
        if latest is None:
            raise AuditIntegrityError(
                "the audit log has no signed checkpoint (zone init signs one of size 0)"
            )
        try:
            cp = open_checkpoint(latest.note, key_name, public_key)
        except CheckpointError as exc:
            raise AuditIntegrityError(f"the latest checkpoint does not verify: {exc}") from exc
        if cp.origin != origin:
            raise AuditIntegrityError("the latest checkpoint is for another log (origin)")
        return latest.note

    def verify(self, public_key: Ed25519PublicKey, *, trusted: Sequence[str] = ()) -> LogSummary:
        """Check the whole log with the public key; raises AuditIntegrityError naming the
        first bad entry (see :func:`dataward.transparency.verify_log_entries`).

        ``trusted``: signed notes of checkpoints of this log kept outside it (``dataward audit
        checkpoint``'s output, or a receipt's). Each must verify with the log's key
        (:class:`AuditTrustedCheckpointError` otherwise), and the log must still hold its
        entries unchanged: a log truncated below one, or rewritten under it, fails.
        """
        origin, key_name = self._identity()
        held = [_open_trusted(note, key_name, public_key, origin) for note in trusted]
        entries = (StoredEntry(x.index, x.leaf, x.leaf_hash) for x in self._store.leaves())
        notes = [c.note for c in self._store.checkpoints()]
        try:
            return verify_log_entries(
                entries,
                notes,
                key_name,
                public_key,
                origin=origin,
                check_leaf=_check_leaf,
                trusted=held,
            )
        except LogVerificationError as exc:
            raise AuditIntegrityError(
                str(exc), entry=exc.entry, first=exc.first, last=exc.last
            ) from exc

    def _identity(self) -> tuple[str, str]:
        origin, key_name = self.origin, self.key_name
        if origin is None or key_name is None:
            raise AuditIntegrityError("the audit store has no origin or key name recorded")
        return origin, key_name

    def close(self) -> None:
        self._store.close()


def verify_log(
    log: AuditReader, public_key: Ed25519PublicKey, *, trusted: Sequence[str] = ()
) -> LogSummary:
    """Recompute the tree from the stored leaves, check every leaf hash, every checkpoint
    signature (public key only) and the consistency of consecutive checkpoints, and hold the
    log to the ``trusted`` checkpoints (see :meth:`AuditReader.verify`).

    Raises :class:`AuditIntegrityError` whose message names the first bad entry.
    """
    return log.verify(public_key, trusted=trusted)


def _open_trusted(
    note: str, key_name: str, public_key: Ed25519PublicKey, origin: str
) -> Checkpoint:
    try:
        cp = open_checkpoint(note, key_name, public_key)
    except CheckpointError as exc:
        raise AuditTrustedCheckpointError(
            f"the trusted checkpoint does not verify with the log's key: {exc}"
        ) from exc
    if cp.origin != origin:
        raise AuditTrustedCheckpointError(
            f"the trusted checkpoint is for another log (origin {cp.origin!r}, not {origin!r})"
        )
    return cp


def _decode(stored: StoredLeaf) -> LoggedEvent:
    try:
        return decode_leaf(stored.leaf)
    except AuditEventError as exc:
        raise AuditIntegrityError(
            f"entry {stored.index} is not a well-formed audit event ({exc}); "
            "run `dataward audit verify`",
            entry=stored.index,
        ) from exc


def _check_leaf(index: int, leaf: bytes) -> str | None:
    try:
        logged = decode_leaf(leaf)
    except AuditEventError as exc:
        return f"not a well-formed audit event: {exc}"
    if logged.index != index:
        return f"the leaf records position {logged.index} (entries moved or swapped)"
    return None
