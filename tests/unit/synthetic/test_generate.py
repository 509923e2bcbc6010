from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enclave.dataset import TABLES
from enclave.persons import validate_id_number
from synthetic import (
    DIVISIONS,
    HOLDER_MONTHLY_LIMIT,
    MEMBER_MONTHLY_LIMIT,
    REFERENCE_DATE,
    InvalidParametersError,
    OutputNotEmptyError,
    generate,
)

WINDOW_START = dt.date(2024, 7, 1)


def _read(out: Path) -> dict[str, pa.Table]:
    """Read back with the registry schemas (as ingest does): Parquet has no second unit, so
    timestamp[s] columns come back as ms unless read with the schema."""
    return {
        name: pq.read_table(out / f"{name}.parquet", schema=spec.schema)
        for name, spec in TABLES.items()
    }


def _parquet_form(schema: pa.Schema) -> pa.Schema:
    """The schema as Parquet stores it: timestamp[s] is widened to timestamp[ms]."""
    fields = []
    for f in schema:
        widen = pa.types.is_timestamp(f.type) and f.type.unit == "s"
        fields.append(f.with_type(pa.timestamp("ms", tz=f.type.tz)) if widen else f)
    return pa.schema(fields)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dg") / "out"
    generate(out, 3000, seed=7)
    return out


@pytest.fixture(scope="module")
def export(export_dir: Path) -> dict[str, pa.Table]:
    tables = _read(export_dir)
    report_rows = {
        name: pq.read_metadata(export_dir / f"{name}.parquet").num_rows for name in TABLES
    }
    assert report_rows == {name: t.num_rows for name, t in tables.items()}
    return tables


def test_every_table_has_exactly_the_registry_schema(
    export: dict[str, pa.Table], export_dir: Path
) -> None:
    assert set(export) == set(TABLES)
    for name, spec in TABLES.items():
        stored = pq.read_schema(export_dir / f"{name}.parquet").remove_metadata()
        assert stored.equals(_parquet_form(spec.schema)), name
        assert export[name].schema.equals(spec.schema), name
        assert export[name].num_rows > 0, name


def test_enum_columns_stay_in_their_sets(export: dict[str, pa.Table]) -> None:
    for name, spec in TABLES.items():
        for column, allowed in spec.enums.items():
            assert set(export[name][column].to_pylist()) <= allowed, (name, column)


def test_id_numbers_are_valid_and_agree_with_the_row(export: dict[str, pa.Table]) -> None:
    codes = {d.code for d in DIVISIONS}
    persons = export["persons"].to_pylist()
    assert [p["person_id"] for p in persons] == list(range(1, len(persons) + 1))
    for p in persons:
        info = validate_id_number(p["id_number"], today=REFERENCE_DATE)
        assert info.birth_date == p["birth_date"]
        assert info.gender == p["gender"]
        assert info.region_code in codes
        assert p["region_code"] in codes
        assert 2 <= len(p["name"]) <= 3


def test_ids_and_phones_are_unique_and_well_formed(export: dict[str, pa.Table]) -> None:
    ids = export["persons"]["id_number"].to_pylist()
    phones = [p for p in export["persons"]["phone"].to_pylist() if p is not None]
    assert len(set(ids)) == len(ids)
    assert len(set(phones)) == len(phones)
    assert len(phones) > 0.8 * len(ids)
    assert all(len(p) == 11 and p[0] == "1" and p[1] in "3456789" for p in phones)


def test_claim_amounts_add_up(export: dict[str, pa.Table]) -> None:
    c = export["claims"]
    total = c["total_cents"].to_numpy()
    fund = c["fund_paid_cents"].to_numpy()
    self_paid = c["self_paid_cents"].to_numpy()
    assert np.array_equal(fund + self_paid, total)
    assert (fund >= 0).all() and (self_paid >= 0).all() and (total > 0).all()
    claim_ids = c["claim_id"].to_numpy()
    assert np.array_equal(claim_ids, np.arange(1, len(claim_ids) + 1))


def _coverage(export: dict[str, pa.Table]) -> dict[int, list[tuple[dt.date, dt.date]]]:
    """Days each person's enrolments pay claims (a suspension stops payment)."""
    cover: dict[int, list[tuple[dt.date, dt.date]]] = defaultdict(list)
    for e in export["enrolments"].to_pylist():
        end = e["end_date"] or REFERENCE_DATE
        if e["status"] == "SUSPENDED":
            assert e["arrears_months"] > 0 and e["end_date"] is None
            end = REFERENCE_DATE - dt.timedelta(days=30 * e["arrears_months"])
        else:
            assert e["arrears_months"] == 0
        if e["status"] == "TERMINATED":
            assert e["end_date"] is not None
        cover[e["person_id"]].append((e["start_date"], end))
    return cover


def test_claims_only_while_enrolled_and_never_after_death(export: dict[str, pa.Table]) -> None:
    cover = _coverage(export)
    status = {p["person_id"]: p["status"] for p in export["persons"].to_pylist()}
    died = {pid: max(end for _, end in cover[pid]) for pid, s in status.items() if s == "DECEASED"}
    assert died, "a sample of 3000 has deaths"
    for e in export["enrolments"].to_pylist():
        if status[e["person_id"]] != "ACTIVE":
            assert e["end_date"] is not None and e["status"] == "TERMINATED"
    for claim in export["claims"].select(["person_id", "visit_date"]).to_pylist():
        pid, day = claim["person_id"], claim["visit_date"]
        assert WINDOW_START <= day <= REFERENCE_DATE
        assert any(start <= day <= end for start, end in cover[pid]), pid
        if pid in died:
            assert day <= died[pid]


def test_claims_per_person_year_is_about_ten(export: dict[str, pa.Table]) -> None:
    years = 0.0
    for spans in _coverage(export).values():
        for start, end in spans:
            days = (min(end, REFERENCE_DATE) - max(start, WINDOW_START)).days + 1
            years += max(days, 0) / 365.25
    rate = export["claims"].num_rows / years
    assert 8.5 < rate < 11.5
    per_person = Counter(export["claims"]["person_id"].to_pylist())
    # a long tail: the busiest persons have many times the mean
    assert max(per_person.values()) > 5 * np.mean(list(per_person.values()))


def test_visit_types_match_institutions_and_persons(export: dict[str, pa.Table]) -> None:
    kind = dict(
        zip(
            export["institutions"]["institution_id"].to_pylist(),
            export["institutions"]["kind"].to_pylist(),
            strict=True,
        )
    )
    persons = {p["person_id"]: p for p in export["persons"].to_pylist()}
    seen: Counter[str] = Counter()
    for c in export["claims"].to_pylist():
        seen[c["visit_type"]] += 1
        k = kind[c["institution_id"]]
        if c["visit_type"] == "PHARMACY":
            assert k == "PHARMACY"
        else:
            assert k != "PHARMACY"
        if c["visit_type"] in {"INPATIENT", "MATERNITY", "WORK_INJURY"}:
            assert k == "HOSPITAL"
        if c["visit_type"] == "MATERNITY":
            p = persons[c["person_id"]]
            age = (c["visit_date"] - p["birth_date"]).days / 365.25
            assert p["gender"] == "F" and 20 <= age < 46
            assert c["icd10"][0] in "OZ"
        if c["visit_type"] == "WORK_INJURY":
            assert c["icd10"][0] in "ST"
    assert set(seen) == {
        "OUTPATIENT",
        "PHARMACY",
        "CHRONIC",
        "INPATIENT",
        "MATERNITY",
        "WORK_INJURY",
    }


def test_respiratory_claims_peak_in_winter(export: dict[str, pa.Table]) -> None:
    by_month: Counter[int] = Counter()
    for claim in export["claims"].select(["visit_date", "icd10"]).to_pylist():
        day, icd = claim["visit_date"], claim["icd10"]
        if icd.startswith("J") and icd not in {"J44.9", "J44.1"}:
            by_month[day.month] += 1
    assert by_month[1] + by_month[12] > 2 * (by_month[7] + by_month[8])


def test_family_bindings_respect_the_limits(export: dict[str, pa.Table]) -> None:
    persons = {p["person_id"]: p for p in export["persons"].to_pylist()}
    holder_month: Counter[tuple[int, int, int]] = Counter()
    member_month: Counter[tuple[int, int, int]] = Counter()
    rows = export["family_bindings"].to_pylist()
    assert len(rows) > 100
    for b in rows:
        assert b["holder_person_id"] != b["member_person_id"]
        bound = b["bound_at"]
        holder_month[(b["holder_person_id"], bound.year, bound.month)] += 1
        member_month[(b["member_person_id"], bound.year, bound.month)] += 1
        member = persons[b["member_person_id"]]
        age = (bound.date() - member["birth_date"]).days / 365.25
        assert age >= 0
        if age < 16:
            assert b["method"] == "DOCUMENT"
        if b["unbound_at"] is not None:
            assert b["unbound_at"] > bound
        holder = persons[b["holder_person_id"]]
        if b["relation"] == "CHILD":
            assert holder["birth_date"] < member["birth_date"]
        if b["relation"] == "PARENT":
            assert holder["birth_date"] > member["birth_date"]
    assert max(holder_month.values()) <= HOLDER_MONTHLY_LIMIT
    assert max(member_month.values()) <= MEMBER_MONTHLY_LIMIT
    assert {b["method"] for b in rows} == {"FACE", "DOCUMENT"}


def test_face_templates_are_unit_vectors_one_per_person(export: dict[str, pa.Table]) -> None:
    faces = export["face_templates"]
    assert faces["person_id"].to_pylist() == export["persons"]["person_id"].to_pylist()
    vectors = np.array(faces["template"].to_pylist(), dtype=np.float32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_same_seed_same_tables_other_seed_other_tables(tmp_path: Path) -> None:
    generate(tmp_path / "a", 400, seed=3)
    generate(tmp_path / "b", 400, seed=3)
    generate(tmp_path / "c", 400, seed=4)
    a, b, c = _read(tmp_path / "a"), _read(tmp_path / "b"), _read(tmp_path / "c")
    for name in TABLES:
        assert a[name].equals(b[name]), name
    assert not a["persons"].equals(c["persons"])
    assert not a["claims"].equals(c["claims"])


def test_refuses_a_non_empty_directory_and_keeps_its_files(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(OutputNotEmptyError):
        generate(tmp_path, 10)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


@pytest.mark.parametrize(("persons", "seed"), [(0, 0), (-5, 0), (10, -1)])
def test_rejects_bad_parameters(tmp_path: Path, persons: int, seed: int) -> None:
    with pytest.raises(InvalidParametersError):
        generate(tmp_path / "out", persons, seed)
    assert not (tmp_path / "out").exists()
