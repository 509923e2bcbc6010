"""Arrow tables of persons, enrolments and face templates for a chunk of the population."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from enclave.dataset import FACE_TEMPLATE_DIM
from synthetic._calendar import REF_DAY, day
from synthetic._divisions import DIVISIONS
from synthetic._names import ascii_column
from synthetic._population import (
    ENROL_NAMES,
    ENROL_TERMINATED,
    NO_END,
    SCHEME_NAMES,
    STATUS_NAMES,
    Population,
)

__all__ = ["enrolments_table", "faces_table", "persons_table"]

_CODES = np.array([d.code for d in DIVISIONS])
_TS = pa.timestamp("s", tz="UTC")


def _dates(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array[Any]:
    return pa.array(values.astype(np.int32), pa.int32(), mask=null).cast(pa.date32())


def persons_table(
    pop: Population, lo: int, hi: int, *, ids: pa.StringArray, names: pa.StringArray,
    phones: np.ndarray, has_phone: np.ndarray,
) -> pa.Table:  # fmt: skip
    return pa.table(
        {
            "person_id": pa.array(np.arange(lo + 1, hi + 1), pa.int64()),
            "id_number": ids.slice(lo, hi - lo),
            "name": names.slice(lo, hi - lo),
            "gender": pa.array(np.where(pop.male[lo:hi], "M", "F"), pa.string()),
            "birth_date": _dates(pop.birth[lo:hi]),
            "region_code": pa.array(_CODES[pop.region[lo:hi]], pa.string()),
            "phone": ascii_column(phones[lo:hi], 11, has_phone[lo:hi]),
            "status": pa.array(np.array(STATUS_NAMES)[pop.status[lo:hi]], pa.string()),
        }
    )


def enrolments_table(pop: Population, lo: int, hi: int) -> pa.Table:
    """The current enrolment of every person, preceded by the earlier one where there is one."""
    prev = np.flatnonzero(pop.has_prev[lo:hi]) + lo
    cur = np.arange(lo, hi)
    person = np.concatenate([prev, cur])
    order = np.lexsort((np.concatenate([np.zeros(prev.size), np.ones(cur.size)]), person))
    person = person[order]
    is_cur = order >= prev.size
    scheme = np.where(is_cur, pop.scheme[person], 1 - pop.scheme[person])
    start = np.where(is_cur, pop.start[person], pop.prev_start[person])
    end = np.where(is_cur, pop.end[person], pop.prev_end[person])
    status = np.where(is_cur, pop.enrol_status[person], ENROL_TERMINATED)
    arrears = np.where(is_cur, pop.arrears[person], 0)
    return pa.table(
        {
            "person_id": pa.array(person + 1, pa.int64()),
            "scheme": pa.array(np.array(SCHEME_NAMES)[scheme], pa.string()),
            "insured_region_code": pa.array(_CODES[pop.region[person]], pa.string()),
            "start_date": _dates(start),
            "end_date": _dates(end, end == NO_END),
            "status": pa.array(np.array(ENROL_NAMES)[status], pa.string()),
            "arrears_months": pa.array(arrears, pa.int32()),
        }
    )


def faces_table(rng: np.random.Generator, pop: Population, lo: int, hi: int) -> pa.Table:
    """One synthetic unit-length template per person, enrolled while alive."""
    n = hi - lo
    vec = rng.standard_normal((n, FACE_TEMPLATE_DIM), dtype=np.float32)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    birth = pop.birth[lo:hi].astype(np.int64)
    first = np.maximum(birth + 30, day(__import__("datetime").date(2012, 1, 1)))
    last = np.minimum(pop.life_end[lo:hi].astype(np.int64), REF_DAY)
    first = np.where(first > last, birth, first)
    enrolled = (first + rng.random(n) * (last - first)).astype(np.int64) * 86400
    enrolled += rng.integers(8 * 3600, 18 * 3600, n)
    return pa.table(
        {
            "person_id": pa.array(np.arange(lo + 1, hi + 1), pa.int64()),
            "template": pa.FixedSizeListArray.from_arrays(
                pa.array(vec.reshape(-1), pa.float32()), FACE_TEMPLATE_DIM
            ),
            "source": pa.array(np.full(n, "SYNTHETIC"), pa.string()),
            "enrolled_at": pa.array(enrolled, pa.int64()).cast(_TS),
        }
    )
