"""Click options shared by several ``dataward`` commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["id_number_option", "zone_option"]

zone_option = click.option(
    "--zone",
    "zone_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Zone directory (default: settings zone.dir / DATAWARD_ZONE).",
)


def _read_id_number(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--id-number -`` (the default): the number comes from stdin, or a hidden prompt at a
    terminal. A number written on the command line is refused: it would land in the shell's
    history file and in every process listing, outside the zone's control."""
    if value != "-":
        raise click.BadParameter(
            "give '-' and pass the number on stdin (or type it at the prompt): on the command "
            "line it would land in shell history and process listings",
            ctx=ctx,
            param=param,
        )
    if sys.stdin.isatty():
        return str(click.prompt("ID number", hide_input=True, err=True)).strip()
    line = sys.stdin.readline().strip()
    if not line:
        raise click.BadParameter("no ID number on stdin", ctx=ctx, param=param)
    return line


id_number_option = click.option(
    "--id-number",
    "id_number",
    default="-",
    show_default=True,
    callback=_read_id_number,
    help="'-': read the person's ID number from stdin (a hidden prompt at a terminal).",
)
