"""LocalCkks: the in-process CKKS backend loads a model once, scores like CkksBatchScorer and
refuses what the core refuses."""

from __future__ import annotations

import numpy as np
import pytest
import tenseal as ts

from enclave.compute import CKKS_SLOTS, CiphertextInvalid, ContextInvalid, FeatureBound, LocalCkks

BOUNDS = (FeatureBound("a", 0, 10), FeatureBound("b", -5, 5))


def _weights(secret: ts.Context, values: list[float]) -> list[bytes]:
    return [ts.ckks_vector(secret, [w] * CKKS_SLOTS).serialize() for w in values]


def test_scores_decrypt_to_the_plain_scores_and_unconsented_slots_to_zero(
    secret_context: ts.Context, public_bytes: bytes
) -> None:
    backend = LocalCkks(cached_models=1)
    features = np.array([[3, -2], [10, 5], [0, 0]], dtype=np.int64)
    consented = np.array([True, False, True])
    weights = _weights(secret_context, [0.5, -1.25])
    first = backend.score(
        b"model-1",
        context=public_bytes,
        weights=weights,
        bounds=BOUNDS,
        features=features,
        consented=consented,
        timeout=10.0,
    )
    again = backend.score(
        b"model-1",
        context=public_bytes,
        weights=weights,
        bounds=BOUNDS,
        features=features,
        consented=consented,
        timeout=10.0,
    )
    assert first != again  # re-randomised
    slots = ts.ckks_vector_from(secret_context, first).decrypt()
    assert slots[0] == pytest.approx(3 * 0.5 + -2 * -1.25, abs=1e-4)
    assert abs(slots[1]) < 1e-4 and abs(slots[2]) < 1e-4
    assert max(abs(v) for v in slots[3:]) < 1e-4
    backend.close()


def test_malformed_uploads_are_refused_by_the_core(
    secret_context: ts.Context, public_bytes: bytes
) -> None:
    backend = LocalCkks()
    plain = {
        "bounds": BOUNDS,
        "features": np.zeros((1, 2), dtype=np.int64),
        "consented": np.array([True]),
        "timeout": 1.0,
    }
    with pytest.raises(ContextInvalid) as context_refused:
        backend.score(b"bad-context", context=b"\x00" * 100, weights=[], **plain)  # type: ignore[arg-type]
    assert context_refused.value.problem == "MALFORMED"
    with pytest.raises(CiphertextInvalid) as ciphertext_refused:
        backend.score(b"bad-weight", context=public_bytes, weights=[b"junk", b"junk"], **plain)  # type: ignore[arg-type]
    assert ciphertext_refused.value.problem == "MALFORMED"
    with pytest.raises(ValueError, match="at least one"):
        LocalCkks(cached_models=0)
