"""Errors of the output gate (part of the zone's one tree, :mod:`enclave.errors`)::

    ZoneError
    └── GateError                   the gate releases nothing for this answer
        ├── GateRulesInvalid        the rules are inconsistent (a bug of the caller's mapping)
        ├── ColumnNotAllowed        the input has a column that is neither a dimension nor an
        │                           aggregate nor the persons column (defence in depth)
        ├── ColumnMissing           a declared dimension or aggregate, or the persons column,
        │                           is absent
        ├── ColumnTypeInvalid       an aggregate or the persons column is not int64
        ├── DuplicateCell           two rows carry the same dimension values
        └── UnsupportedShape        margins the gate cannot protect exactly (e.g. CUBE over
                                    three dimensions): the query is refused, not released

All but :class:`UnsupportedShape` mean the query path built a wrong input: "this is a bug"
(``INTERNAL``). Public messages name columns and rules, never a data value.
"""

from __future__ import annotations

from enclave.errors import ZoneError

__all__ = [
    "ColumnMissing",
    "ColumnNotAllowed",
    "ColumnTypeInvalid",
    "DuplicateCell",
    "GateError",
    "GateRulesInvalid",
    "UnsupportedShape",
]


class GateError(ZoneError):
    reason = "INTERNAL"
    default_message = "the output gate refused the answer"


class GateRulesInvalid(GateError):  # noqa: N818 (API names)
    reason = "INTERNAL"
    default_message = "the gate rules are inconsistent"


class ColumnNotAllowed(GateError):  # noqa: N818
    reason = "INTERNAL"

    def __init__(self, column: str) -> None:
        self.column = column
        super().__init__(f"column {column!r} is neither a dimension nor an aggregate")


class ColumnMissing(GateError):  # noqa: N818
    reason = "INTERNAL"

    def __init__(self, column: str) -> None:
        self.column = column
        super().__init__(f"column {column!r} is missing from the aggregate")


class ColumnTypeInvalid(GateError):  # noqa: N818
    reason = "INTERNAL"

    def __init__(self, column: str, expected: str = "int64") -> None:
        self.column = column
        super().__init__(f"column {column!r} must be {expected}")


class DuplicateCell(GateError):  # noqa: N818
    reason = "INTERNAL"
    default_message = "two rows of the aggregate have the same dimension values"


class UnsupportedShape(GateError):  # noqa: N818
    reason = "FIELD_INVALID"
    default_message = (
        "the answer's margins cannot be protected by the gate: ask for totals over at most "
        "two dimensions, or for a hierarchy (ROLLUP)"
    )
