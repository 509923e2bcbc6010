"""Real keys, generated here as a partner would (the test holds the secret key): TenSEAL
contexts, and one 3072-bit phe key pair per session (generation takes seconds) with a
factory for encrypted Paillier models (mantissas encrypted with phe's ``raw_encrypt``, a
fresh ``r`` each, one exponent for the model, as the SDK will); and a real synthetic
registry in a zone with its credit features computed by hand (`features_registry`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import phe
import pytest
import tenseal as ts

from enclave.compute import (
    CkksContext,
    EncryptedWeights,
    FeatureBound,
    PartnerKey,
    load_public_context,
)
from tests.unit.enclave.compute.features_registry import Registry, open_registry


def make_context(degree: int = 8192, bits: tuple[int, ...] = (60, 40, 40, 60)) -> ts.Context:
    context = ts.context(ts.SCHEME_TYPE.CKKS, degree, coeff_mod_bit_sizes=list(bits))
    context.global_scale = 2.0**40
    return context


@pytest.fixture(scope="session")
def secret_context() -> ts.Context:
    return make_context()


@pytest.fixture(scope="session")
def public_bytes(secret_context: ts.Context) -> bytes:
    public = secret_context.copy()
    public.make_context_public()
    data: bytes = public.serialize()
    return data


@pytest.fixture
def public_context(public_bytes: bytes) -> CkksContext:
    return load_public_context(public_bytes)


# -- Paillier ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Partner:
    public: phe.PaillierPublicKey
    private: phe.PaillierPrivateKey

    @property
    def key(self) -> PartnerKey:
        return PartnerKey(self.public.n)

    def encrypt(self, mantissas: Sequence[int], exponent: int = 0) -> EncryptedWeights:
        n = self.public.n
        return EncryptedWeights(tuple(self.public.raw_encrypt(m % n) for m in mantissas), exponent)

    def decrypt(self, ciphertext: int) -> int:
        plaintext: int = self.private.raw_decrypt(ciphertext)
        return plaintext


@pytest.fixture(scope="session")
def partner() -> Partner:
    public, private = phe.generate_paillier_keypair(n_length=3072)
    return Partner(public, private)


@pytest.fixture(scope="session")
def other_partner() -> Partner:
    public, private = phe.generate_paillier_keypair(n_length=3072)
    return Partner(public, private)


BoundsFactory = Callable[..., tuple[FeatureBound, ...]]


@pytest.fixture
def bounds() -> BoundsFactory:
    def make(*pairs: tuple[int, int]) -> tuple[FeatureBound, ...]:
        return tuple(FeatureBound(f"f{i}", low, high) for i, (low, high) in enumerate(pairs))

    return make


# -- feature sets and the credit band ---------------------------------------------------------
@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """A real synthetic registry in a zone, and its credit features computed by hand."""
    return open_registry(tmp_path_factory.mktemp("compute"))
