"""Verify every tamper-evident log of a zone with public keys only: the zone's audit log and,
when the zone has a portal, the portal's log (issues 3 and 4).

Nothing here needs a secret or writes: the zone log is opened read-only and checked with
``ZONE/public/zone-signing-key.pub``; the portal log is read with
:func:`portal.read_portal_log` and checked with ``ZONE/portal/public/portal-log-key.pub``.
Failures name the log (``zone log: ...``, ``portal log: ...``) and the first bad entry:

- a log that does not verify: :class:`AuditIntegrityError` (zone) or
  :class:`LogVerificationError` (portal), exit 65;
- a log that cannot be read (no database, no public key): :class:`AuditStorageError`, exit 74.

A log's own checkpoints cannot reveal its newest entries deleted together with every
checkpoint covering them (issue 8, item 6). So the zone log must hold at least the checkpoint
of size 0 that ``zone init`` signs, and ``--trusted`` holds it to checkpoints kept outside the
zone (:func:`latest_zone_checkpoint`, ``dataward audit checkpoint``): a log smaller than one,
or not extending it, fails (exit 65); one that does not verify with the zone's key is
:class:`AuditTrustedCheckpointError` (exit 65).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dataward.transparency import (
    LogSummary,
    LogVerificationError,
    PublicKeyError,
    load_public_key,
    verify_log_entries,
)
from enclave.audit import (
    ZONE_LOG_FILE,
    AuditIntegrityError,
    AuditReader,
    AuditStorageError,
    AuditTrustedCheckpointError,
    verify_log,
)
from enclave.keys import PUBLIC_KEY_FILE
from portal import read_portal_log
from portal.errors import LogUnavailableError

__all__ = [
    "AUDIT_DB",
    "PORTAL_DIR",
    "VerifiedLog",
    "describe",
    "latest_zone_checkpoint",
    "read_trusted",
    "verify_all_logs",
    "verify_logs",
    "verify_portal_log",
    "verify_zone_log",
    "zone_public_key",
]

# The zone audit log's state database and the portal's state dir, relative to the zone dir.
AUDIT_DB = ZONE_LOG_FILE
PORTAL_DIR = Path("portal")
# A signed note is at most 16 KiB of text; a "checkpoint file" far larger is something else.
_MAX_TRUSTED_BYTES = 64 * 1024


@dataclass(frozen=True)
class VerifiedLog:
    """One log that verified: ``name`` is ``"zone"`` or ``"portal"``."""

    name: str
    summary: LogSummary


def describe(summary: LogSummary) -> str:
    """``N entries, M checkpoints verified`` plus ``(K not yet signed)`` when K > 0, plus
    ``; consistent with the trusted checkpoint of size T`` when held to one."""
    unsigned = f" ({summary.unsigned_entries} not yet signed)" if summary.unsigned_entries else ""
    held = (
        f"; consistent with the trusted checkpoint of size {summary.trusted.size}"
        if summary.trusted is not None
        else ""
    )
    return f"{summary.entries} entries, {summary.checkpoints} checkpoints verified{unsigned}{held}"


def verify_all_logs(
    zone_dir: Path, *, portal_database_url: str | None = None, trusted: Sequence[str] = ()
) -> list[str]:
    """Verify the zone log and, if ``ZONE/portal/`` exists, the portal log; one line each,
    e.g. ``zone log ok: 3 entries, 1 checkpoints verified``. Raises on the first failure."""
    return [
        f"{v.name} log ok: {describe(v.summary)}"
        for v in verify_logs(zone_dir, portal_database_url=portal_database_url, trusted=trusted)
    ]


def verify_logs(
    zone_dir: Path, *, portal_database_url: str | None = None, trusted: Sequence[str] = ()
) -> list[VerifiedLog]:
    """Like :func:`verify_all_logs`, returning the summaries. ``trusted``: signed notes of
    zone-log checkpoints kept outside the zone (see :func:`verify_zone_log`).

    A zone with a ``portal/`` directory must have a readable portal log (fail closed: a
    deleted portal database is an error, not "no portal").
    """
    verified = [VerifiedLog("zone", verify_zone_log(zone_dir, trusted=trusted))]
    if (zone_dir / PORTAL_DIR).is_dir():
        verified.append(VerifiedLog("portal", verify_portal_log(zone_dir, portal_database_url)))
    return verified


def zone_public_key(zone_dir: Path) -> Ed25519PublicKey:
    """The zone's published Ed25519 signing key (PEM)."""
    path = zone_dir / PUBLIC_KEY_FILE
    try:
        return load_public_key(path.read_bytes())
    except FileNotFoundError as exc:
        raise AuditStorageError(f"no zone public key at {path}") from exc
    except PublicKeyError as exc:
        raise AuditStorageError(f"{path}: {exc}") from exc


def read_trusted(path: Path) -> str:
    """The signed note in a trusted-checkpoint file (checked when the log is verified)."""
    try:
        with path.open("rb") as file:
            data = file.read(_MAX_TRUSTED_BYTES + 1)
    except OSError as exc:
        raise AuditStorageError(
            f"cannot read the trusted checkpoint {path}: {exc.strerror}"
        ) from exc
    if len(data) > _MAX_TRUSTED_BYTES:
        raise AuditTrustedCheckpointError(f"the trusted checkpoint {path} is not a signed note")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuditTrustedCheckpointError(
            f"the trusted checkpoint {path} is not UTF-8 text"
        ) from exc


def _open_zone_log(zone_dir: Path) -> AuditReader:
    path = zone_dir / AUDIT_DB
    if not path.exists():
        raise AuditStorageError(
            f"no audit log at {path}: a zone has one from `dataward zone init` on, so it was "
            "removed"
        )
    return AuditReader.open_read_only(path)


def verify_zone_log(zone_dir: Path, *, trusted: Sequence[str] = ()) -> LogSummary:
    """Verify the zone log (errors prefixed ``zone log:``), held to ``trusted`` checkpoints.

    The log must hold a signed checkpoint: ``zone init`` signs one of size 0, so a log with
    none had its checkpoints deleted.
    """
    try:
        public_key = zone_public_key(zone_dir)
        reader = _open_zone_log(zone_dir)
        try:
            summary = verify_log(reader, public_key, trusted=trusted)
        finally:
            reader.close()
        if summary.checkpoints == 0:
            raise AuditIntegrityError(
                "the log holds no signed checkpoint: zone init signs one of size 0, so its "
                "checkpoints were deleted"
            )
        return summary
    except AuditIntegrityError as exc:
        raise AuditIntegrityError(
            f"zone log: {exc}", entry=exc.entry, first=exc.first, last=exc.last
        ) from exc
    except AuditTrustedCheckpointError as exc:
        raise AuditTrustedCheckpointError(f"zone log: {exc}") from exc
    except AuditStorageError as exc:
        raise AuditStorageError(f"zone log: {exc}") from exc


def latest_zone_checkpoint(zone_dir: Path) -> str:
    """The zone log's newest signed checkpoint note, its signature checked with the zone's
    published key: ``dataward audit checkpoint``. Needs no secret."""
    try:
        public_key = zone_public_key(zone_dir)
        reader = _open_zone_log(zone_dir)
        try:
            return reader.latest_checkpoint(public_key)
        finally:
            reader.close()
    except AuditIntegrityError as exc:
        raise AuditIntegrityError(f"zone log: {exc}") from exc
    except AuditStorageError as exc:
        raise AuditStorageError(f"zone log: {exc}") from exc


def verify_portal_log(zone_dir: Path, database_url: str | None = None) -> LogSummary:
    """Read the portal log read-only and verify it with the published portal-log key."""
    try:
        export = read_portal_log(zone_dir / PORTAL_DIR, database_url)
    except LogUnavailableError as exc:
        raise AuditStorageError(f"portal log: {exc}") from exc
    try:
        return verify_log_entries(
            export.entries,
            export.checkpoints,
            export.key_name,
            export.public_key,
            origin=export.origin,
        )
    except LogVerificationError as exc:
        # Portal leaves carry no stored hash: an edit is caught by the signed root covering
        # it, so the entry is named exactly only when that range is a single entry.
        named = (
            f" (first bad entry: {exc.first})"
            if exc.entry is None and exc.first is not None and exc.first == exc.last
            else ""
        )
        raise LogVerificationError(
            f"portal log: {exc}{named}",
            entry=exc.entry,
            first=exc.first,
            last=exc.last,
            checkpoint=exc.checkpoint,
        ) from exc
