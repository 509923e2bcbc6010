"""Validation of what a partner uploads for CKKS (issue 12): contexts and ciphertexts are
refused with a precise error, never a crash or a raw TenSEAL exception."""

from __future__ import annotations

import os
from typing import Any

import pytest
import tenseal as ts
from google.protobuf import descriptor_pb2, message_factory

from enclave.compute import (
    CKKS_SLOTS,
    CiphertextInvalid,
    CkksContext,
    CkksLimits,
    ContextInvalid,
    load_ciphertext,
    load_public_context,
)
from enclave.errors import ZoneError
from tests.unit.enclave.compute.conftest import make_context


def _public(context: ts.Context) -> bytes:
    public = context.copy()
    public.make_context_public()
    data: bytes = public.serialize()
    return data


def _refused(data: object) -> ContextInvalid:
    with pytest.raises(ContextInvalid) as excinfo:
        load_public_context(data)  # type: ignore[arg-type]
    assert isinstance(excinfo.value, ZoneError)
    assert excinfo.value.reason == "CONTEXT_INVALID"
    return excinfo.value


def test_a_public_context_of_the_expected_parameters_loads(public_bytes: bytes) -> None:
    context = load_public_context(public_bytes)
    assert (context.slots, context.size_bytes) == (CKKS_SLOTS, len(public_bytes))


def test_a_context_holding_a_secret_key_is_refused(secret_context: ts.Context) -> None:
    assert _refused(secret_context.serialize(save_secret_key=True)).problem == "SECRET_KEY"


def test_a_context_of_n_4096_is_refused() -> None:
    small = make_context(4096, (40, 20, 40))
    assert _refused(_public(small)).problem == "POLY_MODULUS_DEGREE"


@pytest.mark.parametrize("bits", [(50, 40, 40, 40, 40), (60, 40, 60), (60, 30, 30, 60)])
def test_another_modulus_chain_is_refused(bits: tuple[int, ...]) -> None:
    error = _refused(_public(make_context(8192, bits)))
    assert error.problem == "COEFF_MODULUS"
    assert "[60, 40, 40, 60]" in error.public_message


def test_a_bfv_context_is_refused() -> None:
    bfv = ts.context(ts.SCHEME_TYPE.BFV, 8192, plain_modulus=1032193)
    assert _refused(_public(bfv)).problem == "NOT_CKKS"


def test_galois_keys_are_refused_not_kept() -> None:
    context = make_context()
    context.generate_galois_keys()
    assert _refused(_public(context)).problem == "GALOIS_KEYS"


def test_a_context_without_a_public_key_is_refused(secret_context: ts.Context) -> None:
    data = secret_context.serialize(save_public_key=False, save_relin_keys=False)
    # TenSEAL drops the secret key unless asked to save it: what is left has no key at all.
    assert _refused(data).problem == "NO_PUBLIC_KEY"


def _with_encryption_type(data: bytes, encryption_type: int) -> bytes:
    """``data`` with TenSEALContextProto.encryption_type (field 4) replaced, as a partner's
    own client could write it (tenseal/proto/tensealcontext.proto)."""
    fields = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="t.proto", package="t", syntax="proto3")
    message = file.message_type.add(name="Context")
    for number, name in enumerate(("parameters", "public", "private"), start=1):
        message.field.add(
            name=name, number=number, type=fields.TYPE_BYTES, label=fields.LABEL_OPTIONAL
        )
    message.field.add(
        name="encryption_type", number=4, type=fields.TYPE_UINT32, label=fields.LABEL_OPTIONAL
    )
    proto = message_factory.GetMessages([file], pool=None)["t.Context"]
    parsed: Any = proto.FromString(data)
    parsed.encryption_type = encryption_type
    crafted: bytes = parsed.SerializeToString()
    return crafted


@pytest.mark.parametrize("encryption_type", [1, 2, 7])
def test_a_context_claiming_another_encryption_type_is_refused(
    public_bytes: bytes, encryption_type: int
) -> None:
    crafted = _with_encryption_type(public_bytes, encryption_type)
    assert crafted != public_bytes
    assert _refused(crafted).problem == "MALFORMED"


def test_a_context_over_40_mb_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed an oversized context")

    monkeypatch.setattr(ts, "context_from", never)
    error = _refused(b"\0" * 41_000_000)
    assert error.problem == "TOO_LARGE"
    assert "40000000" in error.public_message


@pytest.mark.parametrize(
    "data",
    [b"", os.urandom(1000), b"\x0a\xff\xff\xff\xff\x0f"],
    ids=["empty", "random", "huge-length-prefix"],
)
def test_malformed_context_bytes_are_refused(data: bytes) -> None:
    error = _refused(data)
    assert error.problem == "MALFORMED"
    assert error.__cause__ is not None  # the library's error, kept for the private log


def test_a_truncated_context_is_refused(public_bytes: bytes) -> None:
    for cut in (len(public_bytes) // 2, len(public_bytes) - 10, 20):
        assert _refused(public_bytes[:cut]).problem == "MALFORMED"


def test_a_context_that_is_not_bytes_is_refused(public_bytes: bytes) -> None:
    assert _refused(bytearray(public_bytes)).problem == "MALFORMED"


def _ciphertext_refused(context: CkksContext, data: bytes) -> CiphertextInvalid:
    with pytest.raises(CiphertextInvalid) as excinfo:
        load_ciphertext(context, data)
    assert excinfo.value.reason == "CIPHERTEXT_INVALID"
    return excinfo.value


def test_5_mb_of_random_bytes_as_a_ciphertext_is_refused(public_context: CkksContext) -> None:
    assert _ciphertext_refused(public_context, os.urandom(5_000_000)).problem == "TOO_LARGE"


@pytest.mark.parametrize("size", [1, 1000, 900_000])
def test_random_bytes_under_the_limit_are_malformed(public_context: CkksContext, size: int) -> None:
    assert _ciphertext_refused(public_context, os.urandom(size)).problem == "MALFORMED"


def test_empty_bytes_are_no_vector(public_context: CkksContext) -> None:
    # TenSEAL parses b"" as an empty vector without complaint: the slot count refuses it.
    assert _ciphertext_refused(public_context, b"").problem == "SLOTS"


def test_a_truncated_ciphertext_is_malformed(
    secret_context: ts.Context, public_context: CkksContext
) -> None:
    data = ts.ckks_vector(secret_context, [1.0] * CKKS_SLOTS).serialize()
    for cut in (len(data) // 2, len(data) - 3):
        assert _ciphertext_refused(public_context, data[:cut]).problem == "MALFORMED"


def test_a_vector_of_fewer_slots_is_refused(
    secret_context: ts.Context, public_context: CkksContext
) -> None:
    data = ts.ckks_vector(secret_context, [1.0] * 20).serialize()
    assert _ciphertext_refused(public_context, data).problem == "SLOTS"


def test_another_scale_is_refused(secret_context: ts.Context, public_context: CkksContext) -> None:
    data = ts.ckks_vector(secret_context, [1.0] * CKKS_SLOTS, scale=2.0**30).serialize()
    assert _ciphertext_refused(public_context, data).problem == "SCALE"


def test_a_ciphertext_below_the_top_level_is_refused(
    secret_context: ts.Context, public_context: CkksContext
) -> None:
    vector = ts.ckks_vector(secret_context, [1.0] * CKKS_SLOTS)
    lower = vector.mul([1.0] * CKKS_SLOTS)  # rescaled: one prime down
    assert _ciphertext_refused(public_context, lower.serialize()).problem == "LEVEL"


def test_a_ciphertext_of_another_context_is_refused(public_context: CkksContext) -> None:
    other = make_context(8192, (60, 40, 60))
    data = ts.ckks_vector(other, [1.0] * CKKS_SLOTS).serialize()
    # SEAL's own check on load: the parameters id is not one of this context's.
    assert _ciphertext_refused(public_context, data).problem == "MALFORMED"


def test_a_ciphertext_over_a_configured_limit_is_refused(
    secret_context: ts.Context, public_context: CkksContext
) -> None:
    data = ts.ckks_vector(secret_context, [1.0] * CKKS_SLOTS).serialize()
    with pytest.raises(CiphertextInvalid) as excinfo:
        load_ciphertext(public_context, data, CkksLimits(ciphertext_bytes=len(data) - 1))
    assert excinfo.value.problem == "TOO_LARGE"
    assert load_ciphertext(public_context, data).size_bytes == len(data)
