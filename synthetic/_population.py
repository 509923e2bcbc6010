"""The persons of an export and their life and enrolment histories, drawn all at once.

Everything here is a numpy array over all persons (1M persons is a few tens of MB), so the
identity-number sequence can be made unique across the whole export. Chunks of the output
are slices of these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from synthetic._calendar import REF_DAY, YEAR, day
from synthetic._divisions import DIVISIONS
from synthetic._names import ascii_matrix

__all__ = ["NO_END", "Population", "draw_population", "id_numbers"]

NO_END = np.iinfo(np.int32).max

# China's 2020 census age pyramid, percent per five-year band 0-4 ... 95-99.
_AGE_BANDS = np.array(
    [5.4, 6.4, 6.0, 5.2, 5.3, 6.6, 8.8, 7.0, 6.8, 8.3, 8.7, 7.2, 5.2, 5.2, 3.5, 2.3, 1.5, 0.8,
     0.25, 0.05]
)  # fmt: skip
_DEATHS_PER_YEAR = 0.007
_DEATH_LOOKBACK_YEARS = 5.0
_EMIGRATED_SHARE = 0.002
_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)

STATUS_ACTIVE, STATUS_DECEASED, STATUS_EMIGRATED = 0, 1, 2
STATUS_NAMES = ("ACTIVE", "DECEASED", "EMIGRATED")
ENROL_ACTIVE, ENROL_SUSPENDED, ENROL_TERMINATED = 0, 1, 2
ENROL_NAMES = ("ACTIVE", "SUSPENDED", "TERMINATED")
SCHEME_NAMES = ("RESIDENT", "EMPLOYEE")


@dataclass(frozen=True)
class Population:
    """Per-person arrays (index i is person_id i + 1). Days are days since 1970-01-01."""

    male: np.ndarray  # bool
    birth: np.ndarray  # int32 day
    region: np.ndarray  # index into DIVISIONS: residence and insured region
    id_region: np.ndarray  # index into DIVISIONS: region of first registration (ID prefix)
    sequence: np.ndarray  # int: the 3-digit sequence of the ID number
    status: np.ndarray  # STATUS_*
    life_end: np.ndarray  # int32 day of death or emigration, NO_END otherwise
    chronic: np.ndarray  # bool
    # The current enrolment, and an optional earlier one in the other scheme.
    scheme: np.ndarray  # 0 RESIDENT, 1 EMPLOYEE
    start: np.ndarray
    end: np.ndarray  # NO_END = open
    enrol_status: np.ndarray  # ENROL_*
    arrears: np.ndarray  # int32 months
    has_prev: np.ndarray  # bool
    prev_start: np.ndarray
    prev_end: np.ndarray

    @property
    def size(self) -> int:
        return int(self.male.shape[0])

    def covered_until(self) -> np.ndarray:
        """Last day the current enrolment pays claims: its end, or the start of a suspension."""
        until = np.minimum(self.end, REF_DAY)
        suspended = self.enrol_status == ENROL_SUSPENDED
        return np.where(suspended, REF_DAY - 30 * self.arrears, until).astype(np.int32)


def draw_population(rng: np.random.Generator, n: int) -> Population:
    male = rng.random(n) < 0.512
    band = rng.choice(len(_AGE_BANDS), size=n, p=_AGE_BANDS / _AGE_BANDS.sum())
    age_days = ((band + rng.random(n)) * 5 * YEAR).astype(np.int32)
    birth = (REF_DAY - age_days).astype(np.int32)
    age = age_days / YEAR

    # Residence: most people live where they were first registered; some moved to a big city.
    n_div = len(DIVISIONS)
    id_region = rng.integers(0, n_div, n)
    moved = rng.random(n) < 0.2
    region = np.where(moved, rng.integers(0, n_div, n), id_region)

    # Deaths in the last five years, age-dependent (Gompertz), averaging ~0.7% a year.
    hazard = np.exp(0.09 * (age - 80.0))
    hazard *= _DEATHS_PER_YEAR / hazard.mean()
    died = rng.random(n) < 1.0 - np.exp(-np.minimum(hazard, 2.0) * _DEATH_LOOKBACK_YEARS)
    emigrated = ~died & (rng.random(n) < _EMIGRATED_SHARE) & (age >= 18)
    event_day = REF_DAY - (rng.random(n) * _DEATH_LOOKBACK_YEARS * YEAR).astype(np.int32)
    event_day = np.maximum(event_day, birth + 1)
    status = np.where(died, STATUS_DECEASED, np.where(emigrated, STATUS_EMIGRATED, STATUS_ACTIVE))
    life_end = np.where(died | emigrated, event_day, NO_END).astype(np.int32)

    chronic = rng.random(n) < np.select([age < 40, age < 60], [0.05, 0.2], 0.45)
    employed_share = np.select([age < 18, age < 60], [0.0, 0.55], 0.35)
    scheme = (rng.random(n) < employed_share).astype(np.int8)

    # Current enrolment: employees from their first job, residents from birth or 2010.
    resident_from = np.maximum(birth, day_of(2010)) + rng.integers(0, 3 * 365, n)
    job_from = np.maximum(birth + int(18 * YEAR), day_of(2000)) + rng.integers(0, 8 * 365, n)
    start = np.where(scheme == 1, job_from, resident_from)
    start = np.minimum(start, REF_DAY - 30).astype(np.int32)
    start = np.maximum(start, birth)
    end = life_end.copy()
    enrol_status = np.where(end != NO_END, ENROL_TERMINATED, ENROL_ACTIVE).astype(np.int8)
    arrears = np.zeros(n, dtype=np.int32)
    open_ = enrol_status == ENROL_ACTIVE
    # Some leave the scheme (moved away), some fall into arrears and are suspended.
    left = open_ & (rng.random(n) < 0.02)
    end = np.where(left, start + ((REF_DAY - start) * rng.random(n)).astype(np.int32), end)
    enrol_status[left] = ENROL_TERMINATED
    suspended = open_ & ~left & (rng.random(n) < 0.04)
    enrol_status[suspended] = ENROL_SUSPENDED
    arrears[suspended] = np.minimum(rng.geometric(0.3, int(suspended.sum())), 24)
    # An earlier enrolment in the other scheme, then a gap of one to twelve months.
    gap = rng.integers(30, 366, n)
    duration = rng.integers(180, 8 * 365, n)
    prev_end = (start - gap).astype(np.int32)
    prev_start = (prev_end - duration).astype(np.int32)
    has_prev = (rng.random(n) < 0.15) & (prev_start >= birth + int(16 * YEAR))

    sequence = _unique_sequences(rng, id_region, birth, male)
    return Population(
        male=male, birth=birth, region=region, id_region=id_region, sequence=sequence,
        status=status.astype(np.int8), life_end=life_end, chronic=chronic, scheme=scheme,
        start=start, end=end.astype(np.int32), enrol_status=enrol_status, arrears=arrears,
        has_prev=has_prev, prev_start=prev_start, prev_end=prev_end,
    )  # fmt: skip


def day_of(year: int) -> int:
    import datetime as dt

    return day(dt.date(year, 1, 1))


def _unique_sequences(
    rng: np.random.Generator, region: np.ndarray, birth: np.ndarray, male: np.ndarray
) -> np.ndarray:
    """Sequence numbers unique within (region, birth date), odd for men and even for women."""
    n = region.shape[0]
    order = np.lexsort((male, birth, region))
    key = (region.astype(np.int64) * 200_000 + (birth.astype(np.int64) + 100_000)) * 2 + male
    k = key[order]
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = k[1:] != k[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - group_start
    if n and rank.max() >= 400:
        raise OverflowError("more than 400 persons share a region, birth date and gender")
    offset = np.asarray(
        rng.integers(0, 99, size=(n,))
    )  # per-person draw; only its group's first use matters
    first_offset = np.empty(n, dtype=np.int64)
    first_offset[order] = offset[order][group_start]
    v = first_offset + rank  # < 499, distinct within a group
    return np.where(male, 2 * v + 1, 2 * v + 2)


def id_numbers(pop: Population) -> pa.StringArray:
    """GB 11643 numbers: registration region, birth date, sequence, MOD 11-2 check character."""
    n = pop.size
    codes = np.array([int(d.code) for d in DIVISIONS], dtype=np.int64)[pop.id_region]
    ymd = pop.birth.astype("datetime64[D]")
    years = ymd.astype("datetime64[Y]").astype(np.int64) + 1970
    months = ymd.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (ymd - ymd.astype("datetime64[M]")).astype(np.int64) + 1
    body = ((codes * 10_000 + years) * 100 + months) * 100 + days
    body = body * 1000 + pop.sequence
    digits = np.empty((n, 18), dtype=np.uint8)
    rest = body.copy()
    for pos in range(16, -1, -1):
        digits[:, pos] = rest % 10
        rest //= 10
    total = (digits[:, :17].astype(np.int64) * _WEIGHTS).sum(axis=1)
    digits[:, :17] += 48
    digits[:, 17] = _CHECK[total % 11]
    return ascii_matrix(digits)
