"""The partner's decoding of a Paillier score (pure functions of integers)."""

from __future__ import annotations

from fractions import Fraction

import phe
import pytest

from dataward.compute import ENCODING_BASE, MAX_WIDTH, decode_score, low_bits_signed


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
