"""dataward.client.compute: the partner's keys, model cards and decryption, round-tripped
through the zone's own scorers (enclave.compute) with real phe and TenSEAL keys."""

from __future__ import annotations

import base64
import datetime as dt
import json
import stat
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.client import compute
from dataward.compute import (
    MODULUS_PROOF_ROUNDS,
    ModelCard,
    attestation_message,
    split_paillier_public_key,
)
from enclave.compute import (
    CkksBatchScorer,
    EncryptedWeights,
    FeatureBound,
    PaillierScorer,
    PartnerKey,
    load_ciphertext,
    load_public_context,
)


@dataclass(frozen=True)
class Paillier:
    ciphertext: bytes
    exponent: int
    output_bits: int


@dataclass(frozen=True)
class Ckks:
    ciphertext: bytes
    scored: tuple[bool, ...]


@pytest.fixture(scope="session")
def paillier_keys() -> compute.PaillierKeys:
    return compute.PaillierKeys.generate()  # 3072 bits: seconds, once per session


@pytest.fixture(scope="session")
def ckks_keys() -> compute.CkksKeys:
    return compute.CkksKeys.generate()


BOUNDS = (FeatureBound("a", 0, 36), FeatureBound("b", -10, 10), FeatureBound("c", 0, 1000))


def paillier_card(keys: compute.PaillierKeys, **changes: object) -> ModelCard:
    arguments: dict[str, object] = {
        "model_id": "loan-risk",
        "version": 1,
        "feature_set": "credit_v1",
        "weights": [0.5, -1.25, Fraction(3, 16)],
        "exponent": -2,
        "output_bits": 32,
        "purpose": "LOAN_ORIGINATION",
    } | changes
    return compute.paillier_model_card(keys, **arguments)  # type: ignore[arg-type]


# -- Paillier -----------------------------------------------------------------------------------
def test_paillier_keys_are_3072_bits_and_the_public_key_is_n_big_endian_with_its_proof(
    paillier_keys: compute.PaillierKeys,
) -> None:
    data = paillier_keys.public_key_bytes()
    assert len(data) == 384 * (1 + MODULUS_PROOF_ROUNDS)
    assert int.from_bytes(data[:384], "big") == paillier_keys.public.n
    n, roots = split_paillier_public_key(data)
    PartnerKey(n).check_proof(roots)  # the zone accepts it
    assert "p=" not in repr(paillier_keys) and str(paillier_keys.private.p) not in repr(
        paillier_keys
    )


def test_a_paillier_card_declares_its_fields_and_768_byte_ciphertexts(
    paillier_keys: compute.PaillierKeys,
) -> None:
    card = paillier_card(paillier_keys)
    assert card.scheme == "PAILLIER" and card.weight_count == 3 and card.exponent == -2
    assert card.purpose == "LOAN_ORIGINATION" and card.problems() == []
    assert all(len(c) == 768 for c in card.weight_ciphertexts)
    # Each ciphertext holds the weight's mantissa at the model's exponent (w * 16**2).
    private = paillier_keys.private
    n = paillier_keys.public.n
    plain = [private.raw_decrypt(int.from_bytes(c, "big")) for c in card.weight_ciphertexts]
    assert [p if p < n // 2 else p - n for p in plain] == [128, -320, 48]
    # Fresh r each time: the same weights encrypt differently.
    assert paillier_card(paillier_keys).weight_ciphertexts != card.weight_ciphertexts


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"model_id": "Loan Risk"}, "model_id"),
        ({"version": 0}, "version"),
        ({"output_bits": 65}, "output_bits"),
        ({"exponent": 65}, "exponent"),
        ({"feature_set": ""}, "feature_set"),
    ],
)
def test_a_paillier_card_with_a_field_out_of_range_is_refused_naming_it(
    paillier_keys: compute.PaillierKeys, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        paillier_card(paillier_keys, **changes)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([], "non-empty"),
        ([1.0, float("nan")], r"weights\[1\] must be finite"),
        ([True], r"weights\[0\] must be an int"),
        ([2**4000], r"weights\[0\] is too large"),
    ],
)
def test_bad_weights_are_refused(
    paillier_keys: compute.PaillierKeys, weights: list[object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        paillier_card(paillier_keys, weights=weights)


def test_an_unknown_purpose_is_refused(paillier_keys: compute.PaillierKeys) -> None:
    with pytest.raises(ValueError, match="purpose must be one of"):
        paillier_card(paillier_keys, purpose="MARKETING")


def test_a_zone_paillier_score_decrypts_to_the_dot_product(
    paillier_keys: compute.PaillierKeys,
) -> None:
    card = paillier_card(paillier_keys)
    scorer = PaillierScorer(
        PartnerKey(paillier_keys.public.n),
        EncryptedWeights(
            tuple(int.from_bytes(c, "big") for c in card.weight_ciphertexts), card.exponent
        ),
        BOUNDS,
        card.output_bits,
    )
    for features in ([12, -3, 400], [0, 0, 0], [36, 10, 1000], [1, -10, 0]):
        score = scorer.score(features)
        answer = Paillier(score.to_bytes(), score.exponent, score.width)
        expected = Fraction(1, 2) * features[0] - Fraction(5, 4) * features[1]
        expected += Fraction(3, 16) * features[2]
        assert compute.decrypt_paillier_score(paillier_keys, answer) == expected


def test_a_paillier_ciphertext_of_another_shape_is_refused(
    paillier_keys: compute.PaillierKeys,
) -> None:
    with pytest.raises(ValueError, match="768 bytes"):
        compute.decrypt_paillier_score(paillier_keys, Paillier(b"\x01" * 767, 0, 16))
    with pytest.raises(ValueError, match="not one of this key's"):
        compute.decrypt_paillier_score(paillier_keys, Paillier(bytes(768), 0, 16))
    with pytest.raises(ValueError, match="not one of this key's"):
        compute.decrypt_paillier_score(paillier_keys, Paillier(b"\xff" * 768, 0, 16))


def test_the_private_key_file_is_0600_never_overwritten_and_loads_back(
    paillier_keys: compute.PaillierKeys, tmp_path: Path
) -> None:
    path = tmp_path / "partner.key"
    paillier_keys.save_private(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = compute.PaillierKeys.load_private(path)
    assert loaded.public.n == paillier_keys.public.n
    card = paillier_card(paillier_keys)
    plain = loaded.private.raw_decrypt(int.from_bytes(card.weight_ciphertexts[0], "big"))
    assert plain == 128
    with pytest.raises(FileExistsError, match="never overwritten"):
        paillier_keys.save_private(path)


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"format": "other"}',
        b'{"format": "dataward-paillier-private-key/1", "n": "15", "p": "3"}',
        b'{"format": "dataward-paillier-private-key/1", "n": "15", "p": "3", "q": "7"}',
    ],
)
def test_a_bad_private_key_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"Paillier private key file|factors"):
        compute.PaillierKeys.load_private(path)


# -- CKKS -------------------------------------------------------------------------------------
def test_the_public_context_has_no_secret_key_and_the_zone_accepts_it(
    ckks_keys: compute.CkksKeys,
) -> None:
    data = ckks_keys.public_context_bytes()
    context = load_public_context(data)  # refuses secret and Galois keys, checks N and moduli
    assert context.size_bytes == len(data)
    assert ckks_keys.context.is_private()  # the partner's own copy keeps its key


def test_a_zone_ckks_batch_decrypts_within_1e_3_and_unscored_slots_are_none(
    ckks_keys: compute.CkksKeys,
) -> None:
    weights = [0.5, -1.25, 0.001]
    card = compute.ckks_model_card(
        ckks_keys,
        model_id="loan-risk-he",
        version=2,
        feature_set="credit_v1",
        weights=weights,
        output_bits=24,
        purpose="LOAN_ORIGINATION",
    )
    assert card.scheme == "CKKS" and card.exponent == 0 and card.problems() == []
    context = load_public_context(card.public_key)
    ciphertexts = [load_ciphertext(context, c) for c in card.weight_ciphertexts]
    features = np.array([[12, -3, 400], [36, 10, 1000], [0, 0, 0], [5, 5, 5]], dtype=np.int64)
    consented = np.array([True, True, False, True])
    result = CkksBatchScorer(BOUNDS).score(context, ciphertexts, features, consented)
    scores = compute.decrypt_ckks_scores(ckks_keys, Ckks(result, tuple(consented.tolist())))
    assert scores[2] is None
    for index in (0, 1, 3):
        expected = float(np.dot(features[index], weights))
        value = scores[index]
        assert value is not None and abs(value - expected) < 1e-3


def test_a_ckks_answer_that_is_not_a_vector_is_refused(ckks_keys: compute.CkksKeys) -> None:
    with pytest.raises(ValueError, match="not a CKKS vector"):
        compute.decrypt_ckks_scores(ckks_keys, Ckks(b"garbage", (True,)))


def test_the_ckks_secret_context_file_is_0600_and_loads_back(
    ckks_keys: compute.CkksKeys, tmp_path: Path
) -> None:
    path = tmp_path / "ckks.key"
    ckks_keys.save_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert compute.CkksKeys.load_secret(path).context.is_private()
    with pytest.raises(FileExistsError):
        ckks_keys.save_secret(path)
    public = tmp_path / "public.ctx"
    public.write_bytes(ckks_keys.public_context_bytes())
    with pytest.raises(ValueError, match="no secret key"):
        compute.CkksKeys.load_secret(public)


# -- card files and attestations ----------------------------------------------------------------
def test_a_saved_card_loads_back_with_the_same_digest(
    paillier_keys: compute.PaillierKeys, tmp_path: Path
) -> None:
    card = paillier_card(paillier_keys)
    path = tmp_path / "card.json"
    compute.save_card(card, path)
    document = json.loads(path.read_text())
    assert document["format"] == compute.CARD_FORMAT and document["digest"] == card.digest().hex()
    loaded = compute.load_card(path)
    assert loaded == card and loaded.digest() == card.digest()


def test_a_saved_ckks_card_loads_back_with_the_same_digest(
    ckks_keys: compute.CkksKeys, tmp_path: Path
) -> None:
    card = compute.ckks_model_card(
        ckks_keys,
        model_id="he",
        version=1,
        feature_set="credit_v1",
        weights=[1.0],
        output_bits=20,
        purpose="LOAN_ORIGINATION",
    )
    compute.save_card(card, tmp_path / "card.json")
    assert compute.load_card(tmp_path / "card.json").digest() == card.digest()


def _edited(path: Path, **fields: object) -> Path:
    document = json.loads(path.read_text())
    for name, value in fields.items():
        if value is None:
            del document[name]
        else:
            document[name] = value
    edited = path.with_name("edited.json")
    edited.write_text(json.dumps(document))
    return edited


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"format": "dataward-model-card/0"}, "not a model card file"),
        ({"model_id": None}, "^model_id: text required"),
        ({"version": "1"}, "^version: an integer required"),
        ({"weight_count": True}, "^weight_count: an integer required"),
        ({"public_key": "not base64!"}, "^public_key: not valid base64"),
        ({"weight_ciphertexts": ["AAAA", "**"]}, r"^weight_ciphertexts\[1\]: not valid base64"),
        ({"weight_ciphertexts": "AAAA"}, "^weight_ciphertexts: a list"),
        ({"weight_ciphertexts": ["AAAA"]}, "^weight_ciphertexts: one per weight"),
        ({"output_bits": 0}, "^output_bits:"),
        ({"purpose": "MARKETING"}, "^purpose: not a purpose"),
        ({"output_bits": 16}, "^digest: not the digest"),  # declared field edited
        ({"digest": None}, "^digest: not the digest"),
    ],
)
def test_a_malformed_or_altered_card_file_is_refused(
    paillier_keys: compute.PaillierKeys, tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    path = tmp_path / "card.json"
    compute.save_card(paillier_card(paillier_keys), path)
    with pytest.raises(compute.CardFileInvalid, match=message):
        compute.load_card(_edited(path, **fields))


def test_an_altered_ciphertext_in_a_card_file_is_refused(
    paillier_keys: compute.PaillierKeys, tmp_path: Path
) -> None:
    path = tmp_path / "card.json"
    compute.save_card(paillier_card(paillier_keys), path)
    document = json.loads(path.read_text())
    blob = bytearray(base64.b64decode(document["weight_ciphertexts"][0]))
    blob[100] ^= 1
    document["weight_ciphertexts"][0] = base64.b64encode(bytes(blob)).decode()
    path.write_text(json.dumps(document))
    with pytest.raises(compute.CardFileInvalid, match=r"^digest:"):
        compute.load_card(path)


@pytest.mark.parametrize("content", [b"\x00\xff", b"[1, 2]", b"{"])
def test_a_card_file_that_is_not_a_json_object_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "card.json"
    path.write_bytes(content)
    with pytest.raises(compute.CardFileInvalid):
        compute.load_card(path)


def test_sign_card_signs_the_attestation_message_of_the_digest(
    paillier_keys: compute.PaillierKeys, tmp_path: Path
) -> None:
    card = paillier_card(paillier_keys)
    key = Ed25519PrivateKey.generate()
    attestation = compute.sign_card(card, key, "auditor-1", 1_900_000_000)
    assert attestation.auditor == "auditor-1" and attestation.expires_at == 1_900_000_000
    message = attestation_message(card.digest(), "auditor-1", 1_900_000_000)
    key.public_key().verify(attestation.signature, message)  # raises if not
    assert compute.verify_attestation(card, attestation, key.public_key())
    other = replace(card, output_bits=16)
    assert not compute.verify_attestation(other, attestation, key.public_key())
    path = tmp_path / "attestation.json"
    compute.save_attestation(attestation, path)
    assert compute.load_attestation(path) == attestation


def test_sign_card_refuses_bad_names_and_expiries(paillier_keys: compute.PaillierKeys) -> None:
    card = paillier_card(paillier_keys)
    key = Ed25519PrivateKey.generate()
    with pytest.raises(ValueError, match="auditor"):
        compute.sign_card(card, key, "Auditor One", 1_900_000_000)
    with pytest.raises(ValueError, match="expires_at"):
        compute.sign_card(card, key, "auditor-1", 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        compute.sign_card(card, key, "auditor-1", dt.datetime(2030, 1, 1))
    aware = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert compute.sign_card(card, key, "auditor-1", aware).expires_at == int(aware.timestamp())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"auditor": "A B"}, "^auditor:"),
        ({"expires_at": -1}, "^expires_at:"),
        ({"signature": base64.b64encode(b"x" * 63).decode()}, "^signature: 64 bytes"),
        ({"format": "x"}, "not a model attestation file"),
    ],
)
def test_a_malformed_attestation_file_is_refused(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    path = tmp_path / "attestation.json"
    compute.save_attestation(compute.ModelAttestation("auditor-1", 1, b"s" * 64), path)
    with pytest.raises(compute.CardFileInvalid, match=message):
        compute.load_attestation(_edited(path, **fields))
