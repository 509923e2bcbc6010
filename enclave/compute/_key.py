"""The partner's Paillier public key, validated, and the gmpy2 requirement.

The zone never holds a partner's secret key; it needs only ``n``. What it checks protects the
zone's re-randomisation: for a proper modulus (``n = pq``, ``gcd(n, phi(n)) = 1``) a
ciphertext times a fresh ``r^n`` depends on the plaintext alone; a malformed ``n`` (tiny
factors, a prime power, a prime) may leave structure the partner could read features from.
The cheap checks refuse every malformed key that can be recognised alone; ``gcd(n, phi(n)) =
1`` needs the partner's proof (:meth:`PartnerKey.check_proof`: an ``n``-th root of each of
:func:`dataward.compute.modulus_challenges`), which a card's key carries.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

try:
    import gmpy2
except ImportError:  # refused with how to install it: require_gmpy2(), GmpyMissing
    gmpy2 = None
import phe.util

from dataward.compute import modulus_challenges
from enclave.compute.errors import GmpyMissing, PartnerKeyRefused

__all__ = ["KEY_BITS", "SMALL_FACTOR_BOUND", "PartnerKey", "require_gmpy2"]

KEY_BITS = 3072
"""The only modulus size accepted (DESIGN.md: Paillier-3072, about 128-bit security)."""

SMALL_FACTOR_BOUND = 1 << 16
"""A modulus with a prime factor below this is refused."""


def require_gmpy2() -> None:
    """Raise :class:`GmpyMissing` unless phe does its arithmetic with gmpy2
    (``phe.util.HAVE_GMP``: phe imports gmpy2 when it can and silently falls back to Python
    integers when it cannot)."""
    if gmpy2 is None or not phe.util.HAVE_GMP:
        raise GmpyMissing()


@functools.cache
def _small_primes_product() -> int:
    return int(gmpy2.primorial(SMALL_FACTOR_BOUND))


@dataclass(frozen=True)
class PartnerKey:
    """A partner's Paillier public key ``n`` (``g = n + 1``, as phe has it), checked on
    construction: exactly :data:`KEY_BITS` bits, odd, no prime factor below
    :data:`SMALL_FACTOR_BOUND`, not a perfect power, not a prime. Anything else is
    :class:`PartnerKeyRefused` naming the check."""

    n: int
    nsquare: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = self.n
        if isinstance(n, bool) or not isinstance(n, int):
            raise PartnerKeyRefused("type", "the modulus must be an integer")
        if n.bit_length() != KEY_BITS:
            raise PartnerKeyRefused("size", f"the modulus must be exactly {KEY_BITS} bits")
        if n % 2 == 0:
            raise PartnerKeyRefused("odd", "the modulus must be odd")
        if gmpy2.gcd(n, _small_primes_product()) != 1:
            raise PartnerKeyRefused(
                "small_factor", f"the modulus has a prime factor below {SMALL_FACTOR_BOUND}"
            )
        if gmpy2.is_power(n):
            raise PartnerKeyRefused("perfect_power", "the modulus is a perfect power")
        if gmpy2.is_prime(n, 25):
            raise PartnerKeyRefused("prime", "the modulus is a prime, not a product of two")
        object.__setattr__(self, "nsquare", n * n)

    def check_proof(self, roots: tuple[int, ...]) -> None:
        """Refuse (``proof``) unless each of ``roots`` is an ``n``-th root modulo ``n`` of the
        matching :func:`~dataward.compute.modulus_challenges` of this modulus: the partner's
        proof that ``gcd(n, phi(n)) = 1``, without which a crafted modulus keeps a part of
        every score outside the zone's mask and re-randomisation."""
        n = self.n
        challenges = modulus_challenges(n)
        if len(roots) != len(challenges):
            raise PartnerKeyRefused("proof", f"the key must carry {len(challenges)} roots")
        for rho, root in zip(challenges, roots, strict=True):
            if gmpy2.gcd(rho, n) != 1:  # would factor n: never for a proper modulus
                raise PartnerKeyRefused("proof", "a challenge is not a unit modulo n")
            if not 1 <= root < n or gmpy2.powmod(root, n, n) != rho:
                raise PartnerKeyRefused(
                    "proof", "the key does not prove gcd(n, phi(n)) = 1 (an n-th root fails)"
                )

    @property
    def ciphertext_bytes(self) -> int:
        """The fixed width of a ciphertext (an integer below ``n^2``) in bytes: 768."""
        return 2 * KEY_BITS // 8

    def __repr__(self) -> str:  # the modulus is public, but 925 digits help nobody
        return f"PartnerKey(<{KEY_BITS}-bit modulus {self.n & 0xFFFFFFFF:08x}…>)"
