"""``dataward consent grant``: record a person's consent (standing in for the citizen channel).

The identity number is tokenized inside the zone and never stored; the command prints the
consent reference and the audit receipt's leaf index. ``--partner`` is the organization's slug
(the access token's ``org`` claim), and must name an ACTIVE partner organization of the zone's
portal (exit 65 otherwise: a consent for any other string could never match a call). While
``dataward serve`` runs on the zone, the grant goes through that server (the zone's audit log
has one writer; see :mod:`launcher._operator_calls`) and prints the same.
"""

from __future__ import annotations

from pathlib import Path

import click

from dataward.access import Purpose
from enclave.audit import AuditLogBusy
from enclave.release import Caller
from launcher._operator_calls import grant_through_server
from launcher._options import id_number_option, zone_option
from launcher._organizations import require_partner
from launcher._wiring import open_core
from launcher.settings import load_settings

__all__ = ["consent"]


@click.group(name="consent")
def consent() -> None:
    """Consents of persons for partners."""


@consent.command("grant")
@zone_option
@id_number_option
@click.option(
    "--partner",
    required=True,
    metavar="SLUG",
    help="The partner organization's slug (`dataward portal org list`; the token's `org`).",
)
@click.option("--purpose", required=True, type=click.Choice([p.value for p in Purpose]))
@click.option("--days", default=365, show_default=True, type=int, help="Validity in days.")
@click.option("--single-use", is_flag=True, help="Consumed by the first answer.")
def grant(  # noqa: PLR0917 (one parameter per click option)
    zone_dir: Path | None, id_number: str, partner: str, purpose: str, days: int, single_use: bool
) -> None:
    """Grant a consent; prints its reference (through the server while one serves the zone)."""
    settings = load_settings(overrides={"zone": {"dir": zone_dir}})
    require_partner(settings, partner)
    try:
        core = open_core(settings)
    except AuditLogBusy as busy:
        grant = grant_through_server(
            settings,
            busy,
            id_number=id_number,
            partner=partner,
            purpose=purpose,
            valid_days=days,
            single_use=single_use,
        )
        click.echo(f"consent {grant.consent_ref} until {grant.valid_until:%Y-%m-%d}")
        click.echo(f"audit leaf {grant.receipt.leaf_index}")
        return
    try:
        answer = core.checks.grant_consent(
            Caller("cli", "operator"),
            id_number=id_number,
            partner=partner,
            purpose=purpose,
            valid_days=days,
            single_use=single_use,
        )
    finally:
        core.close()
    click.echo(f"consent {answer.value.consent_ref} until {answer.value.valid_until:%Y-%m-%d}")
    click.echo(f"audit leaf {answer.receipt.leaf_index}")
