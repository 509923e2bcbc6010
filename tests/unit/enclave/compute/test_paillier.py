"""The Paillier scoring core against real phe with a real 3072-bit key (issue 12)."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import gmpy2
import phe
import pytest

from dataward.compute import decode_score, low_bits_signed
from enclave.compute import (
    EncryptedWeights,
    FeatureBound,
    FeatureOutOfBounds,
    GmpyMissing,
    ModelInvalid,
    ObfuscatorPool,
    PaillierError,
    PaillierScore,
    PaillierScorer,
    PartnerKey,
    PartnerKeyRefused,
    WeightsRefused,
)
from enclave.errors import ZoneError
from tests.unit.enclave.compute.conftest import BoundsFactory, Partner


def _signed_mod(value: int, width: int) -> int:
    """``value`` reduced to ``[-2**(width-1), 2**(width-1))`` modulo ``2**width``."""
    low = value % (1 << width)
    return low - (1 << width) if low >= 1 << (width - 1) else low


# -- correctness -----------------------------------------------------------------------------
@pytest.mark.parametrize("width", [64, 40, 8, 1])
def test_the_score_decrypts_to_the_dot_product_in_its_low_width_bits(
    partner: Partner, bounds: BoundsFactory, width: int
) -> None:
    rng = random.Random(width)
    feature_bounds = bounds((-50, 50), (0, 36), (0, 1), (-1000, 0), (0, 65535), (-3, 3))
    for _ in range(3):
        mantissas = [rng.randint(-(2**20), 2**20) for _ in feature_bounds]
        features = [rng.randint(b.low, b.high) for b in feature_bounds]
        scorer = PaillierScorer(partner.key, partner.encrypt(mantissas), feature_bounds, width)
        score = scorer.score(features)
        true = sum(m * x for m, x in zip(mantissas, features, strict=True))
        plaintext = partner.decrypt(score.ciphertext)
        assert low_bits_signed(plaintext, width) == _signed_mod(true, width)
        assert decode_score(plaintext, width, 0) == _signed_mod(true, width)
        if width == 64:  # |true| < 2^37: the whole score fits
            assert decode_score(plaintext, width, 0) == true


def test_fixed_point_weights_decode_to_the_exact_score(
    partner: Partner, bounds: BoundsFactory
) -> None:
    weights = [Fraction(5, 4), Fraction(-3, 16), Fraction(1, 4096), Fraction(-7)]
    exponent = -3  # 16**-3: every weight above is a whole number of 1/4096
    mantissas = [int(w * 16**-exponent) for w in weights]
    feature_bounds = bounds((0, 36), (0, 36), (-100, 100), (0, 1))
    scorer = PaillierScorer(
        partner.key, partner.encrypt(mantissas, exponent), feature_bounds, width=48
    )
    features = [36, 7, -99, 1]
    score = scorer.score(features)
    assert score.exponent == exponent
    decoded = decode_score(partner.decrypt(score.ciphertext), score.width, score.exponent)
    assert decoded == sum(w * x for w, x in zip(weights, features, strict=True))


def test_the_low_bit_noise_stays_within_the_policys_bound(
    partner: Partner, bounds: BoundsFactory
) -> None:
    feature_bounds = bounds((0, 100), (0, 100))
    scorer = PaillierScorer(partner.key, partner.encrypt([3, -2]), feature_bounds, 32, noise=3)
    errors = {
        decode_score(partner.decrypt(scorer.score([10, 20]).ciphertext), 32, 0) - (30 - 40)
        for _ in range(12)
    }
    assert errors <= set(range(-3, 4))


def test_two_scores_of_the_same_inputs_are_different_ciphertexts_that_decrypt_equally(
    partner: Partner, bounds: BoundsFactory
) -> None:
    feature_bounds = bounds((0, 36), (-5, 5))
    scorer = PaillierScorer(partner.key, partner.encrypt([7, 11]), feature_bounds, 16)
    first, second = scorer.score([12, -4]), scorer.score([12, -4])
    assert first.ciphertext != second.ciphertext
    a, b = partner.decrypt(first.ciphertext), partner.decrypt(second.ciphertext)
    assert a != b  # the masks differ above the width ...
    assert decode_score(a, 16, 0) == decode_score(b, 16, 0) == 7 * 12 - 11 * 4  # ... not below


def test_the_exponent_is_the_models_whatever_the_weights_and_features(
    partner: Partner, bounds: BoundsFactory
) -> None:
    feature_bounds = bounds((-9, 9), (-9, 9))
    for mantissas in ([0, 0], [1, -1], [2**300, -(2**200)], [partner.public.n - 1, 5]):
        scorer = PaillierScorer(partner.key, partner.encrypt(mantissas, -6), feature_bounds, 8)
        for features in ([0, 0], [9, -9], [-1, 3]):
            assert scorer.score(features).exponent == -6


def test_what_leaves_is_plain_integers_with_a_fixed_width_encoding(
    partner: Partner, bounds: BoundsFactory
) -> None:
    scorer = PaillierScorer(partner.key, partner.encrypt([1]), bounds((0, 1)), 8)
    score = scorer.score([0])
    assert type(score) is PaillierScore
    assert type(score.ciphertext) is int and type(score.exponent) is int
    assert not isinstance(score.ciphertext, phe.EncryptedNumber)
    encoded = score.to_bytes()
    assert len(encoded) == 768 == score.ciphertext_bytes
    assert int.from_bytes(encoded, "big") == score.ciphertext
    assert 1 <= score.ciphertext < partner.public.nsquare


# -- the packing attack ------------------------------------------------------------------------
SLOTS, SLOT_BITS, VALUE_BITS, WIDTH, TRIALS = 8, 32, 16, 16, 32
HIGH_BITS = (SLOTS - 1) * SLOT_BITS + VALUE_BITS  # 240: where features 1..7 would be


def _ones_far_from_half(values: list[int], bits: int) -> bool:
    """Whether the ones among the ``bits`` low bits of ``values`` are more than 10 standard
    deviations from half. For uniform bits, Hoeffding bounds that by 2*exp(-50) < 4e-22:
    this cannot flake."""
    total = bits * len(values)
    ones = sum(bin(v & ((1 << bits) - 1)).count("1") for v in values)
    return abs(ones - total / 2) > 10 * math.sqrt(total / 4)


@pytest.mark.parametrize("lift", [0, 2800], ids=["packed", "packed-and-lifted-past-any-bound"])
def test_weights_that_pack_features_yield_only_the_low_width_bits(
    partner: Partner, bounds: BoundsFactory, lift: int
) -> None:
    """w_j = 2^(32j) (and the same times 2^2800, past any bound the zone could put on an
    honest score) on 8 features of 16 bits, a model declaring 16 bits: the partner gets the
    low 16 bits of the first feature and uniform bits where the other seven would be."""
    rng = random.Random(lift)
    feature_bounds = bounds(*[(0, 2**VALUE_BITS - 1)] * SLOTS)
    mantissas = [1 << (SLOT_BITS * j + lift) for j in range(SLOTS)]
    with ObfuscatorPool(partner.key, target=0) as pool:
        scorer = PaillierScorer(
            partner.key, partner.encrypt(mantissas), feature_bounds, WIDTH, obfuscators=pool
        )
        people = [[rng.getrandbits(VALUE_BITS) for _ in range(SLOTS)] for _ in range(TRIALS)]
        plaintexts = [partner.decrypt(scorer.score(x).ciphertext) for x in people]

    high = [(d >> (lift + WIDTH)) for d in plaintexts]
    assert not _ones_far_from_half(high, HIGH_BITS)
    guesses = sum(
        (d >> (lift + SLOT_BITS * j)) & (2**VALUE_BITS - 1) == x[j]
        for d, x in zip(plaintexts, people, strict=True)
        for j in range(1, SLOTS)
    )
    assert guesses <= 3  # 224 guesses at 2^-16 each: P(4 or more) < 1e-11
    if lift == 0:  # the low 16 bits are the first feature: exactly what the model may have
        assert [d % 2**WIDTH for d in plaintexts] == [x[0] for x in people]
        # the test has power: the packed score itself fails it
        unmasked = [sum(m * v for m, v in zip(mantissas, x, strict=True)) for x in people]
        assert _ones_far_from_half([u >> WIDTH for u in unmasked], HIGH_BITS)


# -- refusals ----------------------------------------------------------------------------------
def _prime(bits: int, seed: int) -> int:
    r = random.Random(seed).getrandbits(bits) | (3 << (bits - 2))
    return int(gmpy2.next_prime(r))


@pytest.mark.parametrize(
    ("modulus", "check"),
    [
        pytest.param(lambda p: p.public.n - 1, "odd", id="even"),
        pytest.param(lambda p: _prime(1024, 1) * _prime(1024, 2), "size", id="2048-bit"),
        pytest.param(lambda p: _prime(1537, 1) * _prime(1537, 2), "size", id="3074-bit"),
        pytest.param(lambda p: 3 * _prime(3070, 3), "small_factor", id="factor-3"),
        pytest.param(lambda p: 65521 * _prime(3056, 4), "small_factor", id="factor-65521"),
        pytest.param(lambda p: _prime(1536, 5) ** 2, "perfect_power", id="square"),
        pytest.param(lambda p: _prime(3072, 6), "prime", id="prime"),
        pytest.param(lambda p: str(p.public.n), "type", id="text"),
        pytest.param(lambda p: True, "type", id="bool"),
    ],
)
def test_a_key_that_is_not_a_3072_bit_paillier_modulus_is_refused(
    partner: Partner, modulus: object, check: str
) -> None:
    n = modulus(partner)  # type: ignore[operator]
    if isinstance(n, int) and check not in ("size", "type"):
        assert n.bit_length() == 3072  # refused for the named reason, not its size
    with pytest.raises(PartnerKeyRefused) as refused:
        PartnerKey(n)
    assert refused.value.check == check
    assert refused.value.reason == "WEIGHTS_INVALID"
    assert isinstance(refused.value, ZoneError)
    assert str(partner.public.n)[:12] not in str(refused.value)


def test_a_real_key_is_accepted(partner: Partner) -> None:
    assert PartnerKey(partner.public.n).nsquare == partner.public.nsquare


@pytest.mark.parametrize(
    ("bad", "index"),
    [
        pytest.param(lambda p: 0, 1, id="zero"),
        pytest.param(lambda p: -5, 1, id="negative"),
        pytest.param(lambda p: p.public.nsquare, 1, id="n-squared"),
        pytest.param(lambda p: p.public.nsquare + 7, 1, id="above-n-squared"),
        pytest.param(lambda p: p.private.p * 12345, 1, id="multiple-of-p"),
        pytest.param(lambda p: p.public.n, 1, id="n"),
        pytest.param(lambda p: True, 1, id="bool"),
    ],
)
def test_a_weight_ciphertext_outside_the_group_is_refused(
    partner: Partner, bounds: BoundsFactory, bad: object, index: int
) -> None:
    good = partner.encrypt([1, 2])
    weights = EncryptedWeights((good.ciphertexts[0], bad(partner)), 0)  # type: ignore[operator]
    with pytest.raises(WeightsRefused) as refused:
        PaillierScorer(partner.key, weights, bounds((0, 1), (0, 1)), 8)
    assert refused.value.index == index
    assert f"(weight {index})" in str(refused.value)


@pytest.mark.parametrize(
    "weights",
    [
        pytest.param(lambda p: EncryptedWeights(p.encrypt([1]).ciphertexts, 0), id="too-few"),
        pytest.param(lambda p: EncryptedWeights(p.encrypt([1, 2]).ciphertexts, 65), id="exp"),
        pytest.param(lambda p: EncryptedWeights(p.encrypt([1, 2]).ciphertexts, True), id="b"),
    ],
)
def test_malformed_weights_are_refused(
    partner: Partner, bounds: BoundsFactory, weights: object
) -> None:
    with pytest.raises(WeightsRefused):
        PaillierScorer(partner.key, weights(partner), bounds((0, 1), (0, 1)), 8)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("width", "noise", "pairs"),
    [
        (0, 0, [(0, 1)]),
        (65, 0, [(0, 1)]),
        (True, 0, [(0, 1)]),
        (8, -1, [(0, 1)]),
        (8, 2**64 + 1, [(0, 1)]),
        (8, 0, []),
    ],
)
def test_a_malformed_model_is_refused(
    partner: Partner, bounds: BoundsFactory, width: int, noise: int, pairs: list[tuple[int, int]]
) -> None:
    weights = partner.encrypt([1] * len(pairs))
    with pytest.raises(ModelInvalid):
        PaillierScorer(partner.key, weights, bounds(*pairs), width, noise=noise)


@pytest.mark.parametrize("value", [37, -1, True, 1.0, 2**70])
def test_a_feature_outside_its_bounds_is_a_bug_refused_without_its_value(
    partner: Partner, value: object
) -> None:
    feature_bounds = (FeatureBound("months_insured", 0, 36), FeatureBound("flag", 0, 1))
    scorer = PaillierScorer(partner.key, partner.encrypt([1, 1]), feature_bounds, 8)
    with pytest.raises(FeatureOutOfBounds) as refused:
        scorer.score([value, 0])  # type: ignore[list-item]
    assert refused.value.reason == "INTERNAL"
    assert refused.value.name == "months_insured" and refused.value.index == 0
    assert str(value) not in str(refused.value).replace("[0, 36]", "")
    with pytest.raises(PaillierError):
        scorer.score([1])


@pytest.mark.parametrize("pair", [(2, 1), (0, 2**63)])
def test_bad_bounds_are_refused_by_the_feature_set(pair: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="bounds"):
        FeatureBound("f", *pair)


def test_a_pool_of_another_key_is_refused(
    partner: Partner, other_partner: Partner, bounds: BoundsFactory
) -> None:
    with ObfuscatorPool(other_partner.key, target=0) as pool, pytest.raises(PaillierError):
        PaillierScorer(partner.key, partner.encrypt([1]), bounds((0, 1)), 8, obfuscators=pool)


def test_without_gmpy2_no_scorer_or_pool_is_built(
    partner: Partner, bounds: BoundsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(phe.util, "HAVE_GMP", False)  # what phe sets when gmpy2 fails to import
    with pytest.raises(GmpyMissing) as missing:
        PaillierScorer(partner.key, partner.encrypt([1]), bounds((0, 1)), 8)
    assert "pip install gmpy2" in str(missing.value)
    assert missing.value.reason == "UNAVAILABLE"
    with pytest.raises(GmpyMissing):
        ObfuscatorPool(partner.key)
