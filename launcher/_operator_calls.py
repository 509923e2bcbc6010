"""Operator writes while the zone is served: through the server, never beside it.

The zone's audit log has one writer (:class:`enclave.audit.AuditLog` holds an exclusive lock
on it). When ``dataward serve`` holds it, a CLI command that would write -- ``dataward consent
grant`` -- does not open the log itself (that broke every partner call until restart, issue 8
fault 1): it reads the server's address from the lock, has the server there prove it holds
the zone's key (a signature over a fresh challenge), only then mints a short-lived operator
token with the zone's own key (so it needs the master key, as the local path does) and makes
the same call over gRPC (``StewardService``), where the server logs it under the same names.
The answer is verified against its receipt with the zone's key before the command reports
success.

When the lock is held by something that is not a server (another CLI command), the command
is refused with :class:`enclave.audit.AuditLogBusy` (exit 75: try again).
"""

from __future__ import annotations

from typing import Any

import grpc

from dataward.client import Client, ConsentGrant, StaticTokenSource
from enclave.audit import AuditLogBusy
from enclave.keys import open_keyring
from enclave.persons import MAX_CONSENT_DAYS, InvalidField
from grpc_api import mint_operator_token, operator_issuer
from launcher.settings import Settings, SettingsError

__all__ = ["OperatorCallError", "server_client"]


class OperatorCallError(Exception):
    """The running server cannot take the operator's call (e.g. it demands client certs)."""


def server_client(settings: Settings, busy: AuditLogBusy) -> Client:
    """A client of the server that holds the zone, authenticated as the zone's operator.

    Re-raises ``busy`` when the holder is not a server that published its address.
    """
    holder: dict[str, Any] = busy.holder
    target = holder.get("grpc")
    if holder.get("role") != "server" or not isinstance(target, str) or not target:
        raise busy
    if settings.grpc.tls_client_ca_file is not None:
        raise OperatorCallError(
            f"{busy}; it requires client certificates, which this command does not hold: "
            "make the change in the portal's steward pages, or stop the server and run it again"
        )
    if settings.zone.master_key is None:
        raise SettingsError("the master key is missing: set DATAWARD_MASTER_KEY")
    keyring = open_keyring(settings.zone.dir, settings.zone.master_key.value)
    key_name = f"dataward-zone-{keyring.zone_id}"
    token = mint_operator_token(
        keyring.signing_key, issuer=operator_issuer(key_name), audience=settings.portal.audience
    )
    credentials = None
    if holder.get("tls"):
        if settings.grpc.tls_cert_file is None:
            raise OperatorCallError(
                f"{busy}; it serves TLS: set grpc.tls_cert_file to its certificate so this "
                "command can verify it"
            )
        credentials = grpc.ssl_channel_credentials(settings.grpc.tls_cert_file.read_bytes())
    return Client(
        target,
        StaticTokenSource(token),
        credentials=credentials,
        audit_key=(key_name, keyring.public_key),
    )


def grant_through_server(
    settings: Settings,
    busy: AuditLogBusy,
    *,
    id_number: str,
    partner: str,
    purpose: str,
    valid_days: int,
    single_use: bool,
) -> ConsentGrant:
    """``StewardService.GrantConsent`` on the server holding the zone; verified receipt.

    The server must first prove it holds the zone's key (:meth:`Client.attest`): the address
    comes from a file in the zone's state, which someone without the master key may have
    rewritten to catch the operator's token and the person's ID number (issue 8 review).
    """
    if not 1 <= valid_days <= MAX_CONSENT_DAYS:  # the wire's 0 would mean "the default"
        raise InvalidField("valid_days", f"1..{MAX_CONSENT_DAYS}")
    with server_client(settings, busy) as client:
        client.attest()
        grant = client.grant_consent(
            id_number, partner, purpose, valid_days=valid_days, single_use=single_use
        )
        client.verify_answer(grant)
        return grant
