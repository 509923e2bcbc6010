"""The SDK's enums are the proto's (issue 9): made from the generated descriptors at import,
so a value added to the .proto is a member without an edit, and the declaration type checkers
read instead (under ``TYPE_CHECKING`` in ``_enums.py``) is held to the same names here."""

from __future__ import annotations

import ast
import enum
import inspect
import pickle

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import EnumDescriptor

from dataward.access import Purpose
from dataward.client import Benefit, EligibilityQuery, _enums
from dataward.client._enums import proto_str_enum
from dataward.v1 import common_pb2, eligibility_pb2

# Every enum of the SDK made by proto_str_enum: name -> (proto enum, prefix).
SDK_ENUMS: dict[str, tuple[EnumDescriptor, str]] = {
    "Benefit": (eligibility_pb2.Benefit.DESCRIPTOR, "BENEFIT_"),
}


def proto_names(descriptor: EnumDescriptor, prefix: str) -> list[str]:
    """The names of ``descriptor``'s values without ``prefix``, in wire order, but UNSPECIFIED."""
    names = [value.name.removeprefix(prefix) for value in descriptor.values]
    return [name for name in names if name != "UNSPECIFIED"]


def declared_for_type_checkers() -> dict[str, list[str]]:
    """Class name -> member names of the classes under ``if TYPE_CHECKING:`` in ``_enums.py``."""
    module = ast.parse(inspect.getsource(_enums))
    blocks = [
        node
        for node in module.body
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
    ]
    assert len(blocks) == 1, "one `if TYPE_CHECKING:` block declares the enums"
    return {
        cls.name: [
            target.id
            for statement in cls.body
            if isinstance(statement, ast.Assign)
            for target in statement.targets
            if isinstance(target, ast.Name)
        ]
        for cls in blocks[0].body
        if isinstance(cls, ast.ClassDef)
    }


@pytest.mark.parametrize("name", sorted(SDK_ENUMS))
def test_an_sdk_enum_is_its_proto_enum_without_prefix_and_unspecified(name: str) -> None:
    sdk_enum: type[enum.StrEnum] = getattr(_enums, name)
    descriptor, prefix = SDK_ENUMS[name]
    assert [member.name for member in sdk_enum] == proto_names(descriptor, prefix)
    for member in sdk_enum:
        assert member.value == member.name
        assert descriptor.values_by_name[prefix + member.name].number > 0


@pytest.mark.parametrize("name", sorted(SDK_ENUMS))
def test_what_type_checkers_read_is_the_proto_enum_too(name: str) -> None:
    descriptor, prefix = SDK_ENUMS[name]
    declared = declared_for_type_checkers()[name]
    expected = proto_names(descriptor, prefix)
    missing, stale = sorted(set(expected) - set(declared)), sorted(set(declared) - set(expected))
    assert (missing, stale) == ([], []), (
        f"_enums.py's TYPE_CHECKING {name}: add {missing}, remove {stale} ({descriptor.full_name})"
    )
    assert declared == expected, "in the proto's order"


def test_every_sdk_enum_is_both_made_and_declared() -> None:
    made = {name for name in _enums.__all__ if name != "proto_str_enum"}
    assert made == set(SDK_ENUMS) == set(declared_for_type_checkers())


def _fruit(*names: str) -> EnumDescriptor:
    """A proto enum ``test.Fruit`` with ``names`` numbered from 0, in a pool of its own."""
    file = descriptor_pb2.FileDescriptorProto(name="test_fruit.proto", package="test")
    fruit = file.enum_type.add(name="Fruit")
    for number, value in enumerate(names):
        fruit.value.add(name=value, number=number)
    pool = descriptor_pool.DescriptorPool()
    return pool.AddSerializedFile(file.SerializeToString()).enum_types_by_name["Fruit"]


def test_a_value_added_to_the_proto_is_a_member_with_no_other_edit() -> None:
    before = proto_str_enum("Fruit", _fruit("FRUIT_UNSPECIFIED", "FRUIT_APPLE"), "FRUIT_", "")
    after = proto_str_enum(
        "Fruit", _fruit("FRUIT_UNSPECIFIED", "FRUIT_APPLE", "FRUIT_PEAR"), "FRUIT_", "Fruit."
    )
    assert [m.value for m in before] == ["APPLE"]
    assert [m.value for m in after] == ["APPLE", "PEAR"]
    assert after.__doc__ == "Fruit."


@pytest.mark.parametrize(
    "names",
    [
        ("FRUIT_NONE", "FRUIT_APPLE"),  # the zero value is not <prefix>UNSPECIFIED
        ("FRUIT_UNSPECIFIED", "APPLE"),  # a value without the prefix
    ],
)
def test_a_proto_enum_off_the_naming_conventions_is_refused(names: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match=r"test\.Fruit"):
        proto_str_enum("Fruit", _fruit(*names), "FRUIT_", "")


def test_members_behave_as_the_hand_written_enum_did() -> None:
    assert Benefit("WORK_INJURY") is Benefit.WORK_INJURY == "WORK_INJURY"
    assert (Benefit.__module__, Benefit.__qualname__) == ("dataward.client._enums", "Benefit")
    assert pickle.loads(pickle.dumps(Benefit.MATERNITY)) is Benefit.MATERNITY
    query = EligibilityQuery("id", Benefit.CHRONIC, Purpose.RESEARCH)
    assert pickle.loads(pickle.dumps(query)) == query
    with pytest.raises(ValueError, match="NOT_A_BENEFIT"):
        Benefit("NOT_A_BENEFIT")


def test_the_shared_purposes_are_the_proto_purposes() -> None:
    # dataward.access.Purpose is still written by hand (the portal, the gRPC API and the SDK
    # share it); until it is made from the proto too, this keeps the two from drifting.
    assert [p.name for p in Purpose] == proto_names(common_pb2.Purpose.DESCRIPTOR, "PURPOSE_")
    assert all(p.value == p.name for p in Purpose)
