"""The SDK's enums, made from the generated proto enums so that they are the wire's, always.

A member is a proto value's name without the enum's prefix, in wire order, and its value is
that same name (``BENEFIT_WORK_INJURY`` -> ``Benefit.WORK_INJURY == "WORK_INJURY"``); the
``*_UNSPECIFIED`` zero value, which means "absent" on the wire, is not a member. A value added
to the .proto is a member here once ``make protos`` has run, with no edit to this file.

Type checkers cannot see members made at run time, so they read the class under
``TYPE_CHECKING`` instead; ``tests/unit/dataward/test_client_enums.py`` fails when that
declaration and the proto differ, and says which names to add or remove.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, cast

from google.protobuf.descriptor import EnumDescriptor

from dataward.v1 import eligibility_pb2

__all__ = ["Benefit", "proto_str_enum"]


def proto_str_enum(
    name: str, descriptor: EnumDescriptor, prefix: str, doc: str
) -> type[enum.StrEnum]:
    """A ``StrEnum`` named ``name`` with one member per value of ``descriptor`` but the zero one.

    The class says it is ``dataward.client._enums.<name>`` (so that its members pickle):
    assign it to that name in this module.

    Raises ``ValueError`` when the proto breaks the conventions the names rely on (which
    ``buf lint`` also enforces): the zero value is ``<prefix>UNSPECIFIED`` and every other
    value starts with ``prefix``.
    """
    zero, *values = descriptor.values
    if zero.number != 0 or zero.name != f"{prefix}UNSPECIFIED":
        raise ValueError(f"{descriptor.full_name}: the zero value is not {prefix}UNSPECIFIED")
    strays = [v.name for v in values if not v.name.startswith(prefix)]
    if strays:
        raise ValueError(f"{descriptor.full_name}: values without the prefix {prefix}: {strays}")
    names = [v.name.removeprefix(prefix) for v in values]
    members = [(n, n) for n in names]  # each value is its own name
    # The functional API returns the new class, though typeshed types the call as an instance.
    created = cast(
        "type[enum.StrEnum]", enum.StrEnum(name, members, module=__name__, qualname=name)
    )
    created.__doc__ = doc
    return created


if TYPE_CHECKING:

    class Benefit(enum.StrEnum):
        """The kinds of care (the claims' visit types): ``eligibility.proto``'s ``Benefit``."""

        OUTPATIENT = "OUTPATIENT"
        INPATIENT = "INPATIENT"
        PHARMACY = "PHARMACY"
        CHRONIC = "CHRONIC"
        MATERNITY = "MATERNITY"
        WORK_INJURY = "WORK_INJURY"

else:
    Benefit = proto_str_enum(
        "Benefit",
        eligibility_pb2.Benefit.DESCRIPTOR,
        "BENEFIT_",
        "The kinds of care (the claims' visit types): ``eligibility.proto``'s ``Benefit``.",
    )
