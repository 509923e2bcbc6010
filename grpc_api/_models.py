"""Conversions of the model-card calls (issue 12): the RegisterModel stream into the zone's
upload parts, a model into ``ModelInfo``. Nothing here decides: the order of the parts and
their limits are :class:`enclave.compute.ModelCards`' (its request leaf comes before the
first part is read, so every refusal of the upload is logged by the zone)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from dataward.v1 import compute_pb2
from enclave.compute import (
    Attestation,
    CardHeader,
    KeyChunk,
    ModelCardInvalid,
    ModelStatus,
    ModelView,
    UploadPart,
    WeightCiphertext,
)
from grpc_api._convert import purpose_from_proto, purpose_to_proto
from grpc_api.errors import ApiError, InvalidRequest

__all__ = ["attestation_from_proto", "checked_model", "model_info_to_proto", "upload_parts"]

_SCHEMES: Mapping[int, str] = {
    compute_pb2.MODEL_SCHEME_PAILLIER: "PAILLIER",
    compute_pb2.MODEL_SCHEME_CKKS: "CKKS",
}
_SCHEME_NUMBERS = {name: number for number, name in _SCHEMES.items()}
_STATUS = {
    ModelStatus.PENDING_ATTESTATION: compute_pb2.MODEL_STATUS_PENDING_ATTESTATION,
    ModelStatus.ATTESTED: compute_pb2.MODEL_STATUS_ATTESTED,
    ModelStatus.LAPSED: compute_pb2.MODEL_STATUS_LAPSED,
}


def _header(card: compute_pb2.ModelCard) -> CardHeader:
    try:
        purpose = purpose_from_proto(card.purpose).value
    except ApiError:
        purpose = ""  # the zone refuses it naming `purpose` (ModelCard.problems)
    return CardHeader(
        model_id=card.model_id,
        version=card.version,
        feature_set=card.feature_set,
        weight_count=card.weight_count,
        output_bits=card.output_bits,
        purpose=purpose,
        scheme=_SCHEMES.get(card.scheme, ""),
        exponent=card.exponent,
    )


def attestation_from_proto(attestation: compute_pb2.ModelAttestation) -> Attestation:
    return Attestation(
        auditor=attestation.auditor,
        expires_at=attestation.expires_at,
        signature=bytes(attestation.signature),
    )


def upload_parts(requests: Iterator[compute_pb2.RegisterModelRequest]) -> Iterator[UploadPart]:
    """Each message of the stream as the zone's part, read lazily (one at a time)."""
    for request in requests:
        which = request.WhichOneof("part")
        if which == "card":
            yield _header(request.card)
        elif which == "public_key_chunk":
            yield KeyChunk(bytes(request.public_key_chunk))
        elif which == "weight_ciphertext":
            yield WeightCiphertext(bytes(request.weight_ciphertext))
        elif which == "attestation":
            yield attestation_from_proto(request.attestation)
        else:
            raise ModelCardInvalid("part", "every message carries one part")


def checked_model(model_id: str, version: int) -> tuple[str, int]:
    """A GetModel/AttestModel model id and version of the right shape (else FIELD_INVALID,
    refused by the front end before the zone: the text is never logged)."""
    if not model_id or len(model_id) > 64:
        raise InvalidRequest("model_id", "required, 1..64 characters")
    if version < 1:
        raise InvalidRequest("version", "required, from 1")
    return model_id, version


def model_info_to_proto(view: ModelView) -> compute_pb2.ModelInfo:
    model = view.model
    card = model.card
    info = compute_pb2.ModelInfo(
        organization=model.organization,
        card=compute_pb2.ModelCard(
            model_id=card.model_id,
            version=card.version,
            feature_set=card.feature_set,
            weight_count=card.weight_count,
            output_bits=card.output_bits,
            purpose=purpose_to_proto(card.purpose),
            scheme=compute_pb2.ModelScheme.ValueType(
                _SCHEME_NUMBERS.get(card.scheme, compute_pb2.MODEL_SCHEME_UNSPECIFIED)
            ),
            exponent=card.exponent,
        ),
        status=_STATUS[view.status],
        card_digest=model.digest,
        registered_at=int(model.registered_at.timestamp()),
        public_key_sha256=view.public_key_sha256,
    )
    if model.attestation is not None and view.status is not ModelStatus.PENDING_ATTESTATION:
        a = model.attestation
        info.attestation.CopyFrom(
            compute_pb2.ModelAttestation(
                auditor=a.auditor, expires_at=a.expires_at, signature=a.signature
            )
        )
    return info
