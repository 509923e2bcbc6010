"""``dataward serve --zone DIR [--grpc-bind HOST:PORT] [--portal-bind HOST:PORT]
[--engine duckdb|spark]``.

Starts the gRPC API in this process and the portal as a separate process (it never holds the
zone's keys); prints both addresses as they really listen (port 0 resolved); runs until
interrupted (SIGINT or SIGTERM: both stop cleanly, the portal process included). If the
portal process dies, the gRPC API stops too and the command exits 69.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from launcher._binds import parse_bind
from launcher._oplog import configure, settings_summary
from launcher._options import zone_option
from launcher._portal_process import PortalProcessError
from launcher._setting_fields import setting_doc
from launcher._wiring import start_serving
from launcher.settings import (
    QUERY_ENGINES,
    GrpcSettings,
    PortalSettings,
    QuerySettings,
    load_settings,
)

__all__ = ["serve"]

_log = logging.getLogger("dataward.zone")

# --help from the settings' own text (launcher._setting_fields)
_GRPC_BIND = setting_doc("grpc", GrpcSettings, "bind")
_PORTAL_BIND = setting_doc("portal", PortalSettings, "bind")
_ENGINE = setting_doc("query", QuerySettings, "engine")


@click.command(name="serve")
@zone_option
@click.option("--grpc-bind", default=None, metavar="HOST:PORT", help=_GRPC_BIND.cli_help)
@click.option("--portal-bind", default=None, metavar="HOST:PORT", help=_PORTAL_BIND.cli_help)
@click.option("--engine", type=click.Choice(QUERY_ENGINES), default=None, help=_ENGINE.cli_help)
def serve(
    zone_dir: Path | None, grpc_bind: str | None, portal_bind: str | None, engine: str | None
) -> None:
    """Serve the zone: the gRPC API, and the portal in its own process."""
    for given, option in ((grpc_bind, "--grpc-bind"), (portal_bind, "--portal-bind")):
        if given:  # named as the option, before the settings would name it as their setting
            parse_bind(given, option)
    settings = load_settings(
        overrides={
            "zone": {"dir": zone_dir},
            "query": {"engine": engine},
            # in the settings too, so the configuration logged is the one in force
            "grpc": {"bind": grpc_bind},
            "portal": {"bind": portal_bind},
        }
    )
    configure(settings.log.level)
    _log.info("config", extra={"settings": settings_summary(settings)})
    serving = start_serving(settings, grpc_bind=grpc_bind, portal_bind=portal_bind)
    previous = signal.signal(signal.SIGTERM, _stop)
    why = "stopped"
    try:
        click.echo(f"portal listening on {serving.portal_url}")
        click.echo(f"grpc listening on {serving.grpc_address}")
        if serving.metrics is not None:
            click.echo(f"metrics listening on {serving.metrics.url}")
        sys.stdout.flush()
        _log.info(
            "serve_started",
            extra={
                "grpc_port": serving.api.port,
                "portal": serving.portal_url,
                "metrics": serving.metrics.url if serving.metrics is not None else None,
            },
        )
        serving.api.wait()
    except _StopSignal:
        why = "SIGTERM"
    except KeyboardInterrupt:
        why = "SIGINT"
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        serving.stop()
        if serving.portal_failed:
            why = "the portal process exited"
        _log.info("serve_stopped", extra={"why": why})
    if serving.portal_failed:
        raise PortalProcessError("the portal process exited; the gRPC API was stopped")


class _StopSignal(BaseException):
    """Raised by the SIGTERM handler so the ``finally`` above stops the portal process too."""


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise _StopSignal
