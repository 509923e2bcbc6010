"""The partner's decoding of a Paillier score (pure functions of integers)."""

from __future__ import annotations

from fractions import Fraction

import phe
import pytest

from dataward.compute import (
    ENCODING_BASE,
    MAX_WIDTH,
    decode_score,
    low_bits_signed,
    weight_mantissa,
)


def test_the_base_is_phes() -> None:
    assert phe.EncodedNumber.BASE == ENCODING_BASE


@pytest.mark.parametrize(
    ("plaintext", "width", "expected"),
    [
        (0, 8, 0),
        (0x7F, 8, 127),
        (0x80, 8, -128),
        (0xFF, 8, -1),
        ((1 << 3000) | 0x1234FFFF, 16, -1),
        ((1 << 3000) + 5, 16, 5),
        (1, 1, -1),
        (2, 1, 0),
        ((1 << 63) - 1, 64, (1 << 63) - 1),
        (1 << 63, 64, -(1 << 63)),
    ],
)
def test_the_low_bits_read_as_twos_complement(plaintext: int, width: int, expected: int) -> None:
    assert low_bits_signed(plaintext, width) == expected


def test_the_exponent_scales_exactly() -> None:
    assert decode_score(0xFFFF_FFF0, 32, -1) == Fraction(-16, 16) == -1
    assert decode_score(3, 8, -3) == Fraction(3, 4096)
    assert decode_score(3, 8, 2) == 768


@pytest.mark.parametrize("width", [0, MAX_WIDTH + 1, True, 8.0])
def test_a_bad_width_is_refused(width: object) -> None:
    with pytest.raises(ValueError, match="width"):
        decode_score(1, width, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("plaintext", [-1, True, 1.0])
def test_a_bad_plaintext_is_refused(plaintext: object) -> None:
    with pytest.raises(ValueError, match="plaintext"):
        low_bits_signed(plaintext, 8)  # type: ignore[arg-type]


def test_a_bad_exponent_is_refused() -> None:
    with pytest.raises(ValueError, match="exponent"):
        decode_score(1, 8, 1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("weight", [1.25, -0.1875, Fraction(1, 3), 7, -2, 0.1, 1e-9])
def test_a_weights_mantissa_is_phes_encoding_at_the_models_exponent(weight: object) -> None:
    public = phe.PaillierPublicKey(2**64 + 13)  # encoding needs only n; no key is generated
    expected = phe.EncodedNumber.encode(public, weight, precision=16.0**-4, max_exponent=-4)
    assert expected.exponent == -4
    mantissa = weight_mantissa(weight, -4)  # type: ignore[arg-type]
    assert mantissa % public.n == expected.encoding


def test_a_mantissa_is_exact_when_the_weight_is_on_the_grid() -> None:
    assert weight_mantissa(Fraction(5, 4), -3) == 5 * 16**3 // 4
    assert decode_score(weight_mantissa(-1.5, -1) % 2**16, 16, -1) == -1.5


@pytest.mark.parametrize(("weight", "exponent"), [("1", 0), (True, 0), (1.0, 1.5), (1, False)])
def test_a_bad_weight_or_exponent_is_refused(weight: object, exponent: object) -> None:
    with pytest.raises(ValueError):
        weight_mantissa(weight, exponent)  # type: ignore[arg-type]
