"""Durable file operations: write-then-rename with fsync, so a crash leaves old or new, never half.

POSIX gives atomic ``rename``; durability needs the file fsynced before the rename and the
directory fsynced after it (otherwise the rename itself may be lost on power failure).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

__all__ = ["fsync_dir", "fsync_tree", "open_wal_database", "write_atomic"]

SYNCHRONOUS = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})


def open_wal_database(
    path: Path, *, synchronous: str = "FULL", busy_timeout_ms: int | None = None
) -> sqlite3.Connection:
    """A zone state database at ``path`` (created with its directory): WAL journal, the given
    ``PRAGMA synchronous``, autocommit (callers open their own transactions), usable from any
    thread (callers serialise with their own lock). Raises ``ValueError`` for an unknown
    ``synchronous``."""
    if synchronous.upper() not in SYNCHRONOUS:
        raise ValueError("synchronous must be OFF, NORMAL, FULL or EXTRA")
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    if busy_timeout_ms is not None:
        db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous.upper()}")
    return db


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """fsync a directory so the entries created or renamed in it survive a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root`` (bottom-up), then ``root`` itself."""
    for dirpath, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            fd = os.open(Path(dirpath) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))
