"""``dataward serve --zone DIR [--grpc-bind HOST:PORT] [--portal-bind HOST:PORT]``.

Starts the portal and the gRPC API in one process; prints both addresses; runs until
interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from launcher._options import zone_option
from launcher._wiring import start_serving
from launcher.settings import load_settings

__all__ = ["serve"]


@click.command(name="serve")
@zone_option
@click.option("--grpc-bind", default=None, help="HOST:PORT for gRPC (default 127.0.0.1:50051).")
@click.option("--portal-bind", default=None, help="HOST:PORT for the portal (port 0: free).")
def serve(zone_dir: Path | None, grpc_bind: str | None, portal_bind: str | None) -> None:
    """Serve the zone: the gRPC API and the portal."""
    settings = load_settings(overrides={"zone": {"dir": zone_dir}})
    serving = start_serving(settings, grpc_bind=grpc_bind, portal_bind=portal_bind)
    click.echo(f"portal listening on {serving.portal.url}")
    click.echo(f"grpc listening on {serving.api.port}")
    sys.stdout.flush()
    try:
        serving.api.wait()
    finally:
        serving.stop()
