"""``dataward consent grant``: record a person's consent (standing in for the citizen channel).

The identity number is tokenized inside the zone and never stored; the command prints the
consent reference and the audit receipt's leaf index. While ``dataward serve`` runs on the
zone, the grant goes through that server (the zone's audit log has one writer; see
:mod:`launcher._operator_calls`) and prints the same.
"""

from __future__ import annotations

from pathlib import Path

import click

from dataward.access import Purpose
from enclave.audit import AuditLogBusy
from enclave.release import Caller
from launcher._operator_calls import grant_through_server
from launcher._options import id_number_option, zone_option
from launcher._wiring import open_core
from launcher.settings import load_settings

__all__ = ["consent"]


@click.group(name="consent")
def consent() -> None:
    """Consents of persons for partners."""


@consent.command("grant")
@zone_option
@id_number_option
@click.option("--partner", required=True, help="The partner organization (token `org`).")
@click.option("--purpose", required=True, type=click.Choice([p.value for p in Purpose]))
@click.option("--days", default=365, show_default=True, type=int, help="Validity in days.")
@click.option("--single-use", is_flag=True, help="Consumed by the first answer.")
def grant(  # noqa: PLR0917 (one parameter per click option)
    zone_dir: Path | None, id_number: str, partner: str, purpose: str, days: int, single_use: bool
) -> None:
    """Grant a consent; prints its reference (through the server while one serves the zone)."""
    settings = load_settings(overrides={"zone": {"dir": zone_dir}})
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
