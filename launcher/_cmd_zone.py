"""The ``dataward zone`` commands: init, ingest, versions, rollback, enroll-faces, inspect,
lookup.

Settings come from :func:`launcher.settings.load_settings` (``--zone`` overrides
``DATAWARD_ZONE``); the master key only from ``DATAWARD_MASTER_KEY`` or
``DATAWARD_MASTER_KEY_FILE``. Output never carries an identifier value: ``lookup`` prints
found / not found and the person's non-identifying attributes only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import click

from enclave import RejectLimitExceeded
from enclave.biometrics import LocalFaces
from enclave.dataset import (
    EnrolmentReport,
    IngestReport,
    TableReport,
    Zone,
    enroll_faces,
    ingest,
    inspect_zone,
    list_versions,
    rollback,
)
from enclave.keys import Keyring, open_keyring
from launcher._options import id_number_option, zone_option
from launcher._progress import ProgressDisplay
from launcher._zone_dirs import create_zone, require_zone
from launcher.settings import (
    MASTER_KEY_FILE_VARIABLE,
    MASTER_KEY_VARIABLE,
    SettingsError,
    ZoneSettings,
    load_settings,
)

__all__ = ["zone"]


def _settings(zone_dir: Path | None) -> ZoneSettings:
    return load_settings(overrides={"zone": {"dir": zone_dir}}).zone


def _master_key(settings: ZoneSettings) -> bytes:
    if settings.master_key is None:
        raise SettingsError(
            f"the master key is missing: set {MASTER_KEY_VARIABLE} or {MASTER_KEY_FILE_VARIABLE}"
        )
    return settings.master_key.value


def _keyring(settings: ZoneSettings) -> Keyring:
    return open_keyring(settings.dir, _master_key(settings))


@click.group(name="zone")
def zone() -> None:
    """Create the zone, ingest registry exports, inspect them, look a person up."""


@zone.command("init")
@zone_option
def init_command(zone_dir: Path | None) -> None:
    """Create the zone directory and its keyring, sealed under the master key."""
    settings = _settings(zone_dir)
    create_zone(settings.dir, _master_key(settings))  # a new or empty directory only
    keyring = _keyring(settings)
    click.echo(f"zone {keyring.zone_id} initialized in {settings.dir}")
    click.echo(f"public signing key: {settings.dir / 'public' / 'zone-signing-key.pub'}")


@zone.command("ingest")
@zone_option
@click.option(
    "--source",
    "source_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory with the export's <table>.parquet files.",
)
@click.option(
    "--keep-versions",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Dataset versions to keep on disk, the newest; older ones are deleted after a publish, "
    "never the new live one nor the one live before it. Refused ingests' rejects reports in "
    "ZONE/data/refused/ are kept as many.",
)
@click.option(
    "--max-reject-share",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Refuse to publish when any table has more than this share of its rows rejected, "
    "0 to 1 (default: setting zone.max_reject_share, 0.01).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate and report as a real ingest would (exit 65 past the reject limit), "
    "publish nothing; the rejects report is kept in ZONE/data/dry-run/.",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    help="Progress on stderr: a bar on a terminal, a line per 10% otherwise.",
)
def ingest_command(
    *,
    zone_dir: Path | None,
    source_dir: Path,
    keep_versions: int,
    max_reject_share: float | None,
    dry_run: bool,
    progress: bool,
) -> None:
    """Validate an export and publish it atomically as the zone's new dataset version.

    Exit 65, nothing published, when a table's rejected share passes the limit; the reasons
    are printed and the rejects report is kept. `zone versions` lists the kept versions,
    `zone rollback` makes an older one live again.
    """
    overrides = {"dir": zone_dir, "max_reject_share": max_reject_share}
    settings = load_settings(overrides={"zone": overrides}).zone
    keyring = _keyring(settings)
    display = ProgressDisplay("ingest", unit="rows")
    try:
        try:
            report = ingest(
                settings.dir,
                source_dir,
                keyring,
                batch_rows=settings.ingest_batch_rows,
                memory_mb=settings.ingest_memory_mb,
                keep_versions=keep_versions,
                max_reject_share=settings.max_reject_share,
                progress=display.advance if progress else None,
                dry_run=dry_run,
            )
        finally:
            display.close()
    except RejectLimitExceeded as refused:
        click.echo("not published; rows rejected per table:")  # the error follows on stderr
        _print_tables(refused.tables)
        raise
    _print_report(report)


def _print_report(report: IngestReport) -> None:
    if not report.published:
        seconds = f"{report.seconds:.1f} s"
        click.echo(f"dry run: nothing published, the live version is unchanged ({seconds})")
        _print_tables(report.tables)
        click.echo(f"rejected rows (row number and reason) are listed in {report.rejects_dir}")
        return
    click.echo(f"version {report.version} is live ({report.seconds:.1f} s)")
    _print_tables(report.tables)
    if any(t.rejected for t in report.tables.values()):
        click.echo("rejected rows (row number and reason) are listed in the version's rejects/")
    if report.leftovers_removed:
        click.echo(f"removed {report.leftovers_removed} interrupted ingest(s)")


def _print_tables(tables: Mapping[str, TableReport]) -> None:
    for name, table in tables.items():
        line = f"  {name:<16} {table.source_rows:>12,} rows  {table.rejected:>9,} rejected"
        click.echo(line)
        for reason, count in sorted(table.by_reason.items()):
            click.echo(f"      {reason:<30} {count:>9,}")


@zone.command("enroll-faces")
@zone_option
@click.option(
    "--images",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of the ID-card photos (JPEG or PNG).",
)
@click.option(
    "--map",
    "map_csv",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV with the header image,id_number: a photo's file name in --images and the "
    "person's ID number (read, never copied into the zone).",
)
@click.option(
    "--rejects",
    "rejects_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the rejects (file name and reason) to this JSON file.",
)
@click.option(
    "--keep-versions",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Dataset versions to keep on disk, as for ingest.",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    help="Progress on stderr: a bar on a terminal, a line per 10% otherwise.",
)
def enroll_faces_command(
    *,
    zone_dir: Path | None,
    images: Path,
    map_csv: Path,
    rejects_file: Path | None,
    keep_versions: int,
    progress: bool,
) -> None:
    """Compute reference face templates from ID-card photos and publish them, sealed, as a
    new dataset version (a running server uses it after a restart).

    Each photo passes the selfie's gates (one face, size, quality: settings faces.*); one
    that does not is a reject by file name and reason, never by person. Exit 65 for a map
    that is not `image,id_number` CSV or an images directory that does not exist, 66 for a
    zone without a dataset, nothing published either way.
    """
    settings = load_settings(overrides={"zone": {"dir": zone_dir}})
    keyring = _keyring(settings.zone)
    analyzer = LocalFaces(limits=settings.faces.limits(), gates=settings.faces.gates())
    display = ProgressDisplay("enroll-faces", unit="photos")

    def on_progress(done: int, total: int) -> None:
        display.advance("photos", done, total)

    try:
        report = enroll_faces(
            settings.zone.dir,
            keyring,
            images=images,
            map_csv=map_csv,
            analyzer=analyzer,
            progress=on_progress if progress else None,
            keep_versions=keep_versions,
        )
    finally:
        display.close()
    _print_enrolment(report)
    if rejects_file is not None:
        rejects = [{"image": r.image, "reason": r.reason} for r in report.rejects]
        rejects_file.write_text(json.dumps(rejects, indent=2) + "\n", encoding="utf-8")
        click.echo(f"rejects written to {rejects_file}")


def _print_enrolment(report: EnrolmentReport) -> None:
    click.echo(f"version {report.version} is live ({report.seconds:.1f} s)")
    click.echo(
        f"  {report.photos:,} photos: {report.enrolled:,} enrolled "
        f"({report.replaced:,} replacing an earlier template), {len(report.rejects):,} rejected"
    )
    for reason, count in report.by_reason().items():
        click.echo(f"      {reason:<30} {count:>9,}")
    for reject in report.rejects:
        click.echo(f"  rejected {reject.image}: {reject.reason}")


@zone.command("versions")
@zone_option
def versions_command(zone_dir: Path | None) -> None:
    """The dataset versions kept on disk, oldest first: created, persons and claims, which is
    live and which a running server serves (no key needed)."""
    settings = _settings(zone_dir)
    versions = list_versions(settings.dir)
    if not versions:
        click.echo("no dataset version yet (run `dataward zone ingest`)")
        return
    click.echo(f"{'VERSION':<32} {'CREATED':<26} {'PERSONS':>12} {'CLAIMS':>12}  STATE")
    for info in versions:
        state = ", ".join(word for word, on in (("live", info.live), ("served", info.served)) if on)
        click.echo(
            f"{info.version:<32} {info.created[:26]:<26} {info.rows.get('persons', 0):>12,} "
            f"{info.rows.get('claims', 0):>12,}  {state}".rstrip()
        )


@zone.command("rollback")
@zone_option
@click.argument("version")
def rollback_command(zone_dir: Path | None, version: str) -> None:
    """Make the kept VERSION (see `zone versions`) the live dataset again, atomically.

    Exit 65 when VERSION is not kept on disk. A running server keeps answering from the
    version it started with until it is restarted.
    """
    settings = _settings(zone_dir)
    previous = rollback(settings.dir, version)
    if previous == version:
        click.echo(f"version {version} is already live")
        return
    click.echo(f"version {version} is live (was {previous or 'none'})")
    click.echo("a running server uses it after a restart")


@zone.command("inspect")
@zone_option
def inspect_command(zone_dir: Path | None) -> None:
    """Tables, row counts, columns with their classes, the dataset version (no key needed)."""
    zone_path = _settings(zone_dir).dir
    require_zone(zone_path)  # not "no dataset yet" for a directory that is no zone at all
    summary = inspect_zone(zone_path)
    click.echo(f"zone {summary.zone_id}  version {summary.version}  created {summary.created}")
    for table in summary.tables:
        click.echo(f"{table.name}: {table.rows:,} rows ({table.rejected:,} rejected at ingest)")
        for name, cls, stored in table.columns:
            extra = f"  stored as {', '.join(stored)}" if stored != (name,) else ""
            click.echo(f"    {name:<22} {cls}{extra}")


@zone.command("lookup")
@zone_option
@id_number_option
def lookup_command(zone_dir: Path | None, id_number: str) -> None:
    """Whether a person is registered, and their non-identifying attributes."""
    settings = _settings(zone_dir)
    person = Zone.open(settings.dir, _keyring(settings)).find_person(id_number)
    if person is None:
        click.echo("not found")
        return
    click.echo("found")
    click.echo(f"status: {person.status}")
    click.echo(f"gender: {person.gender}")
    click.echo(f"birth year: {person.birth_date.year}")
    click.echo(f"region: {person.region_code}")
