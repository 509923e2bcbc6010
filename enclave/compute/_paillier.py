"""One person's score under the partner's Paillier key: ``Enc(sum(w_j * x_j))``, masked to the
model's declared width, noised, re-randomised (issue 12, DESIGN.md "Homomorphic compute").

The partner encrypts its weights as fixed-point mantissas ``m_j`` with ONE exponent ``e`` for
the whole model (``w_j = m_j * 16**e``); features are integers (exponent 0), so the score's
exponent is ``e``: fixed by the model, never by the weights' values or the features (phe's
own arithmetic lowers an exponent to the smallest of its operands, which would tell the
partner something; here there is nothing to lower). The homomorphic steps are Paillier's
identities modulo ``n^2``, the ones phe's ``EncryptedNumber`` uses (``_raw_mul``,
``_raw_add``): ``Enc(a)^k = Enc(k*a)``, ``Enc(a) * Enc(b) = Enc(a + b)``; a negative feature
raises the inverse ciphertext to ``-x``.

**The mask** (why it holds for any weights, and what the partner decodes:
:mod:`dataward.compute`): the zone adds ``H + eta + 2**width * R`` with ``H =
2**(bits(n) - 130)``, ``eta`` uniform in ``[-noise, noise]`` and ``R`` uniform in
``[0, (n - 2H) // 2**width)``, all drawn with :mod:`secrets`. ``R`` spans all of ``Z_n`` but
for a sliver of ``2H/n < 2**-128``: no choice of weights gets more than ``width`` bits out of
one score -- packing features ``w_j = 2**(32*j)`` gives the low ``width`` bits of the first
and uniform bits above. (A mask ``R < 2**k`` sized from a bound on the score would not do:
the weights are encrypted, so the zone cannot bound the score, and weights scaled by
``2**2000`` would lift the packed features above any such mask.)

**Re-randomisation**: the result is multiplied by a fresh ``r^n mod n^2``
(:class:`ObfuscatorPool` or computed inline), so two answers to the same inputs are
different ciphertexts and the raw evaluation never leaves. What leaves is a
:class:`PaillierScore` of plain integers, never a phe ``EncryptedNumber``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

try:
    import gmpy2
except ImportError:  # refused with how to install it: require_gmpy2(), GmpyMissing
    gmpy2 = None
from phe import PaillierPublicKey

from dataward.compute import MASK_MARGIN_BITS, MAX_WIDTH
from enclave.compute._ckks import FeatureBound  # the feature set's, shared by both schemes
from enclave.compute._key import PartnerKey, require_gmpy2
from enclave.compute._pool import ObfuscatorPool, fresh_obfuscator
from enclave.compute.errors import (
    FeatureOutOfBounds,
    ModelInvalid,
    PaillierError,
    WeightsRefused,
)

__all__ = [
    "EXPONENT_LIMIT",
    "NOISE_LIMIT",
    "EncryptedWeights",
    "PaillierScore",
    "PaillierScorer",
]

EXPONENT_LIMIT = 64
"""A model's exponent is an integer in ``[-64, 64]``."""

NOISE_LIMIT = 1 << MAX_WIDTH
"""The low-bit noise is an integer in ``[0, 2**64]``."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class EncryptedWeights:
    """The partner's encrypted weights: one ciphertext (an integer in ``[1, n^2)``, coprime
    with ``n``) per feature, in the feature set's order, and ONE exponent for them all."""

    ciphertexts: tuple[int, ...]
    exponent: int


@dataclass(frozen=True)
class PaillierScore:
    """What leaves the zone: the re-randomised ciphertext, the model's exponent and width
    (what the partner needs for :func:`dataward.compute.decode_score`)."""

    ciphertext: int
    exponent: int
    width: int
    ciphertext_bytes: int

    def to_bytes(self) -> bytes:
        """The ciphertext, big-endian, ``ciphertext_bytes`` (768) wide: what a release leaf
        hashes (the exponent and width are hashed as their own fields)."""
        return self.ciphertext.to_bytes(self.ciphertext_bytes, "big")


class PaillierScorer:
    """Scores persons with one partner model: ``key``'s encrypted ``weights`` over the
    features ``bounds`` declare, output ``width`` bits (1..64), low-bit ``noise`` (the
    policy's, in units of ``16**exponent``). Everything is checked here, once per model:
    :class:`WeightsRefused`, :class:`ModelInvalid`, and :class:`~enclave.compute.GmpyMissing`
    when phe runs without gmpy2. ``obfuscators`` must be a pool of the same key; without one,
    each score computes its own (about 30 ms). A scorer holds no state between scores: threads
    may share it."""

    def __init__(
        self,
        key: PartnerKey,
        weights: EncryptedWeights,
        bounds: Sequence[FeatureBound],
        width: int,
        *,
        noise: int = 0,
        obfuscators: ObfuscatorPool | None = None,
    ) -> None:
        require_gmpy2()
        if not _is_int(width) or not 1 <= width <= MAX_WIDTH:
            raise ModelInvalid(f"the output width must be an integer from 1 to {MAX_WIDTH} bits")
        if not _is_int(noise) or not 0 <= noise <= NOISE_LIMIT:
            raise ModelInvalid("the low-bit noise must be an integer from 0 to 2^64")
        if not bounds:
            raise ModelInvalid("the feature set is empty")
        for bound in bounds:
            if not (_is_int(bound.low) and _is_int(bound.high)):
                raise ModelInvalid(f"feature {bound.name!r} needs integer bounds")
        if obfuscators is not None and obfuscators.key != key:
            raise PaillierError("the obfuscator pool belongs to another partner key")
        check_weights(key, weights, len(bounds))

        self.key, self.width, self.noise, self.exponent = key, width, noise, weights.exponent
        self.bounds = tuple(bounds)
        self._obfuscators = obfuscators
        self._public = PaillierPublicKey(key.n)
        self._nsquare = gmpy2.mpz(key.nsquare)
        self._weights = tuple(gmpy2.mpz(c) for c in weights.ciphertexts)
        # Enc(-m_j) for the features that may be negative: Enc(m)^-x = Enc(-m)^x.
        self._negated = tuple(
            gmpy2.invert(c, self._nsquare) if bound.low < 0 else None
            for c, bound in zip(self._weights, self.bounds, strict=True)
        )
        self._offset = 1 << (key.n.bit_length() - MASK_MARGIN_BITS)  # H, a multiple of 2^width
        self._mask_range = (key.n - 2 * self._offset) >> width

    def score(self, features: Sequence[int]) -> PaillierScore:
        """The masked, noised, re-randomised ``Enc(sum(w_j * x_j))`` of one person's
        ``features`` (integers within their declared bounds, else
        :class:`FeatureOutOfBounds`: the zone's feature pipeline has a bug)."""
        if len(features) != len(self.bounds):
            raise PaillierError(
                f"the feature vector has {len(features)} values, the model {len(self.bounds)}"
            )
        nsquare = self._nsquare
        total = gmpy2.mpz(1)  # Enc(0) with r = 1
        for index, (x, bound) in enumerate(zip(features, self.bounds, strict=True)):
            if not _is_int(x) or not bound.low <= x <= bound.high:
                raise FeatureOutOfBounds(bound.name, index, bound.low, bound.high)
            if x > 0:
                term = gmpy2.powmod(self._weights[index], x, nsquare)
            elif x < 0:
                negated = self._negated[index]
                assert negated is not None  # low < 0 here, so it was computed
                term = gmpy2.powmod(negated, -x, nsquare)
            else:
                continue
            total = total * term % nsquare
        eta = secrets.randbelow(2 * self.noise + 1) - self.noise
        high = secrets.randbelow(self._mask_range)
        mask = self._offset + eta + (high << self.width)  # in (0, n): Enc(mask) with r = 1
        total = total * self._public.raw_encrypt(mask, r_value=1) % nsquare
        obfuscator = (
            fresh_obfuscator(self.key) if self._obfuscators is None else self._obfuscators.take()
        )
        total = total * obfuscator % nsquare
        return PaillierScore(int(total), self.exponent, self.width, self.key.ciphertext_bytes)


def check_weights(key: PartnerKey, weights: EncryptedWeights, features: int) -> None:
    if not _is_int(weights.exponent) or not -EXPONENT_LIMIT <= weights.exponent <= EXPONENT_LIMIT:
        raise WeightsRefused(
            f"the exponent must be an integer in [-{EXPONENT_LIMIT}, {EXPONENT_LIMIT}]",
            check="exponent",
        )
    if len(weights.ciphertexts) != features:
        raise WeightsRefused(
            f"{len(weights.ciphertexts)} ciphertexts for a feature set of {features}",
            check="count",
        )
    for index, c in enumerate(weights.ciphertexts):
        if not _is_int(c) or not 1 <= c < key.nsquare:
            raise WeightsRefused(
                "a ciphertext must be an integer in [1, n^2)", index, check="range"
            )
        if gmpy2.gcd(c, key.n) != 1:
            raise WeightsRefused("a ciphertext must be coprime with n", index, check="coprime")
