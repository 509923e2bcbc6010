"""The encrypted face match, zone side (issue 13): the answer holds nothing but the blinded
value in every one of its 4096 slots, its sign is the clear cosine's against tau, a query
that is not unit length gets the random offset, and every bad context or query is refused
with its problem code -- in process and through the CKKS worker processes."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest
import tenseal as ts

from enclave.compute import (
    CKKS_SLOTS,
    FACE_MATCH_LIMITS,
    CiphertextInvalid,
    CkksLimits,
    CkksWorkers,
    CkksWorkerTimeout,
    ContextInvalid,
    FaceBlinding,
    LocalCkks,
    face_match,
    load_ciphertext,
    load_face_match_context,
    match_face,
    screen_face_match,
)
from enclave.compute._ckks import _vector_proto
from tests.unit.enclave.compute.conftest import make_context

TAU = 0.55


@pytest.fixture(scope="module")
def secret() -> ts.Context:
    context = make_context()
    context.generate_galois_keys()
    return context


@pytest.fixture(scope="module")
def public(secret: ts.Context) -> bytes:
    context = secret.copy()
    context.make_context_public()
    data: bytes = context.serialize()
    return data


def _unit(rng: np.random.Generator) -> npt.NDArray[np.float64]:
    v = rng.normal(size=128)
    return v / np.linalg.norm(v)


def _near(
    t: npt.NDArray[np.float64], cosine: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """A unit vector at exactly ``cosine`` from unit ``t``."""
    other = rng.normal(size=128)
    other -= (other @ t) * t
    other /= np.linalg.norm(other)
    near: npt.NDArray[np.float64] = cosine * t + np.sqrt(1.0 - cosine**2) * other
    return near


def _query(secret: ts.Context, q: npt.NDArray[np.float64]) -> bytes:
    slots = np.zeros(CKKS_SLOTS)
    slots[: len(q)] = q
    data: bytes = ts.ckks_vector(secret, slots).serialize()
    return data


def _slots(secret: ts.Context, answer: bytes) -> npt.NDArray[np.float64]:
    vector = ts.ckks_vector_from(secret, answer)
    assert vector.size() == CKKS_SLOTS  # the answer says what it holds: all 4096 slots
    return np.array(vector.decrypt())


def test_every_slot_holds_the_blinded_value_and_nothing_else(
    secret: ts.Context, public: bytes
) -> None:
    rng = np.random.default_rng(13)
    t = _unit(rng)
    q = _near(t, 0.7, rng)
    blinding = FaceBlinding(scale=37.25, offset=-101.5)
    context = load_face_match_context(public)
    answer = face_match(load_ciphertext(context, _query(secret, q)), t, TAU, blinding=blinding)
    slots = _slots(secret, answer)
    expected = 37.25 * (0.7 - TAU) + -101.5 * (q @ q - 1.0)
    assert np.abs(slots - expected).max() < 1e-3
    assert slots.max() - slots.min() < 1e-4  # all equal: no partial sums, no template values
    # Not one slot is near a template value (scaled or not) rather than the total.
    for value in (*t, *(37.25 * t)):
        if abs(value - expected) > 1e-2:
            assert np.abs(slots - value).min() > 1e-3


@pytest.mark.parametrize("cosine", [-0.3, 0.2, TAU - 0.01, TAU + 0.01, 0.8, 0.99])
def test_the_sign_agrees_with_the_clear_cosine_against_tau(
    secret: ts.Context, public: bytes, cosine: float
) -> None:
    rng = np.random.default_rng(int(cosine * 1000) % 977)
    t = _unit(rng)
    q = _near(t, cosine, rng)
    # The zone normalises the template itself: an unnormalised one gives the same answer.
    answer = match_face(context=public, query=_query(secret, q), template=3.0 * t, tau=TAU)
    slots = _slots(secret, answer)
    assert np.all(np.sign(slots) == np.sign(cosine - TAU))


def test_a_query_that_is_not_unit_length_gets_the_random_offset(
    secret: ts.Context, public: bytes
) -> None:
    rng = np.random.default_rng(5)
    t = _unit(rng)
    q = 3.0 * _near(t, 0.5, rng)  # would pass tau = 0.55 as 1.5 without the offset term
    blinding = FaceBlinding(scale=10.0, offset=-2.0)
    context = load_face_match_context(public)
    slots = _slots(
        secret, face_match(load_ciphertext(context, _query(secret, q)), t, TAU, blinding=blinding)
    )
    expected = 10.0 * (1.5 - TAU) - 2.0 * (9.0 - 1.0)
    assert np.abs(slots - expected).max() < 1e-2
    assert np.all(slots < 0)


def test_answers_are_fresh_each_time(secret: ts.Context, public: bytes) -> None:
    rng = np.random.default_rng(7)
    t = _unit(rng)
    query = _query(secret, _near(t, 0.9, rng))
    first = match_face(context=public, query=query, template=t, tau=TAU)
    second = match_face(context=public, query=query, template=t, tau=TAU)
    assert first != second
    a, b = _slots(secret, first)[0], _slots(secret, second)[0]
    assert a > 0 and b > 0 and abs(a - b) > 1e-3  # a fresh scale s each time
    assert FaceBlinding.fresh() != FaceBlinding.fresh()


def test_contexts_are_refused_with_their_problem(secret: ts.Context, public: bytes) -> None:
    no_galois = make_context()
    no_galois.make_context_public()
    private = secret.serialize(save_secret_key=True)
    no_relin = secret.copy()
    no_relin.make_context_public()
    cases = {
        "NO_GALOIS_KEYS": no_galois.serialize(),
        "SECRET_KEY": private,
        "NO_RELIN_KEYS": no_relin.serialize(save_relin_keys=False),
        "MALFORMED": b"not a context" * 100,
    }
    for problem, data in cases.items():
        with pytest.raises(ContextInvalid) as caught:
            load_face_match_context(data)
        assert caught.value.problem == problem
        assert caught.value.reason == "CONTEXT_INVALID"
    with pytest.raises(ContextInvalid) as caught:
        load_face_match_context(public, CkksLimits(context_bytes=len(public) - 1))
    assert caught.value.problem == "TOO_LARGE"
    assert len(public) <= FACE_MATCH_LIMITS.context_bytes  # the default keys fit the limit


def test_queries_are_refused_with_their_problem(secret: ts.Context, public: bytes) -> None:
    t = _unit(np.random.default_rng(1))
    good = _query(secret, t)
    short: bytes = ts.ckks_vector(secret, list(t)).serialize()
    cases = {
        "MALFORMED": b"\x00garbage" * 50,
        "SLOTS": short,
        "TOO_LARGE": b"x" * (FACE_MATCH_LIMITS.ciphertext_bytes + 1),
    }
    for problem, data in cases.items():
        with pytest.raises(CiphertextInvalid) as caught:
            match_face(context=public, query=data, template=t, tau=TAU)
        assert caught.value.problem == problem
        assert caught.value.reason == "CIPHERTEXT_INVALID"
    # A query past the top level (the partner multiplied it) is refused too.
    deep = ts.ckks_vector_from(secret, good)
    deep.mul_(1.0)
    with pytest.raises(CiphertextInvalid) as caught:
        match_face(context=public, query=deep.serialize(), template=t, tau=TAU)
    assert caught.value.problem == "LEVEL"


def test_the_answer_is_summed_so_the_serialized_sizes_say_all_slots(
    secret: ts.Context, public: bytes
) -> None:
    t = _unit(np.random.default_rng(2))
    answer = match_face(context=public, query=_query(secret, t), template=t, tau=TAU)
    assert list(_vector_proto().FromString(answer).sizes) == [CKKS_SLOTS]
    assert len(answer) < 400_000


@pytest.fixture(scope="module")
def workers() -> Iterator[CkksWorkers]:
    with CkksWorkers(1, memory_limit=3 * 1024**3) as pool:
        yield pool


def test_the_workers_and_local_backend_answer_the_same_way(
    secret: ts.Context, public: bytes, workers: CkksWorkers
) -> None:
    rng = np.random.default_rng(3)
    t = _unit(rng)
    query = _query(secret, _near(t, 0.9, rng))
    for backend in (workers, LocalCkks()):
        answer = backend.match(context=public, query=query, template=t, tau=TAU, timeout=60.0)
        assert np.all(_slots(secret, answer) > 0)
        with pytest.raises(ContextInvalid) as caught:
            backend.match(context=b"junk", query=query, template=t, tau=TAU, timeout=60.0)
        assert caught.value.problem == "MALFORMED"
        with pytest.raises(CiphertextInvalid) as bad:
            backend.match(context=public, query=b"junk", template=t, tau=TAU, timeout=60.0)
        assert bad.value.problem == "MALFORMED"


def test_the_screen_refuses_from_the_envelopes_alone(secret: ts.Context, public: bytes) -> None:
    query = _query(secret, _unit(np.random.default_rng(4)))
    screen_face_match(public, query)  # a good pair passes
    no_galois = make_context()
    no_galois.make_context_public()
    no_relin = secret.copy()
    no_relin.make_context_public()
    contexts = {
        "NO_GALOIS_KEYS": no_galois.serialize(),
        "SECRET_KEY": secret.serialize(save_secret_key=True),
        "NO_RELIN_KEYS": no_relin.serialize(save_relin_keys=False),
        "MALFORMED": b"\xff" * 64,
        "TOO_LARGE": b"x" * (FACE_MATCH_LIMITS.context_bytes + 1),
    }
    for problem, data in contexts.items():
        with pytest.raises(ContextInvalid) as caught:
            screen_face_match(data, query)
        assert caught.value.problem == problem
    short: bytes = ts.ckks_vector(secret, [1.0] * 8).serialize()
    for problem, data in {"SLOTS": short, "MALFORMED": b"\xff" * 64}.items():
        with pytest.raises(CiphertextInvalid) as bad:
            screen_face_match(public, data)
        assert bad.value.problem == problem


def test_a_match_past_its_timeout_recycles_the_worker(secret: ts.Context, public: bytes) -> None:
    t = _unit(np.random.default_rng(6))
    query = _query(secret, t)
    with CkksWorkers(1, memory_limit=3 * 1024**3) as pool:
        (before,) = pool.pids()
        with pytest.raises(CkksWorkerTimeout) as caught:
            pool.match(context=public, query=query, template=t, tau=TAU, timeout=0.01)
        assert caught.value.problem == "TIMEOUT"
        (after,) = pool.pids()
        assert after != before  # killed and replaced
        answer = pool.match(context=public, query=query, template=t, tau=TAU, timeout=60.0)
        assert np.all(_slots(secret, answer) > 0)  # cosine 1 > tau


def _complex_query(secret: ts.Context, q: npt.NDArray[np.complex128]) -> bytes:
    """A 4096-slot query with complex slots, made with SEAL's own encoder (TenSEAL encodes
    reals only): what a partner using SEAL directly can send."""
    import os

    import tenseal.sealapi as sealapi

    seal_context = secret.seal_context().data
    encoder = sealapi.CKKSEncoder(seal_context)
    plain = sealapi.Plaintext()
    slots = [complex(0.0)] * CKKS_SLOTS
    slots[: len(q)] = [complex(v) for v in q]
    encoder.encode(slots, 2.0**40, plain)
    cipher = sealapi.Ciphertext()
    sealapi.Encryptor(seal_context, secret.public_key().data).encrypt(plain, cipher)
    fd = os.memfd_create("test-ct")
    try:
        cipher.save(f"/proc/self/fd/{fd}")
        with open(f"/proc/self/fd/{fd}", "rb") as handle:
            raw = handle.read()
    finally:
        os.close(fd)
    message = _vector_proto()(sizes=[CKKS_SLOTS], ciphertexts=[raw], scale=2.0**40)
    data: bytes = message.SerializeToString()
    return data


def _complex_slots(secret: ts.Context, answer: bytes) -> npt.NDArray[np.complex128]:
    import os

    import tenseal.sealapi as sealapi

    seal_context = secret.seal_context().data
    raw = _vector_proto().FromString(answer).ciphertexts[0]
    fd = os.memfd_create("test-ct")
    try:
        with open(fd, "wb", closefd=False) as handle:
            handle.write(raw)
        cipher = sealapi.Ciphertext()
        cipher.load(seal_context, f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    plain = sealapi.Plaintext()
    sealapi.Decryptor(seal_context, secret.secret_key().data).decrypt(cipher, plain)
    return np.array(sealapi.CKKSEncoder(seal_context).decode_complex(plain))


def test_a_complex_query_learns_no_more_than_its_real_part(
    secret: ts.Context, public: bytes
) -> None:
    # The review's attack: q = a + ib with |a|^2 - |b|^2 = 1 and <a,b> = 0 cancels the offset
    # of a plain q*q, and Im(y) / Re(y) = <b,t> / (<a,t> - tau) cancels the scale: one linear
    # equation on the template per answer. The zone answers the real part only, and the
    # offset weighs the true |q|^2 = |a|^2 + |b|^2.
    rng = np.random.default_rng(29)
    t = _unit(rng)
    b = _near(t, 0.6, rng) * 0.5  # leaning towards t, so <b,t> is far from 0
    a = rng.normal(size=128)
    a -= (a @ b) / (b @ b) * b
    a *= np.sqrt(1.0 + b @ b) / np.linalg.norm(a)
    q = a + 1j * b
    assert abs((a @ a) - (b @ b) - 1.0) < 1e-9 and abs(a @ b) < 1e-9
    blinding = FaceBlinding(scale=40.0, offset=-90.0)
    context = load_face_match_context(public)
    query = load_ciphertext(context, _complex_query(secret, q))
    slots = _complex_slots(secret, face_match(query, t, TAU, blinding=blinding))
    assert np.abs(slots.imag).max() < 1e-3  # nothing of <b,t> in the imaginary parts
    expected = 40.0 * (a @ t - TAU) - 90.0 * ((a @ a) + (b @ b) - 1.0)
    assert np.abs(slots.real - expected).max() < 1e-2  # the offset is not cancelled
