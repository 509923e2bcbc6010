"""The partner's side of a Paillier score: what the plaintext of a zone's answer means.

Pure functions of integers, shared by the zone and the SDK so they cannot drift (issue 12).

**What the zone returns.** For a model whose weights the partner encrypted as fixed-point
mantissas ``m_j`` with ONE exponent ``e`` (weight ``w_j = m_j * 16**e``, phe's
``EncodedNumber.BASE`` is 16), and a person's integer features ``x_j``, the zone returns a
ciphertext ``c`` (re-randomised) and the model's exponent ``e`` unchanged. Let
``S = sum(m_j * x_j)`` (an integer, possibly negative), ``eta`` the low-bit noise the policy
adds (uniform in ``[-noise, noise]``, in units of ``16**e``), ``n`` the partner's modulus and
``H = 2**(n.bit_length() - 130)``. The raw plaintext of ``c`` is::

    D = (S + eta + H + 2**width * R) mod n        R uniform in [0, (n - 2*H) // 2**width)

For every score of honest size (``|S| + noise < H``, about 2**2942 for a 3072-bit key) there
is no wrap modulo ``n``: ``D`` is the integer ``S + eta + H + 2**width * R`` and, since ``H`` is
a multiple of ``2**width``, ``D mod 2**width == (S + eta) mod 2**width``. Everything above the
low ``width`` bits is hidden by ``R`` (statistical distance below 2**-128 between any two
honest scores that agree in their low ``width`` bits). For ANY weights (even ones that make
``S`` wrap modulo ``n``), ``D`` is uniform over a set of ``(n - 2H) // 2**width`` residues for
each value of ``S mod n``, so one score tells the partner at most ``width`` bits (plus less
than 2**-127) about the features.

**How to encrypt the weights** (so the exponent is the model's, not the weights'): each
weight's mantissa :func:`weight_mantissa` at the model's one exponent, encrypted as
``public_key.raw_encrypt(mantissa % n)`` (or ``encrypt(EncodedNumber(public_key, mantissa %
n, exponent))``), never ``public_key.encrypt(weight)``, which picks an exponent per weight
from its float precision.

**How to decode.** Decrypt with ``PaillierPrivateKey.raw_decrypt`` (an integer in
``[0, n)``), never with phe's ``decrypt``: ``D`` is usually above phe's ``max_int`` (``n/3``),
which phe would read as an overflow or a negative number. Then :func:`decode_score`: the low
``width`` bits read as a two's-complement integer and scaled by ``16**exponent``. The value
is exact when the true score mantissa plus noise lies in ``[-2**(width-1), 2**(width-1))``;
outside that range it is the true value modulo ``2**width`` (declare a wider model).
"""

from __future__ import annotations

from fractions import Fraction

__all__ = [
    "ENCODING_BASE",
    "MASK_MARGIN_BITS",
    "MAX_WIDTH",
    "decode_score",
    "low_bits_signed",
    "weight_mantissa",
]

ENCODING_BASE = 16
"""phe's ``EncodedNumber.BASE``: a weight ``w`` is the mantissa ``w * 16**-exponent``."""

MAX_WIDTH = 64
"""The widest output a model may declare, in bits."""

MASK_MARGIN_BITS = 130
"""``H = 2**(bit_length(n) - MASK_MARGIN_BITS)``: the offset the zone adds and the bound of an
honest score's magnitude (the 128-bit statistical margin plus the two bits ``2H`` takes)."""


def _check_width(width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"width must be an integer from 1 to {MAX_WIDTH} bits")


def low_bits_signed(plaintext: int, width: int) -> int:
    """The low ``width`` bits of ``plaintext`` as a two's-complement integer, in
    ``[-2**(width-1), 2**(width-1))``: the score mantissa plus noise, modulo ``2**width``."""
    _check_width(width)
    if isinstance(plaintext, bool) or not isinstance(plaintext, int) or plaintext < 0:
        raise ValueError("the plaintext must be a non-negative integer (raw_decrypt's answer)")
    low = plaintext & ((1 << width) - 1)
    return low - (1 << width) if low >> (width - 1) else low


def decode_score(plaintext: int, width: int, exponent: int) -> Fraction:
    """The score a zone's Paillier answer carries: :func:`low_bits_signed` of the raw
    plaintext times ``16**exponent``, exactly (a :class:`~fractions.Fraction`; ``float()``
    it if you like). ``exponent`` is the one the answer came with (the model's)."""
    if isinstance(exponent, bool) or not isinstance(exponent, int):
        raise ValueError("the exponent must be an integer")
    return low_bits_signed(plaintext, width) * Fraction(ENCODING_BASE) ** exponent


def weight_mantissa(weight: int | float | Fraction, exponent: int) -> int:
    """The integer ``m`` with ``m * 16**exponent`` nearest to ``weight`` (half to even, as
    phe's ``EncodedNumber.encode`` rounds): what the partner encrypts for a model whose one
    exponent is ``exponent``."""
    if isinstance(exponent, bool) or not isinstance(exponent, int):
        raise ValueError("the exponent must be an integer")
    if isinstance(weight, bool) or not isinstance(weight, int | float | Fraction):
        raise ValueError("a weight must be an int, a float or a Fraction")
    return round(Fraction(weight) * Fraction(ENCODING_BASE) ** -exponent)
