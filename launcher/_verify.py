"""Verify every tamper-evident log of a zone with public keys only: the zone's audit log and,
when the zone has a portal, the portal's log (issues 3 and 4).

Nothing here needs a secret or writes: the zone log is opened read-only and checked with
``ZONE/public/zone-signing-key.pub``; the portal log is read with
:func:`portal.read_portal_log` and checked with ``ZONE/portal/public/portal-log-key.pub``.
Failures name the log (``zone log: ...``, ``portal log: ...``) and the first bad entry:

- a log that does not verify: :class:`AuditIntegrityError` (zone) or
  :class:`LogVerificationError` (portal), exit 65;
- a log that cannot be read (no database, no public key): :class:`AuditStorageError`, exit 74.
"""

from __future__ import annotations

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
from enclave import PUBLIC_KEY_FILE
from enclave.audit import AuditIntegrityError, AuditReader, AuditStorageError, verify_log
from portal import read_portal_log
from portal.errors import LogUnavailableError

__all__ = [
    "AUDIT_DB",
    "PORTAL_DIR",
    "VerifiedLog",
    "describe",
    "verify_all_logs",
    "verify_logs",
    "verify_portal_log",
    "verify_zone_log",
    "zone_public_key",
]

# The zone audit log's state database and the portal's state dir, relative to the zone dir.
AUDIT_DB = Path("state") / "audit.db"
PORTAL_DIR = Path("portal")


@dataclass(frozen=True)
class VerifiedLog:
    """One log that verified: ``name`` is ``"zone"`` or ``"portal"``."""

    name: str
    summary: LogSummary


def describe(summary: LogSummary) -> str:
    """``N entries, M checkpoints verified`` plus ``(K not yet signed)`` when K > 0."""
    unsigned = f" ({summary.unsigned_entries} not yet signed)" if summary.unsigned_entries else ""
    return f"{summary.entries} entries, {summary.checkpoints} checkpoints verified{unsigned}"


def verify_all_logs(zone_dir: Path, *, portal_database_url: str | None = None) -> list[str]:
    """Verify the zone log and, if ``ZONE/portal/`` exists, the portal log; one line each,
    e.g. ``zone log ok: 3 entries, 1 checkpoints verified``. Raises on the first failure."""
    return [
        f"{v.name} log ok: {describe(v.summary)}"
        for v in verify_logs(zone_dir, portal_database_url=portal_database_url)
    ]


def verify_logs(zone_dir: Path, *, portal_database_url: str | None = None) -> list[VerifiedLog]:
    """Like :func:`verify_all_logs`, returning the summaries.

    A zone with a ``portal/`` directory must have a readable portal log (fail closed: a
    deleted portal database is an error, not "no portal").
    """
    verified = [VerifiedLog("zone", verify_zone_log(zone_dir))]
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


def verify_zone_log(zone_dir: Path) -> LogSummary:
    """What ``dataward audit verify`` always did, with errors prefixed ``zone log:``."""
    try:
        public_key = zone_public_key(zone_dir)
        reader = AuditReader.open_read_only(zone_dir / AUDIT_DB)
        try:
            return verify_log(reader, public_key)
        finally:
            reader.close()
    except AuditIntegrityError as exc:
        raise AuditIntegrityError(
            f"zone log: {exc}", entry=exc.entry, first=exc.first, last=exc.last
        ) from exc
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
