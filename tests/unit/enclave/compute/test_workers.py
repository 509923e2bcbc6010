"""CkksWorkers with real worker processes: scores as the in-process scorer's, the core's
refusals as the same classes and problems, a killed or late worker replaced with a zone error,
calls from several threads, the address-space cap set in each worker."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tenseal as ts

from enclave.compute import (
    CKKS_SLOTS,
    CiphertextInvalid,
    CkksBatchScorer,
    CkksBatchTooLarge,
    CkksWorkerFailed,
    CkksWorkers,
    CkksWorkerTimeout,
    ContextInvalid,
    FeatureBound,
    FeaturesInvalid,
    LocalCkks,
    load_ciphertext,
    load_public_context,
)
from grpc_api._status import refusal_for

BOUNDS = (FeatureBound("a", 0, 10), FeatureBound("b", -5, 5))
MEMORY = 3 * 1024**3 + 4096


def _weights(secret: ts.Context, values: list[float]) -> list[bytes]:
    return [ts.ckks_vector(secret, [w] * CKKS_SLOTS).serialize() for w in values]


@pytest.fixture(scope="module")
def pool() -> Iterator[CkksWorkers]:
    with CkksWorkers(2, memory_limit=MEMORY) as workers:
        yield workers


def _score(
    workers: CkksWorkers | LocalCkks,
    key: bytes,
    context: bytes,
    weights: list[bytes],
    features: np.ndarray,
    consented: np.ndarray,
    timeout: float = 60.0,
) -> bytes:
    return workers.score(
        key,
        context=context,
        weights=weights,
        bounds=BOUNDS,
        features=features,
        consented=consented,
        timeout=timeout,
    )


def test_scores_equal_the_in_process_scorer_and_unconsented_slots_are_zero(
    pool: CkksWorkers, secret_context: ts.Context, public_bytes: bytes
) -> None:
    rng = np.random.default_rng(12)
    features = np.stack([rng.integers(0, 11, 300), rng.integers(-5, 6, 300)], axis=1)
    consented = rng.random(300) < 0.7
    weights = _weights(secret_context, [0.5, -1.25])
    first = _score(pool, b"model-a", public_bytes, weights, features, consented)
    second = _score(pool, b"model-a", public_bytes, weights, features, consented)
    assert first != second  # re-randomised in the worker too
    context = load_public_context(public_bytes)
    local = CkksBatchScorer(BOUNDS).score(
        context, [load_ciphertext(context, w) for w in weights], features, consented
    )
    expected = np.array(ts.ckks_vector_from(secret_context, local).decrypt())
    for answer in (first, second):
        slots = np.array(ts.ckks_vector_from(secret_context, answer).decrypt())
        assert np.max(np.abs(slots - expected)) < 1e-6
        assert np.max(np.abs(slots[:300][~consented])) < 1e-5
        assert np.max(np.abs(slots[300:])) < 1e-5
    exact = np.where(consented, features @ np.array([0.5, -1.25]), 0.0)
    assert np.max(np.abs(slots[:300] - exact)) < 1e-4


def test_a_model_crosses_to_a_worker_once(
    pool: CkksWorkers, secret_context: ts.Context, public_bytes: bytes
) -> None:
    weights = _weights(secret_context, [1.0, 2.0])
    features, consented = np.array([[1, 1]]), np.array([True])
    for _ in range(4):
        _score(pool, b"model-once", public_bytes, weights, features, consented)
    # Every later call found a worker holding the model: bytes sent with it are never read
    # again, so junk in their place still scores.
    answer = _score(pool, b"model-once", b"junk", [b"junk", b"junk"], features, consented)
    assert ts.ckks_vector_from(secret_context, answer).decrypt()[0] == pytest.approx(3, abs=1e-4)


def test_the_cores_refusals_come_back_as_the_same_classes_problems_and_messages(
    pool: CkksWorkers, secret_context: ts.Context, public_bytes: bytes
) -> None:
    features, consented = np.zeros((1, 2), dtype=np.int64), np.array([True])
    with pytest.raises(ContextInvalid) as context_refused:
        _score(pool, b"bad-context", b"\x00" * 100, [], features, consented)
    assert context_refused.value.problem == "MALFORMED"
    local = LocalCkks()
    with pytest.raises(ContextInvalid) as local_refused:
        _score(local, b"bad-context", b"\x00" * 100, [], features, consented)
    assert str(context_refused.value) == str(local_refused.value)
    refusal = refusal_for(context_refused.value)
    assert (refusal.code.name, refusal.reason, refusal.metadata) == (
        "INVALID_ARGUMENT",
        "CONTEXT_INVALID",
        {"problem": "MALFORMED"},
    )
    with pytest.raises(CiphertextInvalid) as junk:
        _score(pool, b"bad-weight", public_bytes, [b"junk", b"junk"], features, consented)
    assert junk.value.problem == "MALFORMED"
    with pytest.raises(CiphertextInvalid) as count:
        _score(
            pool, b"one-weight", public_bytes, _weights(secret_context, [1.0]), features, consented
        )
    assert count.value.problem == "COUNT"
    with pytest.raises(CiphertextInvalid) as large:
        _score(pool, b"large", public_bytes, [os.urandom(5_000_000)] * 2, features, consented)
    assert large.value.problem == "TOO_LARGE"
    weights = _weights(secret_context, [1.0, 1.0])
    with pytest.raises(FeaturesInvalid) as outside:
        _score(pool, b"model-f", public_bytes, weights, np.array([[11, 0]]), consented)
    assert (outside.value.problem, outside.value.feature) == ("OUT_OF_BOUNDS", "a")
    with pytest.raises(CkksBatchTooLarge) as too_many:
        big = np.zeros((CKKS_SLOTS + 1, 2), dtype=np.int64)
        _score(pool, b"model-f", public_bytes, weights, big, np.ones(CKKS_SLOTS + 1, bool))
    assert (too_many.value.persons, too_many.value.slots) == (CKKS_SLOTS + 1, CKKS_SLOTS)
    # the refusals left the workers serving
    _score(pool, b"model-f", public_bytes, weights, np.array([[1, 1]]), consented)


def test_calls_from_several_threads(
    pool: CkksWorkers, secret_context: ts.Context, public_bytes: bytes
) -> None:
    weights = _weights(secret_context, [2.0, 3.0])
    answers: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            features = np.array([[i, 1]])
            answers[i] = _score(pool, b"model-t", public_bytes, weights, features, np.array([True]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for i, answer in answers.items():
        score = ts.ckks_vector_from(secret_context, answer).decrypt()[0]
        assert score == pytest.approx(2.0 * i + 3.0, abs=1e-4)
    assert len(answers) == 6


def test_each_worker_caps_its_address_space(pool: CkksWorkers) -> None:
    for pid in pool.pids():
        limits = Path(f"/proc/{pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
        assert line.split()[3:5] == [str(MEMORY), str(MEMORY)]


def test_a_killed_worker_is_a_zone_error_and_is_replaced(
    secret_context: ts.Context, public_bytes: bytes
) -> None:
    weights = _weights(secret_context, [1.0, -1.0])
    features, consented = np.array([[4, 1]]), np.array([True])
    with CkksWorkers(1) as workers:
        _score(workers, b"model-k", public_bytes, weights, features, consented)
        (pid,) = workers.pids()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(CkksWorkerFailed) as failed:
            _score(workers, b"model-k", public_bytes, weights, features, consented)
        assert failed.value.problem == "CRASHED"
        refusal = refusal_for(failed.value)
        assert (refusal.code.name, refusal.reason) == ("UNAVAILABLE", "UNAVAILABLE")
        assert workers.pids() != (pid,)
        answer = _score(workers, b"model-k", public_bytes, weights, features, consented)
        assert ts.ckks_vector_from(secret_context, answer).decrypt()[0] == pytest.approx(
            3.0, abs=1e-4
        )
        # a call past its timeout recycles the worker and answers DEADLINE_EXCEEDED
        (pid,) = workers.pids()
        with pytest.raises(CkksWorkerTimeout) as late:
            _score(workers, b"model-new", public_bytes, weights, features, consented, 0.001)
        assert late.value.problem == "TIMEOUT"
        assert refusal_for(late.value).code.name == "DEADLINE_EXCEEDED"
        assert workers.pids() != (pid,)
        _score(workers, b"model-new", public_bytes, weights, features, consented)
    with pytest.raises(CkksWorkerFailed) as closed:
        _score(workers, b"model-k", public_bytes, weights, features, consented)
    assert closed.value.problem == "CLOSED"
