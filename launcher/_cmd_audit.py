"""The ``dataward audit`` commands: verify, tail, who-checked.

``verify`` and ``tail`` need no secret: they open the log read-only and check it with the
zone's published public key (``ZONE/public/zone-signing-key.pub``). ``who-checked`` needs the
master key, only to tokenize the ID number inside the zone; the number itself is never
printed, logged or stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from enclave import PUBLIC_KEY_FILE, open_keyring, validate_id_number
from enclave.audit import AuditReader, AuditStorageError, verify_log, who_checked
from launcher.settings import (
    MASTER_KEY_FILE_VARIABLE,
    MASTER_KEY_VARIABLE,
    SettingsError,
    ZoneSettings,
    load_settings,
)

__all__ = ["AUDIT_DB", "audit"]

# The audit log's state database, relative to the zone directory.
AUDIT_DB = Path("state") / "audit.db"

_zone_option = click.option(
    "--zone",
    "zone_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Zone directory (default: settings zone.dir / DATAWARD_ZONE).",
)


def _settings(zone_dir: Path | None) -> ZoneSettings:
    return load_settings(overrides={"zone": {"dir": zone_dir}}).zone


def zone_public_key(zone_dir: Path) -> Ed25519PublicKey:
    """The zone's published Ed25519 signing key (PEM)."""
    path = zone_dir / PUBLIC_KEY_FILE
    try:
        key = load_pem_public_key(path.read_bytes())
    except FileNotFoundError as exc:
        raise AuditStorageError(f"no zone public key at {path}") from exc
    except ValueError as exc:
        raise AuditStorageError(f"{path} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AuditStorageError(f"{path} is not an Ed25519 public key")
    return key


def _reader(zone_dir: Path) -> AuditReader:
    return AuditReader.open_read_only(zone_dir / AUDIT_DB)


@click.group(name="audit")
def audit() -> None:
    """Verify the audit log, show its tail, answer "who checked me"."""


@audit.command("verify")
@_zone_option
def verify_command(zone_dir: Path | None) -> None:
    """Recompute the Merkle tree, check every checkpoint signature and their consistency.

    Exits non-zero naming the first bad entry.
    """
    settings = _settings(zone_dir)
    public_key = zone_public_key(settings.dir)
    reader = _reader(settings.dir)
    try:
        summary = verify_log(reader, public_key)
    finally:
        reader.close()
    unsigned = f" ({summary.unsigned_entries} not yet signed)" if summary.unsigned_entries else ""
    click.echo(
        f"ok: {summary.entries} entries, {summary.checkpoints} checkpoints verified{unsigned}"
    )


@audit.command("tail")
@_zone_option
@click.option("-n", "count", type=click.IntRange(min=1), default=20, show_default=True)
def tail_command(zone_dir: Path | None, count: int) -> None:
    """Print the last N events as JSON lines (events carry no data values by construction)."""
    reader = _reader(_settings(zone_dir).dir)
    try:
        for logged in reader.tail(count):
            click.echo(logged.to_json())
    finally:
        reader.close()


@audit.command("who-checked")
@_zone_option
@click.option("--id-number", required=True, help="The person's ID number (tokenized, never shown).")
def who_checked_command(zone_dir: Path | None, id_number: str) -> None:
    """List who asked about a person: organization, client, when, purpose, decision."""
    settings = _settings(zone_dir)
    if settings.master_key is None:
        raise SettingsError(
            f"the master key is missing: set {MASTER_KEY_VARIABLE} or {MASTER_KEY_FILE_VARIABLE}"
        )
    validate_id_number(id_number)
    token = open_keyring(settings.dir, settings.master_key.value).token("id_number", id_number)
    reader = _reader(settings.dir)
    try:
        entries = who_checked(reader, token)
    finally:
        reader.close()
    for entry in entries:
        click.echo(
            json.dumps(
                {
                    "time": entry.time.isoformat(),
                    "organization": entry.organization,
                    "client_id": entry.client_id,
                    "purpose": entry.purpose,
                    "decision": entry.decision,
                },
                sort_keys=True,
            )
        )
    if not entries:
        click.echo("no partner asked about this person", err=True)
