"""Claims of a chunk of persons, fully vectorised (no Python loop over claims).

Each person gets a gamma-Poisson (negative binomial) count, heavier for the old and the
chronically ill, scaled by the days they were covered inside the window; visit days are drawn
only inside covered days (so never outside an enrolment, never after death), thinned by a
winter-peaked season; the respiratory share of diagnoses also peaks in winter.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from synthetic._calendar import REF_DAY, WINDOW_START_DAY, YEAR
from synthetic._institutions import Institutions
from synthetic._population import Population

__all__ = ["CLAIMS_PER_PERSON_YEAR", "claims_table"]

CLAIMS_PER_PERSON_YEAR = 10.0
_GAMMA_SHAPE = 0.9
_SEASON_AMPLITUDE = 0.25

VISIT_TYPES = ("OUTPATIENT", "PHARMACY", "CHRONIC", "INPATIENT", "MATERNITY", "WORK_INJURY")
_OUT, _PHA, _CHR, _INP, _MAT, _WRK = range(6)
# Institution class (tertiary, secondary hospital, clinic, pharmacy) by visit type.
_CLASS_P = np.array(
    [[0.25, 0.25, 0.5, 0], [0, 0, 0, 1], [0.2, 0.3, 0.5, 0], [0.45, 0.55, 0, 0],
     [0.5, 0.5, 0, 0], [0.4, 0.6, 0, 0]]
)  # fmt: skip
# Log-normal amounts: median in cents and sigma, by visit type.
_MEDIAN = np.array([18_000, 8_000, 25_000, 900_000, 300_000, 250_000], dtype=np.float64)
_SIGMA = np.array([0.8, 0.7, 0.6, 0.7, 0.9, 1.0])
# Fund share by scheme (resident, employee) and visit type.
_FUND = np.array(
    [[0.5, 0.4, 0.6, 0.65, 0.6, 0.9], [0.6, 0.5, 0.75, 0.85, 0.8, 0.95]]
)  # fmt: skip
_RESPIRATORY = ("J06.9", "J02.9", "J20.9", "J18.9", "J11.1", "J03.9")
_ICD = (
    ("K29.7", "M54.5", "K52.9", "L30.9", "H10.9", "M17.9", "R51", "N39.0", "S93.4", "K02.9"),
    ("I10", "E11.9", "K29.7", "M54.5", "L30.9", "E78.5", "K30"),
    ("I10", "E11.9", "E78.5", "I25.1", "J44.9", "N18.3", "I69.3", "E03.9", "M81.9", "F32.9"),
    ("J18.9", "I63.9", "I21.9", "I50.9", "K35.8", "K80.2", "N20.0", "S72.0", "C34.9", "J44.1"),
    ("Z34.9", "Z34.0", "O80", "O82", "O21.0", "O24.4", "O13"),
    ("S62.6", "S61.9", "S82.2", "S52.5", "S06.0", "T23.2", "S93.4", "S13.4"),
)
_ICD_ALL = tuple(sorted({c for pool in (*_ICD, _RESPIRATORY) for c in pool}))


def _visit_mix() -> np.ndarray:
    """(16, 6) visit-type probabilities by person category bits chronic|maternal|worker|elderly."""
    mix = np.zeros((16, 6))
    for cat in range(16):
        p = np.array([0.55, 0.40, 0.0, 0.03, 0.0, 0.0])
        if cat & 1:
            p[_CHR] = 0.35
        if cat & 2:
            p[_MAT] = 0.04
        if cat & 4:
            p[_WRK] = 0.01
        if cat & 8:
            p[_INP] = 0.06
        mix[cat] = p / p.sum()
    return np.cumsum(mix, axis=1)


def claims_table(
    rng: np.random.Generator, pop: Population, lo: int, hi: int, *, inst: Institutions,
    pref_of_division: np.ndarray, first_claim_id: int,
) -> pa.Table:  # fmt: skip
    """Claims of persons ``lo..hi-1`` (person_id lo+1..hi), claim ids from ``first_claim_id``."""
    birth = pop.birth[lo:hi].astype(np.int64)
    age = (REF_DAY - birth) / YEAR
    # Two covered segments inside the window: the earlier enrolment and the current one.
    s1 = np.maximum(pop.prev_start[lo:hi], WINDOW_START_DAY).astype(np.int64)
    e1 = np.minimum(pop.prev_end[lo:hi], REF_DAY).astype(np.int64)
    len1 = np.where(pop.has_prev[lo:hi], np.maximum(e1 - s1 + 1, 0), 0)
    s2 = np.maximum(pop.start[lo:hi], WINDOW_START_DAY).astype(np.int64)
    e2 = np.minimum(pop.covered_until()[lo:hi], pop.life_end[lo:hi]).astype(np.int64)
    len2 = np.maximum(e2 - s2 + 1, 0)

    chronic = pop.chronic[lo:hi]
    factor = np.select(
        [age < 5, age < 18, age < 40, age < 60, age < 75], [1.6, 0.6, 0.6, 1.0, 1.8], 2.5
    )
    factor = factor * np.where(chronic, 1.8, 1.0)
    factor /= factor.mean()
    rate = CLAIMS_PER_PERSON_YEAR * factor * rng.gamma(_GAMMA_SHAPE, 1 / _GAMMA_SHAPE, hi - lo)
    accept_mean = 1.0 / (1.0 + _SEASON_AMPLITUDE)
    count = rng.poisson(rate * (len1 + len2) / YEAR / accept_mean)

    who = np.repeat(np.arange(hi - lo), count)
    u = (rng.random(who.shape[0]) * (len1 + len2)[who]).astype(np.int64)
    in_first = u < len1[who]
    visit = np.where(in_first, s1[who] + u, s2[who] + u - len1[who])
    doy = (visit - 14) % 365.25
    season = 1.0 + _SEASON_AMPLITUDE * np.cos(2 * np.pi * doy / 365.25)
    keep = rng.random(visit.shape[0]) * (1.0 + _SEASON_AMPLITUDE) < season
    who, visit, in_first, season = who[keep], visit[keep], in_first[keep], season[keep]
    order = np.lexsort((visit, who))
    who, visit, in_first, season = who[order], visit[order], in_first[order], season[order]
    n = who.shape[0]

    # Visit type by the person's category.
    maternal = ~pop.male[lo:hi] & (age >= 22) & (age <= 44)
    scheme = np.where(in_first, 1 - pop.scheme[lo:hi][who], pop.scheme[lo:hi][who])
    worker = (pop.scheme[lo:hi] == 1) & (age >= 20) & (age < 60)
    cat = chronic.astype(np.int64) | maternal << 1 | worker << 2 | (age >= 65) << 3
    cum = _visit_mix()[cat[who]]
    vtype = (rng.random(n)[:, None] > cum[:, :-1]).sum(axis=1)
    # A past enrolment in the resident scheme pays no work injuries.
    vtype = np.where((vtype == _WRK) & (scheme == 0), _OUT, vtype)

    # Diagnosis: respiratory share of outpatient and pharmacy visits peaks in winter.
    resp = ((vtype == _OUT) | (vtype == _PHA)) & (
        rng.random(n) < 0.1 + 0.35 * (season - 0.75) / 0.5
    )
    icd_index = {c: i for i, c in enumerate(_ICD_ALL)}
    icd = np.empty(n, dtype=np.int64)
    pick = rng.random(n)
    for t, pool in enumerate(_ICD):
        sel = vtype == t
        codes = np.array([icd_index[c] for c in pool])
        icd[sel] = codes[(pick[sel] ** 1.6 * len(pool)).astype(np.int64)]
    resp_codes = np.array([icd_index[c] for c in _RESPIRATORY])
    icd[resp] = resp_codes[(pick[resp] ** 1.6 * len(resp_codes)).astype(np.int64)]

    # Institution of the right class in the person's prefecture.
    cls = (rng.random(n)[:, None] > np.cumsum(_CLASS_P, axis=1)[vtype][:, :-1]).sum(axis=1)
    pref = pref_of_division[pop.region[lo:hi]][who]
    institution = (
        inst.first[pref, cls] + (rng.random(n) * inst.count[pref, cls]).astype(np.int64) + 1
    )

    total = np.exp(np.log(_MEDIAN[vtype]) + _SIGMA[vtype] * rng.standard_normal(n))
    total = np.maximum(total.astype(np.int64), 500)
    share = np.clip(_FUND[scheme, vtype] + rng.uniform(-0.08, 0.08, n), 0.0, 1.0)
    fund = (total * share).astype(np.int64)

    return pa.table(
        {
            "claim_id": pa.array(np.arange(first_claim_id, first_claim_id + n), pa.int64()),
            "person_id": pa.array(who + lo + 1, pa.int64()),
            "institution_id": pa.array(institution, pa.int64()),
            "visit_date": pa.array(visit.astype(np.int32), pa.int32()).cast(pa.date32()),
            "visit_type": pa.array(VISIT_TYPES, pa.string()).take(pa.array(vtype, pa.int64())),
            "icd10": pa.array(_ICD_ALL, pa.string()).take(pa.array(icd, pa.int64())),
            "total_cents": pa.array(total, pa.int64()),
            "fund_paid_cents": pa.array(fund, pa.int64()),
            "self_paid_cents": pa.array(total - fund, pa.int64()),
        }
    )
