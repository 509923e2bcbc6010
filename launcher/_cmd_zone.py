"""The `dataward zone` command (being built)."""

from __future__ import annotations

import click


@click.group(name="zone")
def zone() -> None:
    """zone commands."""
