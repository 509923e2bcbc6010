"""Operator writes while the zone is served: through the server, never beside it.

The zone's audit log has one writer (:class:`enclave.audit.AuditLog` holds an exclusive lock
on it). When ``dataward serve`` holds it, a CLI command that would write -- ``dataward consent
grant`` -- does not open the log itself (that broke every partner call until restart, issue 8
fault 1): it reads the server's address from the lock, has the server there prove it holds
the zone's key (a signature over a fresh challenge), only then mints a short-lived operator
token with the zone's own key (so it needs the master key, as the local path does) and makes
the same call over gRPC (``StewardService``), where the server logs it under the same names.
The answer is verified against its receipt with the zone's key before the command reports
success. ``dataward policy apply`` goes the same way (``StewardService.ApplyPolicy``), so the
running server puts the new policy in force without a restart.

When the lock is held by something that is not a server (another CLI command), the command
is refused with :class:`enclave.audit.AuditLogBusy` (exit 75: try again).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dataward import receipts
from dataward.client import Client, ConsentGrant, StaticTokenSource
from dataward.transparency import Receipt, TransparencyError
from dataward.v1 import steward_pb2, steward_pb2_grpc
from enclave import PolicyInvalid
from enclave.audit import AuditLogBusy
from enclave.keys import open_keyring
from enclave.persons import MAX_CONSENT_DAYS, InvalidField
from enclave.policy import APPLY_POLICY, apply_fields
from grpc_api import mint_operator_token, operator_issuer
from launcher.settings import Settings, SettingsError

__all__ = [
    "OperatorCallError",
    "RemoteApplied",
    "ServerDeniedError",
    "ServerRefusedError",
    "ServerRejectedInputError",
    "apply_policy_through_server",
    "server_client",
]


class OperatorCallError(Exception):
    """The running server cannot take the operator's call (e.g. it demands client certs)."""


class ServerRefusedError(OperatorCallError):
    """The running server refused the operator's call: its status, reason and message."""

    def __init__(self, code: str, reason: str, message: str) -> None:
        self.code, self.reason = code, reason
        super().__init__(f"the server refused the call ({code}, {reason}): {message}")


class ServerRejectedInputError(ServerRefusedError):
    """The server found the call's input wrong (INVALID_ARGUMENT, e.g. a document over 1 MB)."""


class ServerDeniedError(ServerRefusedError):
    """The server did not let the operator make the call (UNAUTHENTICATED, PERMISSION_DENIED)."""


@dataclass(frozen=True)
class _Target:
    address: str
    token: str
    credentials: grpc.ChannelCredentials | None
    key_name: str
    key: Ed25519PublicKey


def server_client(settings: Settings, busy: AuditLogBusy) -> Client:
    """A client of the server that holds the zone, authenticated as the zone's operator.

    Re-raises ``busy`` when the holder is not a server that published its address.
    """
    target = _target(settings, busy)
    return Client(
        target.address,
        StaticTokenSource(target.token),
        credentials=target.credentials,
        audit_key=(target.key_name, target.key),
    )


def _target(settings: Settings, busy: AuditLogBusy) -> _Target:
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
    return _Target(target, token, credentials, key_name, keyring.public_key)


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


@dataclass(frozen=True)
class RemoteApplied:
    """The server's answer to ``ApplyPolicy``, its receipt verified."""

    version: str
    changed: bool
    applied_at: dt.datetime
    leaf_index: int


def apply_policy_through_server(
    settings: Settings, busy: AuditLogBusy, document: str, *, source_name: str
) -> RemoteApplied:
    """``StewardService.ApplyPolicy`` on the server holding the zone; receipt verified.

    As for consents, the server first proves it holds the zone's key (the address comes from a
    file in the zone's state). A ``POLICY_INVALID`` refusal comes back as
    :class:`enclave.PolicyInvalid` (path and problem); any other refusal as
    :class:`ServerRefusedError`.
    """
    target = _target(settings, busy)
    with Client(
        target.address,
        StaticTokenSource(target.token),
        credentials=target.credentials,
        audit_key=(target.key_name, target.key),
    ) as client:
        client.attest()
    nonce = secrets.token_urlsafe(24)
    request = steward_pb2.ApplyPolicyRequest(
        document=document, source_name=source_name, client_nonce=nonce
    )
    channel = (
        grpc.secure_channel(target.address, target.credentials)
        if target.credentials is not None
        else grpc.insecure_channel(target.address)
    )
    with channel:
        try:
            response = steward_pb2_grpc.StewardServiceStub(channel).ApplyPolicy(
                request, metadata=(("authorization", f"Bearer {target.token}"),), timeout=30
            )
        except grpc.RpcError as exc:
            raise _refused(exc, source_name) from None
    wire = response.receipt
    receipt = Receipt(
        wire.leaf_index,
        bytes(wire.leaf_hash),
        wire.checkpoint_note,
        tuple(bytes(p) for p in wire.inclusion_proof),
        bytes(wire.leaf) or None,
    )
    try:
        receipts.verify_release(
            receipt,
            method=APPLY_POLICY,
            request_id=wire.request_id,
            fields=apply_fields(
                version=response.version, changed=response.changed, applied_at=response.applied_at
            ),
            key_name=target.key_name,
            public_key=target.key,
            client_nonce=nonce,
        )
    except TransparencyError as exc:
        raise ServerRefusedError(
            "RECEIPT", "RECEIPT_INVALID", f"the answer does not match its receipt: {exc}"
        ) from exc
    return RemoteApplied(
        response.version,
        response.changed,
        dt.datetime.fromtimestamp(response.applied_at, dt.UTC),
        receipt.leaf_index,
    )


def _refused(exc: grpc.RpcError, source_name: str) -> Exception:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    message = str(exc.details()) if isinstance(exc, grpc.Call) else "no answer"
    reason, metadata = "", dict[str, str]()
    status = rpc_status.from_call(exc) if isinstance(exc, grpc.Call) else None
    details: list[Any] = list(status.details) if status is not None else []
    for detail in details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            reason, metadata = info.reason, dict(info.metadata)
    if reason == "POLICY_INVALID":
        return PolicyInvalid(source_name, metadata.get("path", ""), metadata.get("problem", ""))
    name = code.name if code is not None else "UNKNOWN"
    kind = {
        "INVALID_ARGUMENT": ServerRejectedInputError,
        "UNAUTHENTICATED": ServerDeniedError,
        "PERMISSION_DENIED": ServerDeniedError,
    }.get(name, ServerRefusedError)
    return kind(name, reason or "-", message)
