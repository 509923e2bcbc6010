"""The ``dataward`` command.

Each area's commands live in their own module (``_cmd_*.py``); this module assembles them and
owns the one table that turns exceptions into exit codes and messages. Messages printed here
are the exceptions' public messages: they never carry data values.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from launcher._cmd_audit import audit
from launcher._cmd_check import check
from launcher._cmd_compute import compute
from launcher._cmd_consent import consent
from launcher._cmd_datagen import datagen
from launcher._cmd_demo import demo
from launcher._cmd_faces import faces
from launcher._cmd_policy import policy
from launcher._cmd_portal import portal
from launcher._cmd_portal_accounts import org, user
from launcher._cmd_query import query
from launcher._cmd_serve import serve
from launcher._cmd_zone import zone
from launcher._exit_codes import exit_code_for

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dataward")
def cli() -> None:
    """Dataward: compute-to-data for a medical-insurance data zone."""


cli.add_command(datagen)
cli.add_command(zone)
cli.add_command(audit)
cli.add_command(demo)
portal.add_command(org)  # `dataward portal org ...` (launcher._cmd_portal_accounts)
portal.add_command(user)
cli.add_command(portal)
cli.add_command(serve)
cli.add_command(consent)
cli.add_command(policy)
cli.add_command(query)
cli.add_command(check)
cli.add_command(compute)
cli.add_command(faces)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line; exit with the code of the table in ``_exit_codes``."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        code, message = exit_code_for(exc)
        click.echo(f"error: {message}", err=True)
        sys.exit(code)
