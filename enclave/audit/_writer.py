"""The log's one writer, by construction: an exclusive lock on the log's state.

The Merkle tree of an open :class:`~enclave.audit.AuditLog` lives in its process's memory; a
second process appending to the same store would leave that tree behind the store, and every
later receipt of the first process would fail (issue 8, fault 1: a ``dataward consent grant``
while ``dataward serve`` runs broke every partner call until restart). So whoever opens a log
for writing first takes an exclusive ``flock`` on ``<store>.writer`` and holds it until the log
is closed; the kernel drops it when the process dies (kill -9 included), so a crash never
leaves a stale lock behind.

The lock file also says who holds it (:meth:`WriterLock.describe`: pid, role, and for a server
the address its operator calls can reach it on), so a refused second writer can name the
running one or hand its write to it. It carries no secret and no data value.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

from enclave.audit.errors import AuditLogBusy, AuditStorageError

__all__ = ["WriterLock", "read_holder"]

_SUFFIX = ".writer"


def _lock_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + _SUFFIX)


def read_holder(store_path: Path) -> dict[str, Any]:
    """What the current (or last) writer of the log at ``store_path`` said about itself."""
    try:
        data = json.loads(_lock_path(store_path).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class WriterLock:
    """Held by the one process that writes a log; see the module docstring."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self._path = path
        self._handle: IO[str] | None = handle

    @classmethod
    def acquire(cls, store_path: Path) -> WriterLock:
        """Take the lock or raise :class:`AuditLogBusy` naming the process that holds it."""
        path = _lock_path(store_path)
        try:
            handle = path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise AuditStorageError(f"cannot open the log's writer lock: {exc.strerror}") from exc
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AuditLogBusy(read_holder(store_path)) from None
        except OSError as exc:
            handle.close()
            raise AuditStorageError(f"cannot lock the audit log: {exc.strerror}") from exc
        lock = cls(path, handle)
        lock.describe(role="writer")
        return lock

    def describe(self, **info: Any) -> None:
        """Record who holds the lock (pid added); e.g. ``role="server", grpc="host:port"``."""
        if self._handle is None:
            return
        text = json.dumps({"pid": os.getpid(), **info}, sort_keys=True)
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(text)
        self._handle.flush()

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.truncate()
        handle.close()  # closing the descriptor releases the flock
