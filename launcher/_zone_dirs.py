"""What a zone directory must be before a command uses it, and how ``zone init`` creates one.

A zone directory is one ``dataward zone init`` made: it holds ``keyring.json``. Commands that
read a zone refuse any other directory, missing or not (:func:`require_zone`, exit 66), and
never create one: ``dataward portal --zone`` on a mistyped path used to create a portal
database there, a zone-less portal nobody would find again (issue 14).

``zone init`` (:func:`create_zone`) makes a zone only in a new or empty directory (files
already there would mix with the zone's, and be taken for part of it by backups and
``audit verify``), and turns a place it cannot write into a precise error instead of a
traceback (exit 73). When it fails part-way, what it created is removed, so a retry meets the
same empty place.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from enclave import ZoneAlreadyInitialized, ZoneNotInitialized
from enclave.audit import AuditStorageError
from enclave.keys import KEYRING_FILE, init_zone

__all__ = [
    "ZoneDirectoryNotEmptyError",
    "ZoneInitError",
    "ZoneNotCreatableError",
    "create_zone",
    "require_zone",
]


class ZoneInitError(Exception):
    """``zone init`` cannot make a zone in the directory given."""


class ZoneDirectoryNotEmptyError(ZoneInitError):
    """The directory exists and holds files, but no zone."""


class ZoneNotCreatableError(ZoneInitError):
    """The directory or the zone's files cannot be created there (permissions, a file in
    the way, a read-only or full file system)."""


def require_zone(zone_dir: Path) -> None:
    """:class:`~enclave.ZoneNotInitialized` (66) unless ``zone_dir`` holds a zone."""
    if not (zone_dir / KEYRING_FILE).is_file():
        what = "does not exist" if not zone_dir.exists() else f"has no {KEYRING_FILE}"
        raise ZoneNotInitialized(
            f"{zone_dir} is not a zone ({what}): create one with `dataward zone init`"
        )


def create_zone(zone_dir: Path, master_key: bytes) -> None:
    """``init_zone`` in a new or empty ``zone_dir``; :class:`~enclave.ZoneAlreadyInitialized`
    on a zone, :class:`ZoneDirectoryNotEmptyError` on a directory with other files,
    :class:`ZoneNotCreatableError` when it cannot be written."""
    if (zone_dir / KEYRING_FILE).exists():
        raise ZoneAlreadyInitialized
    existed = zone_dir.is_dir()
    if existed and any(zone_dir.iterdir()):
        raise ZoneDirectoryNotEmptyError(
            f"{zone_dir} is not empty: a zone is created in a new or empty directory "
            "(its files would mix with the zone's)"
        )
    try:
        init_zone(zone_dir, master_key)
    except (OSError, AuditStorageError) as exc:
        _remove_created(zone_dir, existed)
        raise ZoneNotCreatableError(
            f"cannot create the zone in {zone_dir}: {_reason(exc)}"
        ) from None
    except BaseException:
        _remove_created(zone_dir, existed)
        raise


def _reason(exc: BaseException) -> str:
    cause = exc if isinstance(exc, OSError) else exc.__cause__ or exc.__context__
    if isinstance(cause, OSError) and cause.errno is not None:
        return os.strerror(cause.errno) + (
            " (a file is in the way)" if cause.errno == errno.ENOTDIR else ""
        )
    return str(exc)


def _remove_created(zone_dir: Path, existed: bool) -> None:
    """Undo a failed init: the directory if it made it, else what it put in the empty one."""
    if not existed:
        shutil.rmtree(zone_dir, ignore_errors=True)
    elif zone_dir.is_dir():
        for entry in zone_dir.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
