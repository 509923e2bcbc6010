"""The SDK's side of the encrypted face match (issue 13): the keys carry Galois keys and
never the secret key in the public bytes, an embedding is encrypted unit length across all
4096 slots, and an answer is decrypted slot by slot: it must be one value, its sign the
match -- anything else a ValueError saying which."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import tenseal as ts

from dataward.client.compute import CKKS_SLOTS, FaceMatchKeys, face_match_result


@dataclass(frozen=True)
class _Answer:
    ciphertext: bytes
    validated_on: str = "validated on test data"


@pytest.fixture(scope="module")
def keys() -> FaceMatchKeys:
    return FaceMatchKeys.generate()


def test_the_public_bytes_hold_galois_keys_and_no_secret_key(keys: FaceMatchKeys) -> None:
    public = ts.context_from(keys.public_context_bytes())
    assert public.has_galois_keys() and public.has_relin_keys() and not public.is_private()
    with pytest.raises(ValueError, match="secret and Galois"):
        FaceMatchKeys(public)


def test_an_embedding_is_encrypted_unit_length_in_every_slot(keys: FaceMatchKeys) -> None:
    embedding = [float(i % 7) - 3.0 for i in range(128)]
    values = ts.ckks_vector_from(keys.context, keys.encrypt_embedding(embedding)).decrypt()
    assert len(values) == CKKS_SLOTS
    norm = math.sqrt(sum(v * v for v in embedding))
    assert np.allclose(values[:128], [v / norm for v in embedding], atol=1e-5)
    assert np.allclose(values[128:], 0.0, atol=1e-5)
    for bad, message in (
        ([1.0] * 127, "128 values"),
        ([0.0] * 128, "zero"),
        ([math.nan] + [1.0] * 127, "finite"),
    ):
        with pytest.raises(ValueError, match=message):
            keys.encrypt_embedding(bad)


def test_an_answer_is_one_value_in_every_slot_and_its_sign_the_match(keys: FaceMatchKeys) -> None:
    for value, matched in ((0.75, True), (-3.5, False)):
        answer = ts.ckks_vector(keys.context, [value] * CKKS_SLOTS).serialize()
        result = face_match_result(keys, _Answer(answer))
        assert result.matched is matched and result.validated_on == "validated on test data"
    uneven = ts.ckks_vector(keys.context, [1.0] + [0.0] * (CKKS_SLOTS - 1)).serialize()
    with pytest.raises(ValueError, match="disagree"):
        face_match_result(keys, _Answer(uneven))
    short = ts.ckks_vector(keys.context, [1.0] * 8).serialize()
    with pytest.raises(ValueError, match="4096"):
        face_match_result(keys, _Answer(short))
    with pytest.raises(ValueError, match="not a CKKS vector"):
        face_match_result(keys, _Answer(b"junk"))
