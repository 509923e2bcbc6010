"""Attacks on the CKKS context upload through TenSEAL's serialization (issue 12, review): a
SEAL key blob declaring 2^27 relinearisation keys (an allocation before anything is read),
and a zstd frame of run-length blocks that would inflate to 1 GiB from 32 kB. Both are
MALFORMED (INVALID_ARGUMENT), parsed in the calling process without its memory growing."""

from __future__ import annotations

import resource
import struct
from typing import Any

import pytest
import tenseal as ts
from google.protobuf import descriptor_pb2, message_factory

from enclave.compute import ContextInvalid, load_public_context


def _context_proto() -> Any:
    """TenSEAL's TenSEALContextProto (tenseal/proto/tensealcontext.proto), public part."""
    file = descriptor_pb2.FileDescriptorProto(
        name="review_tenseal_context.proto", package="review", syntax="proto3"
    )
    kind = descriptor_pb2.FieldDescriptorProto
    public = file.message_type.add(name="Public")
    for name, number, type_ in (
        ("public_key", 1, kind.TYPE_BYTES),
        ("auto_flags", 2, kind.TYPE_UINT32),
        ("scale", 3, kind.TYPE_DOUBLE),
        ("relin_keys", 4, kind.TYPE_BYTES),
        ("galois_keys", 5, kind.TYPE_BYTES),
    ):
        public.field.add(name=name, number=number, type=type_, label=kind.LABEL_OPTIONAL)
    context = file.message_type.add(name="Context")
    context.field.add(
        name="encryption_parameters", number=1, type=kind.TYPE_BYTES, label=kind.LABEL_OPTIONAL
    )
    context.field.add(
        name="public_context",
        number=2,
        type=kind.TYPE_MESSAGE,
        type_name=".review.Public",
        label=kind.LABEL_OPTIONAL,
    )
    context.field.add(
        name="encryption_type", number=4, type=kind.TYPE_UINT32, label=kind.LABEL_OPTIONAL
    )
    return message_factory.GetMessages([file])["review.Context"]


def _with_relin_keys(secret: ts.Context, blob_of: Any) -> bytes:
    public = secret.copy()
    public.make_context_public()
    message = _context_proto().FromString(public.serialize())
    header = message.public_context.relin_keys[:5]  # SEAL's magic, header size, version
    message.public_context.relin_keys = blob_of(header, secret)
    data: bytes = message.SerializeToString()
    return data


def _count_bomb(header: bytes, secret: ts.Context) -> bytes:
    parms = struct.pack("<4Q", *list(secret.seal_context().data.key_parms_id()))
    body = parms + struct.pack("<Q", 1 << 27)
    return header + bytes([0, 0, 0]) + struct.pack("<Q", 16 + len(body)) + body


def _zstd_bomb(header: bytes, _secret: ts.Context) -> bytes:
    blocks = []
    for index in range(8192):  # 8192 run-length blocks of 128 KiB: 1 GiB
        last = 1 if index == 8191 else 0
        blocks.append((last | 1 << 1 | (128 * 1024) << 3).to_bytes(3, "little") + b"\0")
    frame = bytes.fromhex("28b52ffd") + bytes([0x00, 0x58]) + b"".join(blocks)
    return header + bytes([2, 0, 0]) + struct.pack("<Q", 16 + len(frame)) + frame


@pytest.mark.parametrize("bomb", [_count_bomb, _zstd_bomb], ids=["key-count", "zstd-rle"])
def test_serialization_bombs_are_malformed_without_growing_memory(
    secret_context: ts.Context, bomb: Any
) -> None:
    data = _with_relin_keys(secret_context, bomb)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ContextInvalid) as refused:
        load_public_context(data)
    assert refused.value.problem == "MALFORMED"
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 256 * 1024  # far below the 3 GiB / 1 GiB the bombs declare
