"""CKKS batch scoring with real TenSEAL (issue 12): the test holds the secret key, as the
partner would, and decrypts EVERY slot of what the zone returns."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
import tenseal as ts

from enclave.compute import (
    CKKS_SCALE,
    CKKS_SLOTS,
    CiphertextInvalid,
    CkksBatchScorer,
    CkksBatchTooLarge,
    CkksCiphertext,
    CkksContext,
    FeatureBound,
    FeaturesInvalid,
    load_ciphertext,
    load_public_context,
)

# A credit_v1-like feature set: months insured of 36, months in arrears, claims by visit
# type, a self-paid bucket, a chronic-condition flag.
BOUNDS = (
    FeatureBound("months_insured_36", 0, 36),
    FeatureBound("months_in_arrears", 0, 36),
    FeatureBound("outpatient_claims_12", 0, 50),
    FeatureBound("inpatient_claims_12", 0, 10),
    FeatureBound("self_paid_bucket", 0, 9),
    FeatureBound("chronic", 0, 1),
)
WEIGHTS = (0.75, -2.5, -0.125, -1.0, 0.5, -3.0)
Batch = Callable[..., tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]]
# Scores here are at most ~60 in magnitude; the error bound is relative to that scale.
SCORE_SCALE = 60.0


def _decrypt_every_slot(secret: ts.Context, result: bytes) -> npt.NDArray[np.float64]:
    """All N/2 slots of the one SEAL ciphertext inside ``result``, whatever TenSEAL's size
    field says: decrypted and decoded with SEAL itself."""
    vector = ts.ckks_vector_from(secret, result)
    (ciphertext,) = vector.ciphertext()
    seal = secret.seal_context().data
    sealapi = ts.sealapi
    plain = sealapi.Plaintext()
    sealapi.Decryptor(seal, secret.secret_key().data).decrypt(ciphertext, plain)
    values = sealapi.CKKSEncoder(seal).decode_double(plain)
    assert len(values) == CKKS_SLOTS
    return np.array(values)


def _encrypt_weights(
    secret: ts.Context, context: CkksContext, weights: tuple[float, ...]
) -> list[CkksCiphertext]:
    return [
        load_ciphertext(context, ts.ckks_vector(secret, [w] * CKKS_SLOTS).serialize())
        for w in weights
    ]


@pytest.fixture
def batch() -> Batch:
    def make(persons: int, seed: int = 7) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        rng = np.random.default_rng(seed)
        highs = np.array([b.high for b in BOUNDS])
        features = rng.integers(0, highs + 1, size=(persons, len(BOUNDS)))
        consented = rng.random(persons) < 0.6
        return features, consented

    return make


def test_every_slot_holds_a_consented_score_or_zero(
    secret_context: ts.Context,
    public_context: CkksContext,
    batch: Batch,
) -> None:
    features, consented = batch(3000)
    weights = _encrypt_weights(secret_context, public_context, WEIGHTS)
    result = CkksBatchScorer(BOUNDS).score(public_context, weights, features, consented)
    assert isinstance(result, bytes)
    slots = _decrypt_every_slot(secret_context, result)
    expected = np.zeros(CKKS_SLOTS)
    expected[:3000] = np.where(consented, features @ np.array(WEIGHTS), 0.0)
    assert consented.sum() > 1000 and (~consented).sum() > 1000
    assert np.max(np.abs(slots - expected)) / SCORE_SCALE <= 1e-5
    zeros = np.concatenate([slots[:3000][~consented], slots[3000:]])
    assert zeros.size == CKKS_SLOTS - consented.sum()
    assert np.max(zeros) - np.min(zeros) <= 1e-5
    assert np.max(np.abs(zeros)) <= 1e-5


def test_a_full_batch_fills_every_slot(
    secret_context: ts.Context,
    public_context: CkksContext,
    batch: Batch,
) -> None:
    features, _ = batch(CKKS_SLOTS)
    everyone = np.ones(CKKS_SLOTS, dtype=bool)
    weights = _encrypt_weights(secret_context, public_context, WEIGHTS)
    result = CkksBatchScorer(BOUNDS).score(public_context, weights, features, everyone)
    slots = _decrypt_every_slot(secret_context, result)
    assert np.max(np.abs(slots - features @ np.array(WEIGHTS))) / SCORE_SCALE <= 1e-5


def test_nobody_consented_decrypts_to_zeros_everywhere(
    secret_context: ts.Context,
    public_context: CkksContext,
    batch: Batch,
) -> None:
    features, consented = batch(100)
    weights = _encrypt_weights(secret_context, public_context, WEIGHTS)
    result = CkksBatchScorer(BOUNDS).score(
        public_context, weights, features, np.zeros_like(consented)
    )
    assert np.max(np.abs(_decrypt_every_slot(secret_context, result))) <= 1e-5


def test_two_answers_for_the_same_inputs_are_different_ciphertexts(
    secret_context: ts.Context,
    public_context: CkksContext,
    batch: Batch,
) -> None:
    features, consented = batch(50)
    weights = _encrypt_weights(secret_context, public_context, WEIGHTS)
    scorer = CkksBatchScorer(BOUNDS)
    first = scorer.score(public_context, weights, features, consented)
    second = scorer.score(public_context, weights, features, consented)
    assert first != second
    assert (
        np.max(
            np.abs(
                _decrypt_every_slot(secret_context, first)
                - _decrypt_every_slot(secret_context, second)
            )
        )
        <= 1e-5
    )


def test_concurrent_scores_on_one_context_are_each_right(
    secret_context: ts.Context,
    public_context: CkksContext,
    batch: Batch,
) -> None:
    weights = _encrypt_weights(secret_context, public_context, WEIGHTS)
    scorer = CkksBatchScorer(BOUNDS)
    inputs = [batch(200, seed) for seed in range(4)]
    results: dict[int, bytes] = {}

    def run(k: int) -> None:
        results[k] = scorer.score(public_context, weights, *inputs[k])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for k, (features, consented) in enumerate(inputs):
        expected = np.zeros(CKKS_SLOTS)
        expected[:200] = np.where(consented, features @ np.array(WEIGHTS), 0.0)
        slots = _decrypt_every_slot(secret_context, results[k])
        assert np.max(np.abs(slots - expected)) / SCORE_SCALE <= 1e-5


def test_features_outside_their_bounds_are_refused_naming_the_feature(
    secret_context: ts.Context,
    public_context: CkksContext,
    batch: Batch,
) -> None:
    features, consented = batch(10)
    features[3, 5] = 2  # the chronic flag is 0 or 1
    weights = _encrypt_weights(secret_context, public_context, WEIGHTS)
    with pytest.raises(FeaturesInvalid) as excinfo:
        CkksBatchScorer(BOUNDS).score(public_context, weights, features, consented)
    assert (excinfo.value.problem, excinfo.value.feature) == ("OUT_OF_BOUNDS", "chronic")
    assert excinfo.value.reason == "INTERNAL"
    assert "2" not in str(excinfo.value).replace("CKKS", "")


@pytest.mark.parametrize(
    ("features", "consented", "problem"),
    [
        (np.zeros((4, len(BOUNDS)), dtype=np.float64), np.ones(4, dtype=bool), "NOT_INTEGER"),
        (np.zeros((4, len(BOUNDS)), dtype=bool), np.ones(4, dtype=bool), "NOT_INTEGER"),
        (np.zeros((4, 2), dtype=np.int64), np.ones(4, dtype=bool), "SHAPE"),
        (np.zeros(4, dtype=np.int64), np.ones(4, dtype=bool), "SHAPE"),
        (np.zeros((4, len(BOUNDS)), dtype=np.int64), np.ones(3, dtype=bool), "CONSENT"),
        (np.zeros((4, len(BOUNDS)), dtype=np.int64), np.ones(4, dtype=np.int64), "CONSENT"),
    ],
)
def test_a_malformed_feature_matrix_is_refused(
    secret_context: ts.Context,
    public_context: CkksContext,
    features: npt.NDArray[np.generic],
    consented: npt.NDArray[np.generic],
    problem: str,
) -> None:
    weights = _encrypt_weights(secret_context, public_context, WEIGHTS)
    with pytest.raises(FeaturesInvalid) as excinfo:
        CkksBatchScorer(BOUNDS).score(public_context, weights, features, consented)
    assert excinfo.value.problem == problem


def test_more_persons_than_slots_is_refused(
    secret_context: ts.Context, public_context: CkksContext
) -> None:
    weights = _encrypt_weights(secret_context, public_context, WEIGHTS)
    features = np.zeros((CKKS_SLOTS + 1, len(BOUNDS)), dtype=np.int64)
    with pytest.raises(CkksBatchTooLarge) as excinfo:
        CkksBatchScorer(BOUNDS).score(
            public_context, weights, features, np.ones(CKKS_SLOTS + 1, dtype=bool)
        )
    assert excinfo.value.reason == "BATCH_TOO_LARGE"


def test_the_wrong_number_of_weights_or_another_context_is_refused(
    secret_context: ts.Context, public_context: CkksContext, public_bytes: bytes
) -> None:
    weights = _encrypt_weights(secret_context, public_context, WEIGHTS)
    features = np.zeros((4, len(BOUNDS)), dtype=np.int64)
    everyone = np.ones(4, dtype=bool)
    scorer = CkksBatchScorer(BOUNDS)
    with pytest.raises(CiphertextInvalid) as excinfo:
        scorer.score(public_context, weights[:-1], features, everyone)
    assert excinfo.value.problem == "COUNT"
    other = load_public_context(public_bytes)
    with pytest.raises(CiphertextInvalid) as excinfo:
        scorer.score(other, weights, features, everyone)
    assert excinfo.value.problem == "CONTEXT"


def test_bounds_past_the_precision_budget_are_refused() -> None:
    with pytest.raises(ValueError, match="bounds"):
        FeatureBound("self_paid_cents", 0, 2**40)
    with pytest.raises(ValueError, match="bounds"):
        FeatureBound("upside_down", 5, 1)
    with pytest.raises(ValueError, match="at least one"):
        CkksBatchScorer(())


def test_the_context_keeps_the_zones_scale(public_context: CkksContext) -> None:
    assert public_context._ts.global_scale == CKKS_SCALE
    assert public_context._ts.auto_rescale
