"""The `dataward datagen` command (being built)."""

from __future__ import annotations

import click


@click.group(name="datagen")
def datagen() -> None:
    """datagen commands."""
