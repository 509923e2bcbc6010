"""No API offers a face search (issue 13: "a test that no API offers a face search without
naming a person"; DESIGN.md: a 1:1 face match, never 1:N).

Walks every service of the wire contract: each RPC whose request carries anything a face
could be compared from -- a selfie, an image, an embedding or an encrypted query -- or whose
name speaks of faces must name exactly ONE person, a singular string ``id_number`` in the
request or its (streamed) header, and nothing in it may be a list of persons. The walk finds
today's two face RPCs, so a new one is held to the rule as it is added.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

from dataward.v1 import (
    audit_pb2,
    common_pb2,
    compute_pb2,
    eligibility_pb2,
    identity_pb2,
    query_pb2,
    steward_pb2,
)

MODULES = (audit_pb2, common_pb2, compute_pb2, eligibility_pb2, identity_pb2, query_pb2,
           steward_pb2)  # fmt: skip
FACE_WORDS = ("selfie", "face", "image", "photo", "embedding", "template", "biometric")
# Byte fields a face could be compared from (a query ciphertext is an encrypted embedding).
FACE_BYTES = ("selfie", "image", "photo", "embedding", "template", "query")


def _methods() -> Iterator[MethodDescriptor]:
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            yield from service.methods


def _messages(message: Descriptor, seen: frozenset[str] = frozenset()) -> Iterator[Descriptor]:
    """``message`` and every message type reachable from its fields."""
    if message.full_name in seen:
        return
    yield message
    for item in message.fields:
        if item.message_type is not None:
            yield from _messages(item.message_type, seen | {message.full_name})


def _is_face_rpc(method: MethodDescriptor) -> bool:
    if any(word in method.name.lower() for word in FACE_WORDS):
        return True
    return any(
        item.type == FieldDescriptor.TYPE_BYTES
        and any(word in item.name.lower() for word in FACE_BYTES)
        for message in _messages(method.input_type)
        for item in message.fields
    )


def _one_person(message: Descriptor) -> bool:
    """The request (or a header message in it) has a singular string ``id_number``."""
    for candidate in (message, *(f.message_type for f in message.fields if f.message_type)):
        item = candidate.fields_by_name.get("id_number")
        if item is not None and item.type == FieldDescriptor.TYPE_STRING and not item.is_repeated:
            return True
    return False


def _lists_persons(message: Descriptor) -> bool:
    return any(
        item.is_repeated
        and item.message_type is not None
        and "id_number" in item.message_type.fields_by_name
        for reached in _messages(message)
        for item in reached.fields
    )


def test_the_walk_finds_the_face_rpcs() -> None:
    found = {method.full_name for method in _methods() if _is_face_rpc(method)}
    assert {
        "dataward.v1.IdentityService.Verify",
        "dataward.v1.ComputeService.EncryptedFaceMatch",
    } <= found


def test_every_face_rpc_names_exactly_one_person() -> None:
    for method in _methods():
        if not _is_face_rpc(method):
            continue
        assert _one_person(method.input_type), f"{method.full_name} compares faces of no one"
        assert not _lists_persons(method.input_type), f"{method.full_name} takes many persons"


def test_no_response_carries_a_photo_or_a_distance() -> None:
    for method in _methods():
        for message in _messages(method.output_type):
            for item in message.fields:
                name = item.name.lower()
                assert not any(w in name for w in ("distance", "selfie", "photo", "embedding")), (
                    f"{method.full_name} answers {message.full_name}.{item.name}"
                )
