"""The ``dataward portal`` command: serve the portal, or manage it.

``dataward portal --zone DIR [--bind HOST:PORT]`` serves (port 0 picks a free port; the bound
URL is printed; SIGTERM or SIGINT stops it cleanly: a last checkpoint is signed, exit 0).
Subcommands: ``create-steward --username U`` (password from stdin),
``create-zone-client`` (prints the zone's client id and secret once), ``rotate-key``,
``seal-keys`` (seals, once, the key files an earlier release kept in clear), and the
``org`` and ``user`` groups (:mod:`launcher._cmd_portal_accounts`).

Every one of them unseals the portal's private keys with the portal key (see
:func:`launcher._portal_process.portal_key`). Serving takes only an explicit one
(``DATAWARD_PORTAL_KEY`` / ``DATAWARD_PORTAL_KEY_FILE``) and refuses to run with the master key
in its environment: the internet-facing process never holds it. The subcommands are operator
tools and may instead derive the portal key from the master key, as ``dataward serve`` does.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from launcher._binds import check_bindable, parse_bind
from launcher._oplog import configure
from launcher._options import zone_option
from launcher._portal_process import exit_with_parent, portal_key
from launcher._setting_fields import setting_doc
from launcher._zone_dirs import require_zone
from launcher.settings import (
    MASTER_KEY_FILE_VARIABLE,
    MASTER_KEY_VARIABLE,
    PORTAL_KEY_FILE_VARIABLE,
    PORTAL_KEY_VARIABLE,
    PortalSettings,
    Settings,
    SettingsError,
    load_settings,
)
from portal import (
    Portal,
    PortalConfig,
    PortalKey,
    rotate_signing_key,
    seal_unsealed_keys,
    serve,
)

__all__ = ["portal", "portal_config"]

_BIND = setting_doc("portal", PortalSettings, "bind")  # --help from the setting's own text
_oplog = logging.getLogger("dataward.portal")


def portal_config(settings: Settings) -> PortalConfig:
    """The portal's frozen config: its settings section plus ``ZONE/portal`` as state dir, and
    the portal key of :func:`~launcher._portal_process.portal_key` (``None`` when there is
    none: the commands below refuse that before opening anything)."""
    secret = portal_key(settings)
    return PortalConfig.from_options(
        settings.portal,
        state_dir=settings.zone.dir / "portal",
        key=None if secret is None else PortalKey(secret.value),
    )


def _config(
    ctx: click.Context, zone_dir: Path | None, bind: str | None = None, *, serving: bool = False
) -> PortalConfig:
    return portal_config(_settings(ctx, zone_dir, bind, serving=serving))


def _settings(
    ctx: click.Context, zone_dir: Path | None, bind: str | None = None, *, serving: bool = False
) -> Settings:
    """The settings, read once: the portal key may come through a pipe (``serve``)."""
    parent = ctx.find_root().params if ctx.parent is None else (ctx.parent.params or {})
    zone_dir = zone_dir or parent.get("zone_dir")
    bind = bind or parent.get("bind")
    settings = load_settings(overrides={"zone": {"dir": zone_dir}, "portal": {"bind": bind}})
    require_zone(settings.zone.dir)  # never a portal database in a mistyped directory (66)
    if serving and settings.zone.master_key is not None:
        raise SettingsError(
            "the serving portal must not hold the master key: unset "
            f"{MASTER_KEY_VARIABLE} and {MASTER_KEY_FILE_VARIABLE} (it needs only "
            f"{PORTAL_KEY_VARIABLE} or {PORTAL_KEY_FILE_VARIABLE})"
        )
    if settings.portal.key is None and (serving or settings.zone.master_key is None):
        raise SettingsError(
            f"the portal key is missing: set {PORTAL_KEY_VARIABLE} or {PORTAL_KEY_FILE_VARIABLE}"
            + ("" if serving else f" (or {MASTER_KEY_VARIABLE}, to derive it as `serve` does)")
        )
    return settings


@click.group(name="portal", invoke_without_command=True)
@zone_option
@click.option("--bind", default=None, metavar="HOST:PORT", help=_BIND.cli_help)
@click.option(
    "--parent-lifeline-fd",
    type=int,
    default=None,
    hidden=True,  # set by `dataward serve` (launcher._portal_process): stop when it is gone
)
@click.pass_context
def portal(
    ctx: click.Context, zone_dir: Path | None, bind: str | None, parent_lifeline_fd: int | None
) -> None:
    """Serve the portal (no subcommand), or run one of the management subcommands.

    \b
    dataward portal --zone DIR [--bind 127.0.0.1:8080]      serve
    dataward portal --zone DIR create-steward --username U  password read from stdin
    dataward portal --zone DIR create-zone-client           the zone's revocation-feed client
    dataward portal --zone DIR rotate-key                   new JWT signing key
    dataward portal --zone DIR seal-keys                    seal an earlier release's keys
    dataward portal --zone DIR org create|list|suspend|resume  partner organizations
    dataward portal --zone DIR user create|list|disable        partner users and stewards
    """
    if ctx.invoked_subcommand is not None:
        return
    if bind:  # named as the option, before the settings would name it as portal.bind
        parse_bind(bind, "--bind")
    settings = _settings(ctx, zone_dir, bind, serving=True)
    configure(settings.log.level)
    source = "--bind" if bind else "setting portal.bind"
    check_bindable(parse_bind(settings.portal.bind, source), source)  # in use: 69, named
    server = serve(portal_config(settings), slow_ms=settings.log.slow_ms)
    click.echo(f"portal listening on {server.url}", err=False)
    sys.stdout.flush()
    _oplog.info("portal_started", extra={"url": server.url})
    previous = signal.signal(signal.SIGTERM, _stop)
    if parent_lifeline_fd is not None:  # after the handler: a gone parent means a clean stop
        exit_with_parent(parent_lifeline_fd)
    try:
        server.serve_forever()
    except (_StopSignal, KeyboardInterrupt):
        pass  # the server's own finally ended serve_forever; shutdown below cannot block
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        server.shutdown()
        _oplog.info("portal_stopped")
    click.echo("portal stopped")


class _StopSignal(BaseException):
    """Raised by the SIGTERM handler to leave ``serve_forever`` through its finally."""


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise _StopSignal


@portal.command("create-steward")
@zone_option
@click.option("--username", required=True, help="The steward's username.")
@click.pass_context
def create_steward(ctx: click.Context, zone_dir: Path | None, username: str) -> None:
    """Create a steward account; the password is read from stdin (one line)."""
    password = sys.stdin.readline().rstrip("\r\n")
    opened = Portal.open(_config(ctx, zone_dir))
    try:
        user = opened.admin.create_steward(username, password)
    finally:
        opened.close()
    click.echo(f"steward created (user id {user.id})")


@portal.command("create-zone-client")
@zone_option
@click.pass_context
def create_zone_client(ctx: click.Context, zone_dir: Path | None) -> None:
    """Create the zone's internal client (zone:revocations); prints its secret once."""
    opened = Portal.open(_config(ctx, zone_dir))
    try:
        credentials = opened.admin.create_zone_client()
    finally:
        opened.close()
    click.echo(f"client_id={credentials.client_id}")
    click.echo(f"client_secret={credentials.client_secret}")


@portal.command("rotate-key")
@zone_option
@click.pass_context
def rotate_key(ctx: click.Context, zone_dir: Path | None) -> None:
    """Add a new JWT signing key; the old one stays published until its tokens expire."""
    opened = Portal.open(_config(ctx, zone_dir))
    try:
        kid = rotate_signing_key(opened)
    finally:
        opened.close()
    click.echo(f"new signing key {kid}")


@portal.command("seal-keys")
@zone_option
@click.pass_context
def seal_keys(ctx: click.Context, zone_dir: Path | None) -> None:
    """Seal, once, the key files an earlier release kept in clear; then rotate the JWT key.

    The JWT and portal-log keys are sealed as they are (tokens and checkpoints stay valid);
    the session key is replaced (everyone signs in again). The old JWT key was readable, so
    a new one takes over at once; the old one stays published until its tokens expire.
    """
    config = _config(ctx, zone_dir)
    sealed = seal_unsealed_keys(config)
    if not sealed:
        click.echo("no key files in clear: nothing to seal")
        return
    opened = Portal.open(config)
    try:
        kid = rotate_signing_key(opened)
    finally:
        opened.close()
    click.echo(f"sealed {len(sealed)} key files: {', '.join(sealed)} (the session key replaced)")
    click.echo(f"new signing key {kid}")
