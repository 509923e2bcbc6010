"""The SDK's encrypted-scoring values and messages, without a server: RegisterModel's stream
(card, key in 1 MiB chunks, one message per ciphertext, the attestation last), answers read
back field by field keeping the nonce sent, the release each answer's receipt must match, and
the new refusal reasons as typed errors."""

from __future__ import annotations

import datetime as dt
import hashlib

import grpc
import pytest

from dataward import receipts
from dataward.client import (
    AlreadyExists,
    AttestationInvalid,
    CiphertextInvalid,
    ContextInvalid,
    FailedPrecondition,
    InvalidArgument,
    ModelAttestation,
    ModelExists,
    ModelMismatch,
    ModelNotAttested,
    ModelNotFound,
    NotFound,
    ScoreAlreadyGiven,
    WeightsInvalid,
)
from dataward.client._release import release_of
from dataward.client._scoring import (
    PUBLIC_KEY_CHUNK_BYTES,
    ckks_batch_answer,
    model_info,
    paillier_score_answer,
    pending_models,
    register_requests,
)
from dataward.client.errors import error_for
from dataward.compute import ModelCard
from dataward.v1 import common_pb2, compute_pb2, steward_pb2

NONCE = "n" * 32
RECEIPT = common_pb2.Receipt(
    leaf_index=3, leaf_hash=b"\x01" * 32, checkpoint_note="note", request_id="req_9"
)


def card(key: bytes = b"k" * 384, count: int = 3, scheme: str = "PAILLIER") -> ModelCard:
    return ModelCard(
        model_id="loan-risk",
        version=2,
        feature_set="credit_v1",
        weight_count=count,
        output_bits=32,
        purpose="LOAN_ORIGINATION",
        scheme=scheme,
        exponent=-4 if scheme == "PAILLIER" else 0,
        public_key=key,
        weight_ciphertexts=tuple(bytes([i]) * 768 for i in range(count)),
    )


def test_register_sends_the_card_then_the_key_in_chunks_then_each_ciphertext() -> None:
    key = bytes(range(256)) * (PUBLIC_KEY_CHUNK_BYTES * 5 // 2 // 256)  # 2.5 MiB
    attestation = ModelAttestation("auditor-1", 1_900_000_000, b"s" * 64)
    messages = list(register_requests(card(key, 4, "CKKS"), attestation))
    assert [m.WhichOneof("part") for m in messages] == (
        ["card"] + ["public_key_chunk"] * 3 + ["weight_ciphertext"] * 4 + ["attestation"]
    )
    first = messages[0].card
    assert (first.model_id, first.version, first.feature_set) == ("loan-risk", 2, "credit_v1")
    assert (first.weight_count, first.output_bits, first.exponent) == (4, 32, 0)
    assert first.purpose == common_pb2.PURPOSE_LOAN_ORIGINATION
    assert first.scheme == compute_pb2.MODEL_SCHEME_CKKS
    chunks = [m.public_key_chunk for m in messages[1:4]]
    assert all(len(c) <= PUBLIC_KEY_CHUNK_BYTES for c in chunks) and b"".join(chunks) == key
    assert [m.weight_ciphertext for m in messages[4:8]] == list(card(key, 4).weight_ciphertexts)
    last = messages[-1].attestation
    assert (last.auditor, last.expires_at, last.signature) == (
        "auditor-1",
        1_900_000_000,
        b"s" * 64,
    )


def test_without_an_attestation_the_stream_ends_with_the_last_ciphertext() -> None:
    messages = list(register_requests(card(), None))
    assert [m.WhichOneof("part") for m in messages] == [
        "card",
        "public_key_chunk",
        "weight_ciphertext",
        "weight_ciphertext",
        "weight_ciphertext",
    ]
    assert messages[0].card.scheme == compute_pb2.MODEL_SCHEME_PAILLIER
    assert messages[0].card.exponent == -4


def test_a_malformed_card_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match=r"^weight_ciphertexts: one per weight"):
        register_requests(ModelCard(**{**card().__dict__, "weight_count": 4}), None)


def _info_message(**changes: object) -> compute_pb2.ModelInfo:
    message = compute_pb2.ModelInfo(
        organization="acme-bank",
        card=compute_pb2.ModelCard(
            model_id="loan-risk",
            version=2,
            feature_set="credit_v1",
            weight_count=3,
            output_bits=32,
            purpose=common_pb2.PURPOSE_LOAN_ORIGINATION,
            scheme=compute_pb2.MODEL_SCHEME_PAILLIER,
            exponent=-4,
        ),
        status=compute_pb2.MODEL_STATUS_ATTESTED,
        card_digest=b"\x07" * 32,
        registered_at=1_780_000_000,
        attestation=compute_pb2.ModelAttestation(
            auditor="auditor-1", expires_at=1_900_000_000, signature=b"s" * 64
        ),
        public_key_sha256=hashlib.sha256(b"k").digest(),
    )
    for name, value in changes.items():
        if value is None:
            message.ClearField(name)  # type: ignore[arg-type]
        else:
            setattr(message, name, value)
    return message


def test_a_model_info_loses_the_wire_prefixes_and_names_the_method_that_answered() -> None:
    info = model_info(_info_message(), RECEIPT, receipts.COMPUTE_GET_MODEL)
    assert (info.organization, info.model_id, info.version) == ("acme-bank", "loan-risk", 2)
    assert (info.purpose, info.scheme, info.status) == ("LOAN_ORIGINATION", "PAILLIER", "ATTESTED")
    assert info.exponent == -4 and info.card_digest == b"\x07" * 32
    assert info.registered_at == dt.datetime.fromtimestamp(1_780_000_000, dt.UTC)
    assert info.attestation == ModelAttestation("auditor-1", 1_900_000_000, b"s" * 64)
    assert info.name == "acme-bank/loan-risk/2" and info.request_id == "req_9"
    method, fields = release_of(info)
    assert method == receipts.COMPUTE_GET_MODEL
    assert fields == receipts.model_fields(
        organization="acme-bank",
        model_id="loan-risk",
        version=2,
        status="ATTESTED",
        card_digest=b"\x07" * 32,
    )


def test_a_pending_model_has_no_attestation_and_the_list_has_one_receipt() -> None:
    pending = _info_message(attestation=None, status=compute_pb2.MODEL_STATUS_PENDING_ATTESTATION)
    other = _info_message(organization="other-bank")
    response = steward_pb2.ListPendingModelsResponse(models=[pending, other], receipt=RECEIPT)
    answer = pending_models(response)
    assert [m.name for m in answer.models] == ["acme-bank/loan-risk/2", "other-bank/loan-risk/2"]
    assert answer.models[0].attestation is None and answer.models[0].receipt is None
    assert answer.models[0].status == "PENDING_ATTESTATION"
    assert release_of(answer) == (
        receipts.MODELS_LIST_PENDING,
        receipts.model_list_fields(models=["acme-bank/loan-risk/2", "other-bank/loan-risk/2"]),
    )
    with pytest.raises(TypeError, match="no receipt of its own"):
        release_of(answer.models[0])


def test_score_answers_keep_the_ciphertext_bytes_and_the_nonce_sent() -> None:
    response = compute_pb2.PaillierScoreResponse(
        ciphertext=b"\x05" * 768,
        exponent=-4,
        output_bits=32,
        model_id="loan-risk",
        model_version=2,
        policy_version="pv1",
        receipt=RECEIPT,
    )
    answer = paillier_score_answer(response, NONCE)
    assert (answer.ciphertext, answer.exponent, answer.output_bits) == (b"\x05" * 768, -4, 32)
    assert (answer.client_nonce, answer.request_id) == (NONCE, "req_9")
    assert release_of(answer) == (
        receipts.COMPUTE_PAILLIER_SCORE,
        receipts.paillier_score_fields(
            ciphertext=b"\x05" * 768,
            exponent=-4,
            output_bits=32,
            model_id="loan-risk",
            model_version=2,
            policy_version="pv1",
        ),
    )
    batch = ckks_batch_answer(
        compute_pb2.CkksBatchScoreResponse(
            ciphertext=b"c" * 100,
            scored=[True, False, True],
            model_id="he",
            model_version=1,
            policy_version="pv1",
            receipt=RECEIPT,
        ),
        NONCE,
    )
    assert batch.scored == (True, False, True) and batch.client_nonce == NONCE
    method, fields = release_of(batch)
    assert method == receipts.COMPUTE_CKKS_BATCH and fields["scored"] == "101"
    assert fields["ciphertext_sha256"] == hashlib.sha256(b"c" * 100).hexdigest()


C = grpc.StatusCode


@pytest.mark.parametrize(
    ("code", "reason", "kind", "base"),
    [
        (C.FAILED_PRECONDITION, "MODEL_NOT_ATTESTED", ModelNotAttested, FailedPrecondition),
        (C.INVALID_ARGUMENT, "MODEL_NOT_ATTESTED", AttestationInvalid, InvalidArgument),
        (C.NOT_FOUND, "MODEL_NOT_FOUND", ModelNotFound, NotFound),
        (C.ALREADY_EXISTS, "MODEL_EXISTS", ModelExists, AlreadyExists),
        (C.FAILED_PRECONDITION, "SCORE_ALREADY_GIVEN", ScoreAlreadyGiven, FailedPrecondition),
        (C.INVALID_ARGUMENT, "WEIGHTS_INVALID", WeightsInvalid, InvalidArgument),
        (C.FAILED_PRECONDITION, "MODEL_MISMATCH", ModelMismatch, FailedPrecondition),
        (C.INVALID_ARGUMENT, "CONTEXT_INVALID", ContextInvalid, InvalidArgument),
        (C.INVALID_ARGUMENT, "CIPHERTEXT_INVALID", CiphertextInvalid, InvalidArgument),
        (C.ALREADY_EXISTS, "", AlreadyExists, AlreadyExists),
    ],
)
def test_the_scoring_reasons_are_typed_errors(
    code: grpc.StatusCode, reason: str, kind: type, base: type
) -> None:
    error = error_for(code, reason, "public message", {"problem": "EXPIRED"})
    assert type(error) is kind and isinstance(error, base)
    assert (error.code, error.reason, error.message) == (code, reason, "public message")
    if hasattr(error, "problem"):
        assert error.problem == "EXPIRED"
