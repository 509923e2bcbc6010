"""Attack (issue 12, review): a crafted Paillier modulus that passes every cheap check.

For ``n = p**2 * q`` (``p`` a prime above the small-factor bound) ``gcd(n, phi(n)) = p``, and
``Z*_{n^2}`` has a quotient of order ``p`` that neither the zone's plaintext mask nor its
``r^n`` re-randomisation touches. Weights ``(1+n)^m_j * h^a_j`` then carry
``sum(a_j * x_j) mod p`` past the mask: a 1-bit model reads 16 bits of features per score.
The zone's only defence is the partner's proof of ``gcd(n, phi(n)) = 1`` in the card's key
(:func:`dataward.compute.paillier_public_key`, :meth:`PartnerKey.check_proof`): such a
modulus cannot carry one, and a card without it is refused.
"""

from __future__ import annotations

import secrets

import gmpy2
import pytest

from dataward.compute import (
    MODULUS_PROOF_ROUNDS,
    modulus_challenges,
    paillier_public_key,
    split_paillier_public_key,
)
from enclave.compute import EncryptedWeights, FeatureBound, PaillierScorer, PartnerKey
from enclave.compute.errors import PartnerKeyRefused

from .conftest import Partner

_P = int(gmpy2.next_prime(1 << 20))


def _crafted_modulus() -> tuple[int, int]:
    """``(n, q)`` with ``n = _P**2 * q`` exactly 3072 bits, ``q`` prime."""
    while True:
        low = (1 << 3071) // (_P * _P) + 1
        q = int(gmpy2.next_prime(low + secrets.randbelow(low // 2)))
        n = _P * _P * q
        if n.bit_length() == 3072:
            return n, q


@pytest.fixture(scope="module")
def crafted() -> tuple[int, int]:
    return _crafted_modulus()


def _chi(c: int, n: int) -> int:
    """The projection onto the order-``p`` quotient mod ``p**4`` that kills both the
    plaintext ``(1+n)^m`` and every ``r^n``."""
    p4 = _P**4
    return int(gmpy2.powmod(c % p4, _P * _P * (_P - 1), p4))


def test_a_crafted_modulus_leaks_past_the_mask_without_the_proof(
    crafted: tuple[int, int],
) -> None:
    """Why the proof is needed: the cheap checks pass, and the bare scorer leaks 16 bits
    from a model declaring 1."""
    n, q = crafted
    key = PartnerKey(n)  # size, odd, no factor < 2^16, not a power, not a prime: accepted
    nsquare = n * n
    # h = a generator of Z*_{p^4} modulo p^4 and 1 modulo q^2 (CRT).
    p4, q2 = _P**4, q * q
    g = 2
    while gmpy2.powmod(g, _P * _P * (_P - 1), p4) == 1:
        g += 1
    h = (g * q2 * int(gmpy2.invert(q2, p4)) + p4 * int(gmpy2.invert(p4, q2))) % nsquare
    zeta = _chi(h, n)
    table = {int(gmpy2.powmod(zeta, k, p4)): k for k in range(1 << 16)}
    weights = tuple(
        int(gmpy2.powmod(1 + n, 1, nsquare) * gmpy2.powmod(h, 16**j, nsquare) % nsquare)
        for j in range(4)
    )
    bounds = [FeatureBound(f"f{j}", 0, 15) for j in range(4)]
    scorer = PaillierScorer(key, EncryptedWeights(weights, 0), bounds, 1, noise=16)
    features = [secrets.randbelow(16) for _ in range(4)]
    leaked = table[_chi(scorer.score(features).ciphertext, n)]
    assert [(leaked >> (4 * j)) & 15 for j in range(4)] == features  # 16 bits, not 1


def test_a_crafted_modulus_cannot_carry_a_proof_and_is_refused(crafted: tuple[int, int]) -> None:
    n, q = crafted
    key = PartnerKey(n)
    try:  # the SDK's prover, handed the crafted factors: no root it makes verifies
        made = split_paillier_public_key(paillier_public_key(n, _P * _P, q))[1]
    except ValueError:
        pass
    else:
        with pytest.raises(PartnerKeyRefused):
            key.check_proof(made)
    # The partner's best try: an n-th root where one exists (it knows the factors), else
    # anything. A challenge is an n-th residue with probability 1/p per round.
    forged = tuple(secrets.randbelow(n - 1) + 1 for _ in range(MODULUS_PROOF_ROUNDS))
    with pytest.raises(PartnerKeyRefused) as refused:
        key.check_proof(forged)
    assert refused.value.check == "proof" and refused.value.reason == "WEIGHTS_INVALID"
    with pytest.raises(PartnerKeyRefused):
        key.check_proof(())


def test_an_honest_key_proves_its_modulus_and_a_proof_is_bound_to_it(
    partner: Partner, other_partner: Partner
) -> None:
    data = paillier_public_key(partner.public.n, partner.private.p, partner.private.q)
    n, roots = split_paillier_public_key(data)
    assert n == partner.public.n and len(roots) == MODULUS_PROOF_ROUNDS
    PartnerKey(n).check_proof(roots)
    assert all(pow(r, n, n) == rho for r, rho in zip(roots, modulus_challenges(n), strict=True))
    other_key = other_partner.public.n, other_partner.private.p, other_partner.private.q
    other = split_paillier_public_key(paillier_public_key(*other_key))[1]
    with pytest.raises(PartnerKeyRefused):  # another key's proof
        PartnerKey(n).check_proof(other)
    with pytest.raises(PartnerKeyRefused):  # roots out of range (r + n has the same power)
        PartnerKey(n).check_proof((roots[0] + n, *roots[1:]))
    with pytest.raises(ValueError):  # the bare modulus, as before the proof
        split_paillier_public_key(n.to_bytes(384, "big"))
