"""A real synthetic registry ingested into a zone, opened as the compute code reads it, and the
credit features computed from its Parquet files by plain DuckDB and Python, independently of
`enclave.compute` (no SQL of it, no `Feature.value_of`)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from enclave.dataset import Zone
from enclave.keys import open_keyring
from tests.support.query_export import Export, synthetic_export
from tests.support.zone_source import MASTER_KEY

PERSONS = 300
#: The synthetic export's reference date: its claims end on it.
AS_OF = dt.date(2026, 6, 30)
_CHRONIC_CODES = frozenset({"I25", "I69", "J44", "N18"})
_SELF_PAID_EDGES = (0, 50000, 200000, 500000)


@dataclass(frozen=True)
class Registry:
    export: Export
    zone: Zone
    enrolments: Mapping[int, list[tuple[dt.date, dt.date | None, int]]]
    claims: Mapping[int, list[tuple[dt.date, str, str, int]]]
    person_ids: tuple[int, ...]


def open_registry(root: Path) -> Registry:
    """A synthetic export of `PERSONS` ingested under `root`, its zone opened and its
    enrolments and claims read by plain DuckDB (the `registry` fixture, once a session)."""
    export = synthetic_export(root, persons=PERSONS)
    zone = Zone.open(export.zone, open_keyring(export.zone, MASTER_KEY))
    files = export.files
    with duckdb.connect() as db:
        persons = db.execute(
            "SELECT person_id FROM read_parquet($f) ORDER BY 1", {"f": files["persons"][0]}
        ).fetchall()
        enrolment_rows = db.execute(
            "SELECT person_id, start_date, end_date, arrears_months FROM read_parquet($f)",
            {"f": files["enrolments"][0]},
        ).fetchall()
        claim_rows = db.execute(
            "SELECT person_id, visit_date, visit_type, icd10, self_paid_cents "
            "FROM read_parquet($f)",
            {"f": files["claims"][0]},
        ).fetchall()
    enrolments: dict[int, list[tuple[dt.date, dt.date | None, int]]] = defaultdict(list)
    for person, start, end, arrears in enrolment_rows:
        enrolments[person].append((start, end, arrears))
    claims: dict[int, list[tuple[dt.date, str, str, int]]] = defaultdict(list)
    for person, visit, kind, icd10, self_paid in claim_rows:
        claims[person].append((visit, kind, icd10, self_paid))
    return Registry(export, zone, enrolments, claims, tuple(p for (p,) in persons))


def months_before(day: dt.date, months: int) -> dt.date:
    """`day` minus whole months (the day of month kept; every test date is a month's end
    that exists in the earlier month too)."""
    index = day.year * 12 + day.month - 1 - months
    return day.replace(year=index // 12, month=index % 12 + 1)


def credit_features(registry: Registry, person: int, as_of: dt.date = AS_OF) -> tuple[int, ...]:
    """credit_v1 for `person`, as default.yaml's comments describe it, by hand."""
    enrolled = [(s, e, a) for s, e, a in registry.enrolments.get(person, []) if s <= as_of]
    months = 0
    for back in range(36):
        index = as_of.year * 12 + as_of.month - 1 - back
        first = dt.date(index // 12, index % 12 + 1, 1)
        after = dt.date((index + 1) // 12, (index + 1) % 12 + 1, 1)
        if any(s < after and (e or as_of) >= first for s, e, _ in enrolled):
            months += 1
    arrears = max((a for _, _, a in enrolled), default=0)
    year_ago, two_years_ago = months_before(as_of, 12), months_before(as_of, 24)
    last_year = [c for c in registry.claims.get(person, []) if year_ago < c[0] <= as_of]
    count = {kind: sum(1 for c in last_year if c[1] == kind) for kind in _KINDS}
    paid = min(sum(c[3] for c in last_year), 1_000_000)
    chronic = any(
        two_years_ago < visit <= as_of
        and (kind == "CHRONIC" or icd10[:3].upper() in _CHRONIC_CODES)
        for visit, kind, icd10, _ in registry.claims.get(person, [])
    )
    return (
        min(months, 36),
        min(arrears, 24),
        min(count["OUTPATIENT"], 60) // 5 * 5,
        min(count["INPATIENT"], 10),
        min(count["PHARMACY"], 60) // 5 * 5,
        min(count["CHRONIC"], 60) // 5 * 5,
        max(edge for edge in _SELF_PAID_EDGES if edge <= paid),
        int(chronic),
    )


_KINDS = ("OUTPATIENT", "INPATIENT", "PHARMACY", "CHRONIC")
