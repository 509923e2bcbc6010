"""Validation of a registry export: table schemas (all or nothing) and row rules (per row).

A schema problem stops the ingest with an error naming the table and column. A row problem
rejects that row with a reason code — ``null:<column>``, ``enum:<column>``,
``id_number:<RULE>``, ``id_number:BIRTH_DATE_MISMATCH``, ``id_number:GENDER_MISMATCH``,
``duplicate_key``, ``duplicate:id_number``, ``orphan:<column>``, ``amounts`` — never the value.
Row checks are vectorized (pyarrow.compute, numpy), the GB 11643 rules of a number on its own
too (:func:`id_number_rule_codes`, tested against :func:`enclave.persons.validate_id_number`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from enclave.dataset.schema import TABLES, TableSpec
from enclave.errors import MissingTable, SchemaMismatch, SourceNotFound, UnreadableSource
from enclave.persons import (
    BIRTH_DATE_SPAN,
    GENDER_DIGIT,
    ID_CHECK_MAP,
    ID_WEIGHTS,
    PROVINCE_CODES,
    InvalidReason,
)

__all__ = [
    "BIRTH_DATE_MISMATCH",
    "GENDER_MISMATCH",
    "RowVerdicts",
    "check_source",
    "duplicate_mask",
    "id_number_rule_codes",
    "mark_id_number_agreement",
    "mark_id_number_rules",
    "member_mask",
    "open_export_table",
    "rows_mask",
    "table_path",
]

Mask = npt.NDArray[np.bool_]

BIRTH_DATE_MISMATCH = "id_number:BIRTH_DATE_MISMATCH"
GENDER_MISMATCH = "id_number:GENDER_MISMATCH"
_ODD_DIGITS = pa.array(["1", "3", "5", "7", "9"], type=pa.string())


def table_path(source_dir: Path, table: str) -> Path:
    return source_dir / f"{table}.parquet"


def open_export_table(path: Path) -> pq.ParquetFile:
    """A table of the export, to read batch by batch. Without ``pre_buffer``: with it (the
    default) pyarrow buffers every column chunk of the file as iteration begins, so a 2.4 GB
    face-templates file was held whole (measured: 1.5 GB allocated after 24 of 45 row groups,
    170 MB without)."""
    return pq.ParquetFile(path, pre_buffer=False)


def check_source(source_dir: Path) -> dict[str, int]:
    """Check every table exists with exactly its schema; return each table's row count."""
    if not source_dir.is_dir():
        raise SourceNotFound
    rows: dict[str, int] = {}
    for name, spec in TABLES.items():
        path = table_path(source_dir, name)
        if not path.is_file():
            raise MissingTable(name)
        try:
            with pq.ParquetFile(path) as handle:
                schema, count = handle.schema_arrow, handle.metadata.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise UnreadableSource(name) from exc
        _check_schema(spec, schema)
        rows[name] = count
    return rows


def _check_schema(spec: TableSpec, actual: pa.Schema) -> None:
    for expected in spec.schema:
        index = actual.get_field_index(expected.name)
        if index < 0:
            raise SchemaMismatch(spec.name, expected.name, str(expected.type), "no such column")
        found = actual.field(index).type
        if not _compatible(expected.type, found):
            raise SchemaMismatch(spec.name, expected.name, str(expected.type), str(found))
    for extra in actual.names:
        if spec.schema.get_field_index(extra) < 0:
            raise SchemaMismatch(spec.name, extra, "no such column", "an extra column")


def _compatible(expected: pa.DataType, found: pa.DataType) -> bool:
    """Equal types; or timestamps in the same zone at any unit (Parquet has no seconds unit, so
    a ``timestamp[s]`` written by pyarrow reads back as ``timestamp[ms]``)."""
    if found == expected:
        return True
    return (
        pa.types.is_timestamp(expected) and pa.types.is_timestamp(found) and expected.tz == found.tz  # type: ignore[attr-defined]
    )


@dataclass
class RowVerdicts:
    """First failing rule per row of a batch (0 = accepted), rules registered by name."""

    rules: list[str] = field(default_factory=list)

    def code(self, rule: str) -> int:
        if rule not in self.rules:
            self.rules.append(rule)
        return self.rules.index(rule) + 1

    def base(self, spec: TableSpec, batch: pa.RecordBatch | pa.Table) -> npt.NDArray[np.int16]:
        """Nulls in non-nullable columns, then values outside an enum."""
        codes = np.zeros(batch.num_rows, dtype=np.int16)
        for f in spec.schema:
            if not f.nullable:
                column = batch.column(f.name)
                if column.null_count:
                    self.mark(codes, f"null:{f.name}", _np(pc.is_null(column)))
        for name, allowed in spec.enums.items():
            column = batch.column(name)
            ok = pc.is_in(column, value_set=pa.array(sorted(allowed), type=pa.string()))
            bad = _np(pc.invert(ok))
            if column.null_count:
                bad &= ~_np(pc.is_null(column))
            self.mark(codes, f"enum:{name}", bad)
        return codes

    def mark(self, codes: npt.NDArray[np.int16], rule: str, bad: Mask) -> None:
        if bad.any():
            codes[(codes == 0) & bad] = self.code(rule)


def mark_id_number_rules(numbers: Any, codes: npt.NDArray[np.int16], verdicts: RowVerdicts) -> None:
    """Mark each row whose ID number fails a GB 11643 rule (``id_number:<RULE>``, the first
    failing one as :func:`enclave.persons.validate_id_number` finds it) among the rows still
    accepted; nulls are left to the null rule. The rules are registered in the order their
    first row comes, as a per-value loop would, so the rejects report reads the same."""
    rule = id_number_rule_codes(numbers)
    rule[codes != 0] = 0
    present = np.unique(rule[rule != 0])
    firsts = sorted((int(np.argmax(rule == r)), int(r)) for r in present)
    for _, r in firsts:
        codes[rule == r] = verdicts.code(f"id_number:{_ID_RULES[r - 1]}")


_ID_RULES = tuple(InvalidReason)
_LENGTH, _CHARACTERS, _CHECK, _BIRTH, _REGION = (
    _ID_RULES.index(r) + 1
    for r in (
        InvalidReason.LENGTH,
        InvalidReason.CHARACTERS,
        InvalidReason.CHECK_CHARACTER,
        InvalidReason.BIRTH_DATE,
        InvalidReason.REGION,
    )
)
_ID_LENGTH = 18
_ID_WEIGHTS = np.array(ID_WEIGHTS, dtype=np.int64)
_ID_CHECK_MAP = np.frombuffer(ID_CHECK_MAP.encode("ascii"), dtype=np.uint8)
_PROVINCES = np.zeros(100, dtype=np.bool_)
_PROVINCES[[int(code) for code in PROVINCE_CODES]] = True
_EARLIEST_YEAR = 1880  # validate_id_number's earliest birth date is 1880-01-01
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def id_number_rule_codes(numbers: Any) -> npt.NDArray[np.int8]:
    """Per value, 0 (valid, or null) or 1 + the index in :class:`InvalidReason` of the first
    GB 11643 rule it fails, the same as :func:`enclave.persons.validate_id_number` (without
    ``today``) finds value by value -- in numpy over the column's bytes, not a Python call a
    value: length in characters, then 17 ASCII digits and a digit or ``X``, the MOD 11-2
    check character, a calendar birth date not before 1880, the province and a region code
    that is not ``RR0000``."""
    column: Any = numbers.combine_chunks() if isinstance(numbers, pa.ChunkedArray) else numbers
    n = len(column)
    rule = np.zeros(n, dtype=np.int8)
    if n == 0:
        return rule
    null = _np(pc.is_null(column))
    chars = np.asarray(pc.fill_null(pc.utf8_length(column), _ID_LENGTH).to_numpy())
    width = np.asarray(pc.fill_null(pc.binary_length(column), _ID_LENGTH).to_numpy())
    rule[~null & (chars != _ID_LENGTH)] = _LENGTH
    # 18 characters in more than 18 bytes: a character outside ASCII, never a digit here
    rule[~null & (chars == _ID_LENGTH) & (width != _ID_LENGTH)] = _CHARACTERS
    ascii18 = ~null & (rule == 0)
    placeholder = pa.scalar("0" * _ID_LENGTH, type=pa.string())
    uniform: Any = pc.if_else(pa.array(ascii18), column, placeholder)
    values = np.frombuffer(pc.cast(uniform, pa.binary()).buffers()[2], dtype=np.uint8)
    raw = values[: n * _ID_LENGTH].reshape(n, _ID_LENGTH)  # every value is 18 bytes now
    digits = raw.astype(np.int64) - ord("0")
    is_digit = (digits >= 0) & (digits <= 9)
    last = raw[:, 17]
    characters = is_digit[:, :17].all(axis=1) & (is_digit[:, 17] | (last == ord("X")))
    _first(rule, ascii18 & ~characters, _CHARACTERS)
    body = np.where(is_digit[:, :17], digits[:, :17], 0)
    check = _ID_CHECK_MAP[(body @ _ID_WEIGHTS) % 11]
    _first(rule, ascii18 & (check != last), _CHECK)
    year = body[:, 6] * 1000 + body[:, 7] * 100 + body[:, 8] * 10 + body[:, 9]
    month = body[:, 10] * 10 + body[:, 11]
    day = body[:, 12] * 10 + body[:, 13]
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    in_month = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    real_date = (month >= 1) & (month <= 12) & (day >= 1) & (day <= in_month)
    _first(rule, ascii18 & ~(real_date & (year >= _EARLIEST_YEAR)), _BIRTH)
    province = _PROVINCES[body[:, 0] * 10 + body[:, 1]]
    county = body[:, 2:6].any(axis=1)  # region[2:] == "0000" is no region
    _first(rule, ascii18 & ~(province & county), _REGION)
    return rule


def _first(rule: npt.NDArray[np.int8], failing: Mask, code: int) -> None:
    rule[failing & (rule == 0)] = code


def mark_id_number_agreement(
    table: pa.Table | pa.RecordBatch, codes: npt.NDArray[np.int16], verdicts: RowVerdicts
) -> None:
    """Reject rows whose ID number disagrees with the same row's ``birth_date`` or ``gender``.

    Vectorized over the string column: the birth date is ``id_number[6:14]`` (``YYYYMMDD``),
    parsed to a date and compared with ``birth_date`` (parsing the 8 characters is ~20x faster
    than formatting the date column); the gender digit is ``id_number[16]`` (odd = ``M``, even
    = ``F``). A registry export where they disagree is corrupt, and age
    bands and identity checks downstream would silently use one or the other.

    Only rows still accepted are marked (``mark`` keeps the first failing rule), so a number
    already rejected as malformed keeps its ``id_number:<RULE>`` reason; nulls never mismatch
    here (the null rule reports them). Fails closed: a date that does not parse is a mismatch.

    The region prefix ``id_number[0:6]`` is deliberately NOT compared with ``region_code``: it is
    the place of first registration, fixed for life, while ``region_code`` is where the person
    lives now — they legitimately differ for everyone who moved.
    """
    numbers = table.column("id_number")
    start, stop = BIRTH_DATE_SPAN
    digits = pc.utf8_slice_codeunits(numbers, start, stop)
    parsed = pc.strptime(digits, format="%Y%m%d", unit="s", error_is_null=True)
    stated_birth = pc.cast(parsed, pa.date32())
    verdicts.mark(codes, BIRTH_DATE_MISMATCH, _differs(stated_birth, table.column("birth_date")))
    digit = pc.utf8_slice_codeunits(numbers, GENDER_DIGIT, GENDER_DIGIT + 1)
    stated_gender = pc.if_else(pc.is_in(digit, value_set=_ODD_DIGITS), "M", "F")
    verdicts.mark(codes, GENDER_MISMATCH, _differs(stated_gender, table.column("gender")))


def _differs(stated: Any, recorded: Any) -> Mask:
    """``stated != recorded``, a null on either side counting as different (fail closed; rows
    with a null column or a malformed number already carry their own reason)."""
    unequal: Any = pc.not_equal(stated, recorded)
    return _np(pc.fill_null(unequal, True))


def duplicate_mask(table: pa.Table, keys: Sequence[str]) -> Mask:
    """Rows whose key equals an earlier row's key (the first occurrence is kept)."""
    n = table.num_rows
    mask = np.zeros(n, dtype=np.bool_)
    if n < 2:
        return mask
    keyed = table.select(list(keys))
    if len(keys) == 1 and pc.count_distinct(keyed.column(0), mode="all").as_py() == n:
        return mask
    order = pc.sort_indices(keyed, sort_keys=[(k, "ascending") for k in keys])  # stable
    ordered = keyed.take(order)
    same = np.ones(n - 1, dtype=np.bool_)
    for k in keys:
        column = ordered.column(k)
        equal: Any = pc.equal(column.slice(1), column.slice(0, n - 1))
        same &= _np(pc.fill_null(equal, False))
    mask[order.to_numpy()[1:][same]] = True
    return mask


def rows_mask(rows: npt.NDArray[np.int64], n: int) -> Mask:
    """A mask of ``n`` rows, true at the row numbers ``rows``."""
    mask = np.zeros(n, dtype=np.bool_)
    mask[rows] = True
    return mask


def member_mask(values: Any, sorted_set: npt.NDArray[np.int64]) -> Mask:
    """Which values occur in ``sorted_set`` (binary search; nulls are not members)."""
    filled: Any = pc.fill_null(values, np.iinfo(np.int64).min)
    arr = filled.to_numpy()
    if len(sorted_set) == 0:
        return np.zeros(len(arr), dtype=np.bool_)
    pos = np.minimum(np.searchsorted(sorted_set, arr), len(sorted_set) - 1)
    result: Mask = sorted_set[pos] == arr
    return result


def _np(array: Any) -> Mask:
    result: Mask = np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.bool_)
    return result
