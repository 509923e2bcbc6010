"""Scoring models waiting for an auditor (issue 12), as calls to the zone's ``StewardService``
with the signed-in steward's own token (:func:`portal._zone_calls.call_steward_service`): the
zone verifies every attestation, audits each call under the steward's name, and keeps the
cards; the portal keeps nothing of them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dataward.client import ModelAttestation
from dataward.v1 import common_pb2, compute_pb2, steward_pb2
from portal._portal import Portal
from portal._views import UserView
from portal._zone_calls import call_steward_service

__all__ = ["WaitingCard", "attest_model", "list_waiting_cards"]

_SCHEMES = {compute_pb2.MODEL_SCHEME_PAILLIER: "Paillier", compute_pb2.MODEL_SCHEME_CKKS: "CKKS"}
_STATUS = {
    compute_pb2.MODEL_STATUS_PENDING_ATTESTATION: "PENDING_ATTESTATION",
    compute_pb2.MODEL_STATUS_ATTESTED: "ATTESTED",
    compute_pb2.MODEL_STATUS_LAPSED: "LAPSED",
}


@dataclass(frozen=True)
class WaitingCard:
    """A registered model card as the steward reads it: never its key or weights."""

    organization: str
    model_id: str
    version: int
    scheme: str
    feature_set: str
    weight_count: int
    output_bits: int
    exponent: int
    purpose: str
    registered_at: dt.datetime
    card_digest: str  # hex: what the auditor's `sign-model` prints for the card file
    public_key_sha256: str
    status: str


def _card(message: compute_pb2.ModelInfo) -> WaitingCard:
    card = message.card
    return WaitingCard(
        organization=message.organization,
        model_id=card.model_id,
        version=card.version,
        scheme=_SCHEMES.get(card.scheme, "unknown"),
        feature_set=card.feature_set,
        weight_count=card.weight_count,
        output_bits=card.output_bits,
        exponent=card.exponent,
        purpose=common_pb2.Purpose.Name(card.purpose).removeprefix("PURPOSE_"),
        registered_at=dt.datetime.fromtimestamp(message.registered_at, dt.UTC),
        card_digest=message.card_digest.hex(),
        public_key_sha256=message.public_key_sha256.hex(),
        status=_STATUS.get(message.status, "unknown"),
    )


def list_waiting_cards(portal: Portal, user: UserView) -> tuple[WaitingCard, ...]:
    """``StewardService.ListPendingModels`` as ``user``: oldest first."""
    got: steward_pb2.ListPendingModelsResponse = call_steward_service(
        portal, user, lambda s: s.ListPendingModels, steward_pb2.ListPendingModelsRequest()
    )
    return tuple(_card(m) for m in got.models)


def attest_model(
    portal: Portal,
    user: UserView,
    *,
    organization: str,
    model_id: str,
    version: int,
    attestation: ModelAttestation,
) -> WaitingCard:
    """``StewardService.AttestModel`` as ``user``: the zone verifies the signature over the
    card it stores, with the auditor's key in the policy in force."""
    request = steward_pb2.AttestModelRequest(
        organization=organization,
        model_id=model_id,
        version=version,
        attestation=compute_pb2.ModelAttestation(
            auditor=attestation.auditor,
            expires_at=attestation.expires_at,
            signature=attestation.signature,
        ),
    )
    got: steward_pb2.AttestModelResponse = call_steward_service(
        portal, user, lambda s: s.AttestModel, request
    )
    return _card(got.model)
