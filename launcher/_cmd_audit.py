"""The ``dataward audit`` commands: verify, checkpoint, tail, who-checked.

``verify``, ``checkpoint`` and ``tail`` need no secret: they open the log read-only and check
it with the zone's published public key (``ZONE/public/zone-signing-key.pub``); ``verify`` also
checks the portal's log when the zone has a portal (see :mod:`launcher._verify`), and holds the
zone log to checkpoints an auditor saved from ``checkpoint`` (``--trusted``). ``who-checked``
needs the master key, only to tokenize the ID number inside the zone; the number itself is
never printed, logged or stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from enclave.audit import AuditReader, who_checked
from enclave.keys import open_keyring
from enclave.persons import validate_id_number
from launcher._options import id_number_option, zone_option
from launcher._organizations import organization_names
from launcher._verify import (
    AUDIT_DB,
    describe,
    latest_zone_checkpoint,
    read_trusted,
    verify_logs,
)
from launcher._zone_dirs import require_zone
from launcher.settings import (
    MASTER_KEY_FILE_VARIABLE,
    MASTER_KEY_VARIABLE,
    SettingsError,
    ZoneSettings,
    load_settings,
)

__all__ = ["AUDIT_DB", "audit"]


def _settings(zone_dir: Path | None) -> ZoneSettings:
    return load_settings(overrides={"zone": {"dir": zone_dir}}).zone


def _reader(zone_dir: Path) -> AuditReader:
    if not (zone_dir / AUDIT_DB).exists():
        require_zone(zone_dir)  # no zone there: 66; a zone's log removed: 74 (opening it)
    return AuditReader.open_read_only(zone_dir / AUDIT_DB)


@click.group(name="audit")
def audit() -> None:
    """Verify the audit log, show its tail, answer "who checked me"."""


@audit.command("verify")
@zone_option
@click.option(
    "--trusted",
    "trusted_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A zone-log checkpoint kept outside the zone (`dataward audit checkpoint` output); "
    "the log must still extend it. Repeatable.",
)
def verify_command(zone_dir: Path | None, trusted_files: tuple[Path, ...]) -> None:
    """Check the zone's audit log and, if the zone has a portal, the portal's log.

    For each: recompute the Merkle tree, check every checkpoint signature (public keys only)
    and the consistency of consecutive checkpoints. With ``--trusted``, the zone log must
    also hold every entry the trusted checkpoint covers, unchanged (its root recomputed at
    that size): deleting the newest entries together with every checkpoint, or rebuilding
    the log, cannot pass. Exits non-zero naming the log and the first bad entry. Prints
    ``zone log ok: ...`` and, with a portal, ``portal log ok: ...``.
    """
    settings = load_settings(overrides={"zone": {"dir": zone_dir}})
    trusted = [read_trusted(path) for path in trusted_files]
    for verified in verify_logs(
        settings.zone.dir, portal_database_url=settings.portal.database_url, trusted=trusted
    ):
        click.echo(f"{verified.name} log ok: {describe(verified.summary)}")


@audit.command("checkpoint")
@zone_option
def checkpoint_command(zone_dir: Path | None) -> None:
    """Print the zone log's latest signed checkpoint (a C2SP signed note), for anyone to keep.

    Needs no secret; the signature is checked with the zone's published key first. Keep the
    output outside the zone: ``dataward audit verify --trusted FILE`` later fails unless the
    log still extends it.
    """
    click.echo(latest_zone_checkpoint(_settings(zone_dir).dir), nl=False)


@audit.command("tail")
@zone_option
@click.option(
    "-n", "count", type=click.IntRange(min=1, max=1_000_000), default=20, show_default=True
)
def tail_command(zone_dir: Path | None, count: int) -> None:
    """Print the last N events as JSON lines (events carry no data values by construction)."""
    reader = _reader(_settings(zone_dir).dir)
    try:
        for logged in reader.tail(count):
            click.echo(logged.to_json())
    finally:
        reader.close()


@audit.command("who-checked")
@zone_option
@id_number_option
def who_checked_command(zone_dir: Path | None, id_number: str) -> None:
    """List who asked about a person: organization (slug and name), client, when, purpose,
    decision."""
    everything = load_settings(overrides={"zone": {"dir": zone_dir}})
    settings = everything.zone
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
    names = organization_names(everything) if entries else {}
    for entry in entries:
        click.echo(
            json.dumps(
                {
                    "time": entry.time.isoformat(),
                    "organization": entry.organization,
                    # the portal's name for the slug; the slug itself when it has none
                    "organization_name": names.get(entry.organization, entry.organization),
                    "client_id": entry.client_id,
                    "purpose": entry.purpose,
                    "decision": entry.decision,
                },
                sort_keys=True,
            )
        )
    if not entries:
        click.echo("no partner asked about this person", err=True)
