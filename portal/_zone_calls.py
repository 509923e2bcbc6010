"""The steward pages' calls to the zone: over gRPC, with the signed-in steward's own token.

The portal holds no zone data and never imports the zone: it reads what a steward page shows
from the zone's admin API (``StewardService``), through the generated stubs. Each call carries
a short-lived access token (RFC 9068, scope ``steward:admin``) the portal mints for THAT
steward (``sub`` = ``user:<id>``, the steward organization) through its internal client
:data:`~portal._internal_clients.STEWARD_PAGES`: the token is stored and logged
(``token_issued``) like every other, revocable, and the zone authorizes and audits the call
under it -- never under a portal-wide credential.

Where the zone listens: ``dataward serve`` writes ``STATE_DIR/zone-grpc.json`` once its gRPC
API is bound (:func:`write_zone_target`); a portal without it (serving alone) says the zone is
not reachable. Every call goes through :func:`call_steward_service`, the one place where a
gRPC failure becomes a portal error (:func:`zone_error`): the zone's refusals keep their meaning
(FAILED_PRECONDITION 409, NOT_FOUND 404, INVALID_ARGUMENT 400 with the field,
UNAUTHENTICATED/PERMISSION_DENIED 403) with the zone's public message and reason code; anything
else -- no target, no answer in time, UNAVAILABLE, INTERNAL -- is
:class:`~portal.errors.ZoneUnavailableError` (503). Never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from sqlalchemy import select

from dataward.access import Scope
from dataward.v1 import audit_pb2_grpc, query_pb2, steward_pb2, steward_pb2_grpc
from portal._events import TokenIssued
from portal._models import Client, Token
from portal._portal import Portal
from portal._tokens import ClientAdapter, JwtTokenGenerator, read_claims
from portal._views import UserView
from portal.errors import (
    PortalError,
    ZoneConflictError,
    ZoneInvalidArgumentError,
    ZoneNotFoundError,
    ZonePermissionError,
    ZoneUnavailableError,
)

__all__ = [
    "AUDIT_PAGES_SCOPE",
    "ZONE_TARGET_FILE",
    "AppliedRow",
    "GrantRow",
    "PolicyPage",
    "ViewRow",
    "call_audit_service",
    "call_steward_service",
    "read_policy",
    "write_zone_target",
    "zone_error",
]

ZONE_TARGET_FILE = "zone-grpc.json"
_TOKEN_SECONDS = 60
_CALL_SECONDS = 10.0
_RULES = {
    steward_pb2.POLICY_RULE_KIND_AGGREGATION: "aggregation",
    steward_pb2.POLICY_RULE_KIND_TEMPLATES: "templates",
}
_MODES = {query_pb2.RELEASE_MODE_EXACT: "exact", query_pb2.RELEASE_MODE_DP: "dp"}
_DOMAIN = "dataward.v1"
_Answer = TypeVar("_Answer")


@dataclass(frozen=True)
class AppliedRow:
    sequence: int
    version: str
    applied_at: dt.datetime
    client_id: str
    organization: str


@dataclass(frozen=True)
class ViewRow:
    name: str
    rule: str
    release_mode: str
    templates: tuple[str, ...]


@dataclass(frozen=True)
class GrantRow:
    organization: str
    purpose: str
    views: tuple[str, ...]


@dataclass(frozen=True)
class PolicyPage:
    """What the zone answered: ``in_force`` is None when no policy was ever applied."""

    version: str
    in_force: AppliedRow | None
    views: tuple[ViewRow, ...]
    grants: tuple[GrantRow, ...]
    history: tuple[AppliedRow, ...]


def write_zone_target(
    state_dir: Path, target: str, tls_cert_file: Path | None, zone_key: str | None = None
) -> None:
    """Tell the portal where the zone's gRPC API listens (``dataward serve`` calls this).

    ``zone_key`` is the zone's checkpoint key as a signed-note verifier key line
    (``dataward.transparency.verifier_key``): the partners' credentials page and the OAuth
    metadata publish it, with its name, so that a partner pins it (issue 14).
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    body = {
        "target": target,
        "tls_cert_file": str(tls_cert_file) if tls_cert_file else None,
        "zone_key": zone_key,
    }
    path = state_dir / ZONE_TARGET_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body), encoding="utf-8")
    tmp.replace(path)


def _zone_channel(state_dir: Path) -> grpc.Channel:
    try:
        body = json.loads((state_dir / ZONE_TARGET_FILE).read_text(encoding="utf-8"))
        target, cert = str(body["target"]), body.get("tls_cert_file")
        if cert is None:
            return grpc.insecure_channel(target)
        credentials = grpc.ssl_channel_credentials(Path(str(cert)).read_bytes())
        return grpc.secure_channel(target, credentials)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ZoneUnavailableError(
            "the zone's API is not reachable from the portal (it is published while "
            "`dataward serve` runs)"
        ) from exc


def _steward_token(portal: Portal, user: UserView, scope: str = Scope.STEWARD_ADMIN.value) -> str:
    """A short-lived ``steward:admin`` access token for ``user`` (``scope``: the audit pages
    add ``audit:read``, which a steward holds), stored and logged."""
    client_id = portal.admin.steward_pages_client()
    now = portal.clock()
    with portal.store.transaction() as s:
        row = s.scalar(select(Client).where(Client.client_id == client_id))
        if row is None:  # pragma: no cover (created above, never deleted)
            raise ZoneUnavailableError("the portal's steward-pages client is missing")
        s.expunge(row)
    generator = JwtTokenGenerator(
        portal.keys, portal.issuer, portal.config.audience, _TOKEN_SECONDS, portal.clock
    )
    token = generator(
        grant_type="steward_page",
        client=ClientAdapter(row, None, lambda *_: False),
        user=user,
        scope=scope,
        expires_in=_TOKEN_SECONDS,
        include_refresh_token=False,
    )
    access = str(token["access_token"])
    claims = read_claims(access)
    with portal.store.transaction() as s:
        s.add(
            Token(
                jti=claims["jti"],
                client_id=client_id,
                user_id=user.id,
                scope=claims["scope"],
                issued_at=now,
                expires_at=float(claims["exp"]),
                revoked=False,
                refresh_hash=None,
                refresh_expires_at=None,
                refresh_used=False,
                refresh_revoked=False,
                family_id=secrets.token_urlsafe(16),
            )
        )
        portal.log.append(
            s,
            TokenIssued(
                jti=claims["jti"],
                client_id=client_id,
                user_id=user.id,
                grant_type="steward_page",
                scope=claims["scope"],
                exp=int(claims["exp"]),
                with_refresh_token=False,
            ),
        )
    return access


def _applied(row: steward_pb2.AppliedPolicyVersion) -> AppliedRow:
    return AppliedRow(
        row.sequence,
        row.version,
        dt.datetime.fromtimestamp(row.applied_at, dt.UTC),
        row.applied_by_client,
        row.applied_by_organization,
    )


def _error_info(exc: grpc.Call) -> tuple[str, dict[str, str]]:
    """The zone's ErrorInfo (reason, metadata) from the ``grpc-status-details-bin`` trailer."""
    for key, value in exc.trailing_metadata() or ():
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except DecodeError:
            return "", {}
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.domain == _DOMAIN:
                return info.reason, dict(info.metadata)
    return "", {}


def zone_error(exc: grpc.RpcError) -> PortalError:
    """The portal error for a failed call to the zone (the one mapping table of this seam)."""
    if not isinstance(exc, grpc.Call):
        return ZoneUnavailableError("the zone did not answer the portal's call")
    code = exc.code()
    message = str(exc.details() or "")
    reason, metadata = _error_info(exc)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return ZoneConflictError(message or "the zone refused: not possible now", reason)
    if code == grpc.StatusCode.NOT_FOUND:
        return ZoneNotFoundError(message or "the zone has no such item", reason)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        field = metadata.get("field", "")
        named = not field or field in message  # the zone's message names it already
        words = f"the zone refused: {message}" if named else f"the zone refused {field}: {message}"
        return ZoneInvalidArgumentError(words, reason, field)
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return ZonePermissionError(f"the zone refused your steward token: {message}", reason)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return ZoneUnavailableError(f"the zone is not reachable now ({code.name}); retry later")
    return ZoneUnavailableError(f"the zone could not answer ({code.name}): {message}")


def call_steward_service(
    portal: Portal,
    user: UserView,
    method: Callable[[steward_pb2_grpc.StewardServiceStub], Callable[..., _Answer]],
    request: object,
) -> _Answer:
    """One ``StewardService`` call as ``user`` (a fresh token of theirs), e.g.
    ``call_steward_service(portal, user, lambda s: s.GetPolicy, GetPolicyRequest())``.
    Raises the portal error :func:`zone_error` gives for any failure."""
    token = _steward_token(portal, user)
    with _zone_channel(portal.config.state_dir) as channel:
        try:
            return method(steward_pb2_grpc.StewardServiceStub(channel))(
                request,
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=_CALL_SECONDS,
            )
        except grpc.RpcError as exc:
            raise zone_error(exc) from None


#: The audit pages' token: the zone's log view is a steward's audit:read (issue 14).
AUDIT_PAGES_SCOPE = f"{Scope.STEWARD_ADMIN.value} {Scope.AUDIT_READ.value}"


def call_audit_service(
    portal: Portal,
    user: UserView,
    method: Callable[[audit_pb2_grpc.AuditServiceStub], Callable[..., _Answer]],
    request: object,
) -> _Answer:
    """One ``AuditService`` call as ``user`` with a fresh token of scope
    :data:`AUDIT_PAGES_SCOPE`; failures as :func:`call_steward_service`'s."""
    token = _steward_token(portal, user, AUDIT_PAGES_SCOPE)
    with _zone_channel(portal.config.state_dir) as channel:
        try:
            return method(audit_pb2_grpc.AuditServiceStub(channel))(
                request,
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=_CALL_SECONDS,
            )
        except grpc.RpcError as exc:
            raise zone_error(exc) from None


def read_policy(portal: Portal, user: UserView) -> PolicyPage:
    """``StewardService.GetPolicy`` as ``user``: the policy in force and its history."""
    got: steward_pb2.GetPolicyResponse = call_steward_service(
        portal, user, lambda stub: stub.GetPolicy, steward_pb2.GetPolicyRequest()
    )
    return PolicyPage(
        version=got.version,
        in_force=_applied(got.in_force) if got.HasField("in_force") else None,
        views=tuple(
            ViewRow(
                v.name,
                _RULES.get(v.rule, "unknown"),
                _MODES.get(v.release_mode, "unknown"),
                tuple(v.templates),
            )
            for v in got.views
        ),
        grants=tuple(GrantRow(g.organization, g.purpose, tuple(g.views)) for g in got.grants),
        history=tuple(_applied(h) for h in got.history),
    )
