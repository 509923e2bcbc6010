"""A tiny, valid registry export built with pyarrow, for zone tests (mutate, then write)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from enclave.dataset import FACE_TEMPLATE_DIM, TABLES
from enclave.persons import check_character

MASTER_KEY = b"correct horse battery staple 42"
_UTC = dt.UTC


def id_number(region: str, birth: dt.date, seq: int) -> str:
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_character(first17)


def bad_check(number: str) -> str:
    """The same number with a wrong check character."""
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong


@dataclass
class Source:
    """Rows per table as column lists, to mutate in place; ``write`` produces
    ``DIR/<table>.parquet``. A table in ``built`` (made whole, vectorized) is written as it is
    instead, and has no column lists."""

    tables: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    built: dict[str, pa.Table] = field(default_factory=dict)

    def column(self, table: str, name: str) -> list[Any]:
        return self.tables[table][name]

    def write(self, directory: Path, *, skip: tuple[str, ...] = ()) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for name, spec in TABLES.items():
            if name in skip:
                continue
            if name in self.built:
                table = self.built[name]
            else:
                table = pa.table(self.tables[name], schema=spec.schema)
            pq.write_table(table, directory / f"{name}.parquet")
        return directory


def make_source(persons: int = 40) -> Source:
    regions = ["110101", "310104", "440305", "510107"]
    p: dict[str, list[Any]] = {k: [] for k in TABLES["persons"].schema.names}
    for i in range(persons):
        birth = dt.date(1950 + i % 60, 1 + i % 12, 1 + i % 28)
        region = regions[i % len(regions)]
        gender = "M" if i % 2 else "F"
        seq = 100 + (i % 400) * 2 + (1 if gender == "M" else 0)
        p["person_id"].append(1000 + i)
        p["id_number"].append(id_number(region, birth, seq % 1000))
        p["name"].append(f"Zhāng Wěi-{i:04d}")
        p["gender"].append(gender)
        p["birth_date"].append(birth)
        p["region_code"].append(region)
        p["phone"].append(None if i % 7 == 3 else f"139{i:08d}")
        p["status"].append(["ACTIVE", "DECEASED", "EMIGRATED"][i % 3 if i % 5 == 0 else 0])
    e: dict[str, list[Any]] = {k: [] for k in TABLES["enrolments"].schema.names}
    for i in range(persons):
        for j in range(1 + i % 2):
            e["person_id"].append(1000 + i)
            e["scheme"].append(["EMPLOYEE", "RESIDENT"][j])
            e["insured_region_code"].append(regions[(i + j) % len(regions)])
            e["start_date"].append(dt.date(2015 + j, 1, 1))
            e["end_date"].append(None if j == 0 else dt.date(2020, 12, 31))
            e["status"].append("ACTIVE" if j == 0 else "TERMINATED")
            e["arrears_months"].append(i % 4)
    inst: dict[str, list[Any]] = {
        "institution_id": [1, 2, 3],
        "name": ["First People's Hospital", "Clinic No. 2", "Pharmacy 3"],
        "kind": ["HOSPITAL", "CLINIC", "PHARMACY"],
        "level": ["TERTIARY", "SECONDARY", "PRIMARY"],
        "region_code": ["110101", "310104", "440305"],
    }
    c: dict[str, list[Any]] = {k: [] for k in TABLES["claims"].schema.names}
    for k in range(persons * 3):
        total = 1000 + 37 * k
        c["claim_id"].append(k + 1)
        c["person_id"].append(1000 + k % persons)
        c["institution_id"].append(1 + k % 3)
        c["visit_date"].append(dt.date(2023, 1 + k % 12, 1 + k % 28))
        c["visit_type"].append("OUTPATIENT")
        c["icd10"].append("J06.9")
        c["total_cents"].append(total)
        c["fund_paid_cents"].append(total * 7 // 10)
        c["self_paid_cents"].append(total - total * 7 // 10)
    b: dict[str, list[Any]] = {k: [] for k in TABLES["family_bindings"].schema.names}
    for i in range(0, persons - 1, 4):
        b["holder_person_id"].append(1000 + i)
        b["member_person_id"].append(1000 + i + 1)
        b["relation"].append("CHILD")
        b["method"].append("DOCUMENT")
        b["bound_at"].append(dt.datetime(2024, 3, 1, 12, 0, tzinfo=_UTC))
        b["unbound_at"].append(None if i % 8 else dt.datetime(2024, 6, 1, tzinfo=_UTC))
    f: dict[str, list[Any]] = {
        "person_id": [1000 + i for i in range(persons)],
        "template": [[float(i % 10) / 10.0] * FACE_TEMPLATE_DIM for i in range(persons)],
        "source": ["SYNTHETIC"] * persons,
        "enrolled_at": [dt.datetime(2022, 1, 1, tzinfo=_UTC)] * persons,
    }
    return Source(
        {
            "persons": p,
            "enrolments": e,
            "institutions": inst,
            "claims": c,
            "family_bindings": b,
            "face_templates": f,
        }
    )


def with_many_claims(source: Source, claims: int) -> Source:
    """Replace the claims with ``claims`` valid rows built vectorized (for slow-ingest tests)."""
    import numpy as np

    persons = np.array(source.column("persons", "person_id"), dtype=np.int64)
    k = np.arange(claims, dtype=np.int64)
    total = 1000 + (k % 5000) * 3
    fund = total * 7 // 10
    del source.tables["claims"]
    source.built["claims"] = pa.table(
        {
            "claim_id": k + 1,
            "person_id": persons[k % len(persons)],
            "institution_id": 1 + k % 3,
            "visit_date": pa.array((19000 + k % 700).astype(np.int32), pa.date32()),
            "visit_type": pa.array(np.array(["OUTPATIENT", "INPATIENT"])[k % 2]),
            "icd10": pa.array(np.array(["J06.9", "E11.9", "I10"])[k % 3]),
            "total_cents": total,
            "fund_paid_cents": fund,
            "self_paid_cents": total - fund,
        },
        schema=TABLES["claims"].schema,
    )
    return source
