"""``dataward demo``: the narrated walk through every capability, on embedded defaults."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from launcher._demo import DemoOptions, run_demo
from launcher.settings import load_settings

__all__ = ["demo"]


@click.command(name="demo")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="An empty or new directory for the demo's export and zone (default: a fresh temp dir).",
)
@click.option("--persons", default=2000, show_default=True, type=click.IntRange(min=200))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option(
    "--faces",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The face photos of the identity steps: the project's tests/fixtures/faces (`make "
    "demo` passes it). Without it the face steps are skipped.",
)
def demo(workdir: Path | None, persons: int, seed: int, faces: Path | None) -> None:
    """Generate a synthetic registry, build a zone, serve it and use it as every role would."""
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="dataward-demo-"))
    elif workdir.exists() and any(workdir.iterdir()):
        raise click.UsageError(f"--workdir {workdir} is not empty")
    run_demo(load_settings(), DemoOptions(workdir, persons, seed, faces), click.echo)
