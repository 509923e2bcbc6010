"""The model card an auditor attests: its digest covers every field, key and ciphertext."""

from __future__ import annotations

import dataclasses

import pytest

from dataward.compute import ModelCard, attestation_message

CARD = ModelCard(
    model_id="loan-risk",
    version=3,
    feature_set="credit_v1",
    weight_count=2,
    output_bits=16,
    purpose="LOAN_ORIGINATION",
    scheme="PAILLIER",
    exponent=-4,
    public_key=b"\x01" * 384,
    weight_ciphertexts=(b"\x02" * 768, b"\x03" * 768),
)


def test_a_well_formed_card_has_no_problems_and_a_stable_digest() -> None:
    assert CARD.problems() == []
    assert len(CARD.digest()) == 32
    assert CARD.digest() == dataclasses.replace(CARD).digest()


@pytest.mark.parametrize(
    "change",
    [
        {"model_id": "loan-risk2"},
        {"version": 4},
        {"feature_set": "credit_v2"},
        {"output_bits": 17},
        {"purpose": "INSURANCE_UNDERWRITING"},
        {"scheme": "CKKS"},
        {"exponent": -3},
        {"public_key": b"\x01" * 383 + b"\x02"},
        {"weight_ciphertexts": (b"\x03" * 768, b"\x02" * 768)},
        {"weight_ciphertexts": (b"\x02" * 768, b"\x03" * 767 + b"\x04")},
        {"weight_count": 3, "weight_ciphertexts": (b"\x02" * 768, b"\x03" * 768, b"")},
    ],
)
def test_every_change_changes_the_digest(change: dict[str, object]) -> None:
    assert dataclasses.replace(CARD, **change).digest() != CARD.digest()  # type: ignore[arg-type]


def test_ciphertext_boundaries_are_framed() -> None:
    # Moving a byte from one ciphertext to the next is another card.
    moved = dataclasses.replace(CARD, weight_ciphertexts=(b"\x02" * 767, b"\x02" + b"\x03" * 768))
    assert moved.digest() != CARD.digest()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model_id": "Loan"}, "model_id"),
        ({"model_id": ""}, "model_id"),
        ({"model_id": "110101199003070012"}, "model_id"),
        ({"model_id": "m-1381234-5678"}, "model_id"),
        ({"version": 0}, "version"),
        ({"version": True}, "version"),
        ({"output_bits": 65}, "output_bits"),
        ({"scheme": "RSA"}, "scheme"),
        ({"exponent": 65}, "exponent"),
        ({"scheme": "CKKS", "exponent": -4}, "exponent"),
        ({"public_key": b""}, "public_key"),
        ({"weight_ciphertexts": (b"\x02",)}, "weight_ciphertexts"),
        ({"weight_count": 0, "weight_ciphertexts": ()}, "weight_count"),
    ],
)
def test_malformed_fields_are_named(change: dict[str, object], field: str) -> None:
    problems = dataclasses.replace(CARD, **change).problems()  # type: ignore[arg-type]
    assert field in [name for name, _ in problems]


def test_the_attestation_message_binds_digest_auditor_and_expiry() -> None:
    digest = CARD.digest()
    message = attestation_message(digest, "auditor-1", 1_800_000_000)
    assert digest in message
    assert message != attestation_message(digest, "auditor-2", 1_800_000_000)
    assert message != attestation_message(digest, "auditor-1", 1_800_000_001)
    with pytest.raises(ValueError, match="32 bytes"):
        attestation_message(digest[:31], "auditor-1", 1)
    with pytest.raises(ValueError, match="auditor"):
        attestation_message(digest, "Auditor 1", 1)
    with pytest.raises(ValueError, match="expiry"):
        attestation_message(digest, "auditor-1", 0)
