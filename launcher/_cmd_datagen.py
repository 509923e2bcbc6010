"""The ``dataward datagen`` command: write a synthetic registry export."""

from __future__ import annotations

from pathlib import Path

import click

from launcher._progress import ProgressDisplay
from synthetic import generate

__all__ = ["datagen"]


@click.command(name="datagen")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write <table>.parquet into (created; must be empty).",
)
@click.option("--persons", required=True, type=click.IntRange(min=1), help="Number of persons.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed.")
def datagen(out_dir: Path, persons: int, seed: int) -> None:
    """Write a realistic synthetic registry export (six Parquet tables)."""
    display = ProgressDisplay("datagen", unit="persons")

    def advance(done: int) -> None:
        display.advance("persons", done, persons)

    try:
        report = generate(out_dir, persons, seed, progress=advance)
    finally:
        display.close()
    for table, rows in report.rows.items():
        click.echo(f"{table:<16} {rows:>12,} rows  {report.seconds[table]:7.2f} s")
    click.echo(f"wrote {out_dir} in {report.total_seconds:.1f} s")
