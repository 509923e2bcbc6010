"""The log's one writer, by construction: an exclusive lock on the directory holding the log.

The Merkle tree of an open :class:`~enclave.audit.AuditLog` lives in its process's memory; a
second process appending to the same store would leave that tree behind the store, and every
later receipt of the first process would fail (issue 8, fault 1: a ``dataward consent grant``
while ``dataward serve`` runs broke every partner call until restart). So whoever opens a log
for writing first takes an exclusive ``flock`` on the log's DIRECTORY and holds it until the
log is closed; the kernel drops it when the process dies (kill -9 included), so a crash never
leaves a stale lock behind. A directory cannot be deleted or swapped while the log is in it,
so -- unlike a lock file, which an operator may delete as "stale" (issue 8 review) -- the lock
cannot be sidestepped.

Who holds it is recorded beside the log in ``<store>.writer`` (:meth:`WriterLock.describe`:
pid, role, and for a server the address its operator calls can reach it on), written
atomically (a new file renamed over the old one, never following a link). It is advisory: it
carries no secret, and a reader must not trust the address it names without proof (the CLI
asks the server there to prove it holds the zone's key first).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from pathlib import Path
from typing import Any

from enclave.audit.errors import AuditLogBusy, AuditStorageError

__all__ = ["WriterLock", "read_holder"]

_SUFFIX = ".writer"
_MAX_HOLDER_BYTES = 4096


def _holder_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + _SUFFIX)


def read_holder(store_path: Path) -> dict[str, Any]:
    """What the current (or last) writer of the log at ``store_path`` said about itself."""
    try:
        fd = os.open(_holder_path(store_path), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return {}
    try:
        data = json.loads(os.read(fd, _MAX_HOLDER_BYTES) or b"{}")
    except ValueError:
        return {}
    finally:
        os.close(fd)
    return data if isinstance(data, dict) else {}


class WriterLock:
    """Held by the one process that writes a log; see the module docstring."""

    def __init__(self, store_path: Path, directory_fd: int) -> None:
        self._store_path = store_path
        self._fd: int | None = directory_fd

    @classmethod
    def acquire(cls, store_path: Path) -> WriterLock:
        """Take the lock or raise :class:`AuditLogBusy` naming the process that holds it."""
        try:
            fd = os.open(store_path.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise AuditStorageError(f"cannot open the log's directory: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AuditLogBusy(read_holder(store_path)) from None
        except OSError as exc:
            os.close(fd)
            raise AuditStorageError(f"cannot lock the audit log: {exc.strerror}") from exc
        lock = cls(store_path, fd)
        lock.describe(role="writer")
        return lock

    def describe(self, **info: Any) -> None:
        """Record who holds the lock (pid added); e.g. ``role="server", grpc="host:port"``."""
        if self._fd is None:
            return
        target = _holder_path(self._store_path)
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
        text = json.dumps({"pid": os.getpid(), **info}, sort_keys=True).encode()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            fd = os.open(temporary, flags, 0o644)
            try:
                os.write(fd, text)
            finally:
                os.close(fd)
            os.replace(temporary, target)  # replaces a link itself, never what it points to
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise AuditStorageError(f"cannot record the log's writer: {exc.strerror}") from exc

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            _holder_path(self._store_path).unlink()
        os.close(fd)  # closing the descriptor releases the flock
