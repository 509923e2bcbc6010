"""Click options shared by several ``dataward`` commands."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["zone_option"]

zone_option = click.option(
    "--zone",
    "zone_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Zone directory (default: settings zone.dir / DATAWARD_ZONE).",
)
