"""Encrypted scoring for the SDK (ComputeService's model calls and scores, StewardService's
model review): the answers as frozen values, and the messages to and from them.

A score's ciphertext is kept exactly as it arrived: its release leaf hashes those bytes
(:func:`dataward.receipts.paillier_score_fields`, :func:`~dataward.receipts.ckks_batch_fields`),
so :meth:`Client.verify_answer` ties the ciphertext the partner decrypts to the zone's log.
Decrypting is :mod:`dataward.client.compute`'s (it needs the partner's keys, phe and TenSEAL;
nothing here does).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from dataward import receipts
from dataward.client._convert import purpose_to_proto, receipt_from_proto
from dataward.compute import ModelCard
from dataward.transparency import Receipt
from dataward.v1 import common_pb2, compute_pb2, steward_pb2

__all__ = [
    "PUBLIC_KEY_CHUNK_BYTES",
    "CkksBatchAnswer",
    "FaceMatchAnswer",
    "ModelAttestation",
    "ModelInfo",
    "PaillierScoreAnswer",
    "PendingModels",
    "attestation_to_proto",
    "ckks_batch_answer",
    "face_match_answer",
    "face_match_requests",
    "model_info",
    "paillier_score_answer",
    "pending_models",
    "register_requests",
    "release_of_scoring",
]

PUBLIC_KEY_CHUNK_BYTES = 1 << 20
"""The public key goes up in chunks of at most 1 MiB (compute.proto)."""


@dataclass(frozen=True)
class ModelAttestation:
    """An auditor's Ed25519 signature over :func:`dataward.compute.attestation_message` of a
    card's digest, the auditor's name and the expiry (Unix seconds): made by
    :func:`dataward.client.compute.sign_card` (``dataward compute sign-model``)."""

    auditor: str
    expires_at: int
    signature: bytes


@dataclass(frozen=True)
class ModelInfo:
    """A registered model as the zone reports it (never its key or weights).

    ``status`` is ``PENDING_ATTESTATION``, ``ATTESTED`` or ``LAPSED``; ``card_digest`` the
    digest the auditor signs (compare it with your card's ``digest()``); ``attestation`` the
    one that verified (``None`` while pending). ``method`` is the zone method that answered
    (a :mod:`dataward.receipts` name): a model listed in :class:`PendingModels` has no
    receipt of its own (``receipt`` is ``None``; the list's receipt covers it)."""

    organization: str
    model_id: str
    version: int
    feature_set: str
    weight_count: int
    output_bits: int
    purpose: str
    scheme: str  # PAILLIER | CKKS
    exponent: int
    status: str  # PENDING_ATTESTATION | ATTESTED | LAPSED
    card_digest: bytes
    registered_at: dt.datetime
    attestation: ModelAttestation | None
    public_key_sha256: bytes
    receipt: Receipt | None = None
    method: str = ""
    request_id: str = ""
    client_nonce: str = ""

    @property
    def name(self) -> str:
        """``<organization>/<model_id>/<version>``, as a list's receipt names it."""
        return f"{self.organization}/{self.model_id}/{self.version}"


@dataclass(frozen=True)
class PendingModels:
    """The models waiting for an auditor's attestation, oldest first (steward)."""

    models: tuple[ModelInfo, ...]
    receipt: Receipt
    request_id: str = ""
    client_nonce: str = ""


@dataclass(frozen=True)
class PaillierScoreAnswer:
    """One person's encrypted score: the re-randomised ciphertext (768 bytes big-endian) and
    what decoding it needs (``exponent``, ``output_bits``);
    :func:`dataward.client.compute.decrypt_paillier_score` reads it."""

    ciphertext: bytes
    exponent: int
    output_bits: int
    model_id: str
    model_version: int
    policy_version: str
    receipt: Receipt
    request_id: str = ""
    client_nonce: str = ""


@dataclass(frozen=True)
class CkksBatchAnswer:
    """A batch's encrypted scores: one serialized CKKSVector, slot ``i`` person ``i``'s score
    where ``scored[i]``, else 0; :func:`dataward.client.compute.decrypt_ckks_scores` reads
    it."""

    ciphertext: bytes
    scored: tuple[bool, ...]
    model_id: str
    model_version: int
    policy_version: str
    receipt: Receipt
    request_id: str = ""
    client_nonce: str = ""


@dataclass(frozen=True)
class FaceMatchAnswer:
    """An encrypted face match's answer (issue 13): one serialized CKKSVector, every slot the
    blinded ``y`` (``y > 0`` is a match), for
    :func:`dataward.client.compute.face_match_result`; ``query`` is the query ciphertext sent
    (the receipt hashes it), ``validated_on`` what the threshold was validated on."""

    ciphertext: bytes = field(repr=False)
    validated_on: str
    receipt: Receipt
    query: bytes = field(default=b"", repr=False)
    request_id: str = ""
    client_nonce: str = ""


# -- out --------------------------------------------------------------------------------------
def face_match_requests(
    header: compute_pb2.FaceMatchHeader, context: bytes, query: bytes
) -> Iterator[compute_pb2.EncryptedFaceMatchRequest]:
    """The EncryptedFaceMatch stream: the header, the context in 1 MiB chunks, the query."""
    yield compute_pb2.EncryptedFaceMatchRequest(header=header)
    for start in range(0, len(context), PUBLIC_KEY_CHUNK_BYTES):
        chunk = context[start : start + PUBLIC_KEY_CHUNK_BYTES]
        yield compute_pb2.EncryptedFaceMatchRequest(context_chunk=chunk)
    yield compute_pb2.EncryptedFaceMatchRequest(query_ciphertext=query)


def attestation_to_proto(attestation: ModelAttestation) -> compute_pb2.ModelAttestation:
    return compute_pb2.ModelAttestation(
        auditor=attestation.auditor,
        expires_at=attestation.expires_at,
        signature=attestation.signature,
    )


def _card_to_proto(card: ModelCard) -> compute_pb2.ModelCard:
    problems = card.problems()
    if problems:
        raise ValueError("; ".join(f"{name}: {problem}" for name, problem in problems))
    return compute_pb2.ModelCard(
        model_id=card.model_id,
        version=card.version,
        feature_set=card.feature_set,
        weight_count=card.weight_count,
        output_bits=card.output_bits,
        purpose=purpose_to_proto(card.purpose),
        scheme=compute_pb2.ModelScheme.Value(f"MODEL_SCHEME_{card.scheme}"),
        exponent=card.exponent,
    )


def register_requests(
    card: ModelCard, attestation: ModelAttestation | None
) -> Iterator[compute_pb2.RegisterModelRequest]:
    """RegisterModel's stream: the card, the public key in 1 MiB chunks, one message per
    weight ciphertext, then the attestation if given. The card is checked before anything is
    sent (``ValueError`` naming the field)."""
    first = compute_pb2.RegisterModelRequest(card=_card_to_proto(card))
    key = card.public_key

    def stream() -> Iterator[compute_pb2.RegisterModelRequest]:
        yield first
        for start in range(0, len(key), PUBLIC_KEY_CHUNK_BYTES):
            chunk = key[start : start + PUBLIC_KEY_CHUNK_BYTES]
            yield compute_pb2.RegisterModelRequest(public_key_chunk=chunk)
        for ciphertext in card.weight_ciphertexts:
            yield compute_pb2.RegisterModelRequest(weight_ciphertext=ciphertext)
        if attestation is not None:
            yield compute_pb2.RegisterModelRequest(attestation=attestation_to_proto(attestation))

    return stream()


# -- in ---------------------------------------------------------------------------------------
def _suffix(wrapper: type, value: int, prefix: str) -> str:
    name = str(wrapper.Name(value))  # type: ignore[attr-defined]
    return "" if name.endswith("_UNSPECIFIED") else name.removeprefix(prefix)


def model_info(
    message: compute_pb2.ModelInfo,
    receipt: common_pb2.Receipt | None = None,
    method: str = "",
) -> ModelInfo:
    card = message.card
    attestation = (
        ModelAttestation(
            message.attestation.auditor,
            message.attestation.expires_at,
            bytes(message.attestation.signature),
        )
        if message.HasField("attestation") and message.attestation.signature
        else None
    )
    return ModelInfo(
        organization=message.organization,
        model_id=card.model_id,
        version=card.version,
        feature_set=card.feature_set,
        weight_count=card.weight_count,
        output_bits=card.output_bits,
        purpose=_suffix(common_pb2.Purpose, card.purpose, "PURPOSE_"),
        scheme=_suffix(compute_pb2.ModelScheme, card.scheme, "MODEL_SCHEME_"),
        exponent=card.exponent,
        status=_suffix(compute_pb2.ModelStatus, message.status, "MODEL_STATUS_"),
        card_digest=bytes(message.card_digest),
        registered_at=dt.datetime.fromtimestamp(message.registered_at, dt.UTC),
        attestation=attestation,
        public_key_sha256=bytes(message.public_key_sha256),
        receipt=receipt_from_proto(receipt) if receipt is not None else None,
        method=method,
        request_id=receipt.request_id if receipt is not None else "",
    )


def pending_models(response: steward_pb2.ListPendingModelsResponse) -> PendingModels:
    return PendingModels(
        tuple(model_info(m) for m in response.models),
        receipt_from_proto(response.receipt),
        response.receipt.request_id,
    )


def paillier_score_answer(
    response: compute_pb2.PaillierScoreResponse, nonce: str
) -> PaillierScoreAnswer:
    """The score answered to the request sent with ``nonce`` (kept, never read back)."""
    return PaillierScoreAnswer(
        bytes(response.ciphertext),
        response.exponent,
        response.output_bits,
        response.model_id,
        response.model_version,
        response.policy_version,
        receipt_from_proto(response.receipt),
        response.receipt.request_id,
        nonce,
    )


def ckks_batch_answer(response: compute_pb2.CkksBatchScoreResponse, nonce: str) -> CkksBatchAnswer:
    """The batch answered to the request sent with ``nonce`` (kept, never read back)."""
    return CkksBatchAnswer(
        bytes(response.ciphertext),
        tuple(bool(s) for s in response.scored),
        response.model_id,
        response.model_version,
        response.policy_version,
        receipt_from_proto(response.receipt),
        response.receipt.request_id,
        nonce,
    )


def face_match_answer(
    response: compute_pb2.EncryptedFaceMatchResponse, query: bytes, nonce: str
) -> FaceMatchAnswer:
    """The match answered to ``query``, sent with ``nonce`` (kept, never read back)."""
    return FaceMatchAnswer(
        bytes(response.ciphertext),
        response.validated_on,
        receipt_from_proto(response.receipt),
        query,
        response.receipt.request_id,
        nonce,
    )


def release_of_scoring(
    result: ModelInfo | PendingModels | PaillierScoreAnswer | CkksBatchAnswer | FaceMatchAnswer,
) -> tuple[str, receipts.ResultFields]:
    """The method and result fields the zone hashed into the release of ``result``."""
    if isinstance(result, FaceMatchAnswer):
        return receipts.COMPUTE_FACE_MATCH, receipts.face_match_fields(
            query=result.query, ciphertext=result.ciphertext, validated_on=result.validated_on
        )
    if isinstance(result, PaillierScoreAnswer):
        return receipts.COMPUTE_PAILLIER_SCORE, receipts.paillier_score_fields(
            ciphertext=result.ciphertext,
            exponent=result.exponent,
            output_bits=result.output_bits,
            model_id=result.model_id,
            model_version=result.model_version,
            policy_version=result.policy_version,
        )
    if isinstance(result, CkksBatchAnswer):
        return receipts.COMPUTE_CKKS_BATCH, receipts.ckks_batch_fields(
            ciphertext=result.ciphertext,
            scored=result.scored,
            model_id=result.model_id,
            model_version=result.model_version,
            policy_version=result.policy_version,
        )
    if isinstance(result, PendingModels):
        fields = receipts.model_list_fields(models=[m.name for m in result.models])
        return receipts.MODELS_LIST_PENDING, fields
    if result.method not in _MODEL_METHODS:
        raise TypeError("a model listed in PendingModels has no receipt of its own")
    return result.method, receipts.model_fields(
        organization=result.organization,
        model_id=result.model_id,
        version=result.version,
        status=result.status,
        card_digest=result.card_digest,
    )


_MODEL_METHODS = frozenset(
    {receipts.COMPUTE_REGISTER_MODEL, receipts.COMPUTE_GET_MODEL, receipts.MODELS_ATTEST}
)
