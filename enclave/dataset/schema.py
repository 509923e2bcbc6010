"""The registry export: the six tables the zone ingests, their Arrow schemas and column classes.

This is the contract between the registry (or ``dataward datagen``) and ``dataward zone
ingest``. A column's class decides what the zone may ever do with it:

- ``direct_identifier``: stored only as a keyed HMAC token (for lookups and joins) plus the
  AES-GCM encrypted clear text; never output.
- ``join_key``: links tables (``person_id``); never output.
- ``quasi_identifier``: may be output only generalized (age band, province) and through the gate.
- ``sensitive``: health or biometric content; aggregates only, through the gate.
- ``attribute``: everything else.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

__all__ = [
    "FACE_TEMPLATE_DIM",
    "TABLES",
    "ColumnClass",
    "TableSpec",
    "enum_values",
]

FACE_TEMPLATE_DIM = 128


class ColumnClass(enum.StrEnum):
    DIRECT_IDENTIFIER = "direct_identifier"
    JOIN_KEY = "join_key"
    QUASI_IDENTIFIER = "quasi_identifier"
    SENSITIVE = "sensitive"
    ATTRIBUTE = "attribute"


@dataclass(frozen=True)
class TableSpec:
    """One table of the export: its schema, the class of every column, its key."""

    name: str
    schema: pa.Schema
    classes: Mapping[str, ColumnClass]
    primary_key: tuple[str, ...]
    # Columns restricted to a closed set of values (validated at ingest).
    enums: Mapping[str, frozenset[str]]


_D = ColumnClass.DIRECT_IDENTIFIER
_J = ColumnClass.JOIN_KEY
_Q = ColumnClass.QUASI_IDENTIFIER
_S = ColumnClass.SENSITIVE
_A = ColumnClass.ATTRIBUTE

VISIT_TYPES = frozenset(
    {"OUTPATIENT", "INPATIENT", "PHARMACY", "CHRONIC", "MATERNITY", "WORK_INJURY"}
)


def _spec(
    name: str,
    columns: list[tuple[str, pa.DataType, ColumnClass, bool]],
    primary_key: tuple[str, ...],
    enums: Mapping[str, frozenset[str]],
) -> TableSpec:
    schema = pa.schema([pa.field(col, typ, nullable=nullable) for col, typ, _, nullable in columns])
    return TableSpec(
        name=name,
        schema=schema,
        classes={col: cls for col, _, cls, _ in columns},
        primary_key=primary_key,
        enums=enums,
    )


TABLES: Mapping[str, TableSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "persons",
            [
                ("person_id", pa.int64(), _J, False),
                ("id_number", pa.string(), _D, False),
                ("name", pa.string(), _D, False),
                ("gender", pa.string(), _Q, False),
                ("birth_date", pa.date32(), _Q, False),
                ("region_code", pa.string(), _Q, False),
                ("phone", pa.string(), _D, True),
                ("status", pa.string(), _A, False),
            ],
            ("person_id",),
            {
                "gender": frozenset({"M", "F"}),
                "status": frozenset({"ACTIVE", "DECEASED", "EMIGRATED"}),
            },
        ),
        _spec(
            "enrolments",
            [
                ("person_id", pa.int64(), _J, False),
                ("scheme", pa.string(), _A, False),
                ("insured_region_code", pa.string(), _Q, False),
                ("start_date", pa.date32(), _A, False),
                ("end_date", pa.date32(), _A, True),
                ("status", pa.string(), _A, False),
                ("arrears_months", pa.int32(), _A, False),
            ],
            ("person_id", "scheme", "start_date"),
            {
                "scheme": frozenset({"EMPLOYEE", "RESIDENT"}),
                "status": frozenset({"ACTIVE", "SUSPENDED", "TERMINATED"}),
            },
        ),
        _spec(
            "institutions",
            [
                ("institution_id", pa.int64(), _A, False),
                ("name", pa.string(), _A, False),
                ("kind", pa.string(), _A, False),
                ("level", pa.string(), _A, False),
                ("region_code", pa.string(), _A, False),
            ],
            ("institution_id",),
            {
                "kind": frozenset({"HOSPITAL", "CLINIC", "PHARMACY"}),
                "level": frozenset({"TERTIARY", "SECONDARY", "PRIMARY"}),
            },
        ),
        _spec(
            "claims",
            [
                ("claim_id", pa.int64(), _J, False),
                ("person_id", pa.int64(), _J, False),
                ("institution_id", pa.int64(), _A, False),
                ("visit_date", pa.date32(), _Q, False),
                ("visit_type", pa.string(), _A, False),
                ("icd10", pa.string(), _S, False),
                ("total_cents", pa.int64(), _S, False),
                ("fund_paid_cents", pa.int64(), _S, False),
                ("self_paid_cents", pa.int64(), _S, False),
            ],
            ("claim_id",),
            {"visit_type": VISIT_TYPES},
        ),
        _spec(
            "family_bindings",
            [
                ("holder_person_id", pa.int64(), _J, False),
                ("member_person_id", pa.int64(), _J, False),
                ("relation", pa.string(), _A, False),
                ("method", pa.string(), _A, False),
                ("bound_at", pa.timestamp("s", tz="UTC"), _A, False),
                ("unbound_at", pa.timestamp("s", tz="UTC"), _A, True),
            ],
            ("holder_person_id", "member_person_id", "bound_at"),
            {
                "relation": frozenset({"SPOUSE", "CHILD", "PARENT", "GRANDPARENT", "GRANDCHILD"}),
                "method": frozenset({"FACE", "DOCUMENT"}),
            },
        ),
        _spec(
            "face_templates",
            [
                ("person_id", pa.int64(), _J, False),
                ("template", pa.list_(pa.float32(), FACE_TEMPLATE_DIM), _S, False),
                ("source", pa.string(), _A, False),
                ("enrolled_at", pa.timestamp("s", tz="UTC"), _A, False),
            ],
            ("person_id",),
            {"source": frozenset({"ID_CARD", "SYNTHETIC"})},
        ),
    )
}


def enum_values(table: str, column: str) -> frozenset[str]:
    """The closed set of values a column may take (empty if it is not an enum)."""
    return TABLES[table].enums.get(column, frozenset())
