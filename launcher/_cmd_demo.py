"""The `dataward demo` command (being built)."""

from __future__ import annotations

import click


@click.group(name="demo")
def demo() -> None:
    """demo commands."""
