"""Real TenSEAL keys, generated here as a partner would (the test holds the secret key)."""

from __future__ import annotations

import pytest
import tenseal as ts

from enclave.compute import CkksContext, load_public_context


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
