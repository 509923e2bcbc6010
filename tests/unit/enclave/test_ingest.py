import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enclave import MissingTable, NoDataset, RejectLimitExceeded, SchemaMismatch, SourceNotFound
from enclave.dataset import TABLES, Zone, ingest, inspect_zone
from enclave.keys import Keyring, init_zone, open_keyring
from tests.support.zone_source import MASTER_KEY, Source, bad_check, make_source


def _zone(tmp_path: Path) -> tuple[Path, Keyring]:
    zone = tmp_path / "zone"
    init_zone(zone, MASTER_KEY)
    return zone, open_keyring(zone, MASTER_KEY)


def _version_dir(zone: Path) -> Path:
    return zone / "data" / "versions" / (zone / "data" / "CURRENT").read_text().strip()


def test_clean_source_is_fully_ingested_with_catalog(tmp_path: Path) -> None:
    zone, keyring = _zone(tmp_path)
    source = make_source(40).write(tmp_path / "src")
    seen: list[tuple[str, int, int]] = []
    report = ingest(zone, source, keyring, batch_rows=16, progress=lambda *a: seen.append(a))
    assert {t: r.rejected for t, r in report.tables.items()} == dict.fromkeys(report.tables, 0)
    assert report.tables["claims"].accepted == 120
    assert sum(done for table, done, _ in seen if table == "claims") == 120
    catalog = json.loads((_version_dir(zone) / "catalog.json").read_text())
    assert catalog["version"] == report.version
    persons = {c["name"]: c for c in catalog["tables"]["persons"]["columns"]}
    assert persons["id_number"]["class"] == "direct_identifier"
    assert persons["id_number"]["stored_as"] == ["id_number_token", "id_number_enc"]
    stored = pq.read_schema(_version_dir(zone) / "tables" / "persons.parquet")
    assert "id_number" not in stored.names and stored.field("id_number_token").type == pa.binary(32)
    summary = inspect_zone(zone)
    assert summary.version == report.version
    assert {t.name: t.rows for t in summary.tables}["enrolments"] == 60


def test_bad_rows_are_rejected_counted_and_reported_without_values(tmp_path: Path) -> None:
    zone, keyring = _zone(tmp_path)
    src = make_source(40)
    ids = src.column("persons", "id_number")
    ids[3] = bad_check(ids[3])  # wrong check character
    ids[4] = ids[4][:6] + "19991332" + ids[4][14:]  # impossible date (check char wrong too)
    ids[6] = ids[5]  # same ID number twice: the later row goes
    for column in ("birth_date", "gender"):  # (agreeing with it, or it would be a mismatch)
        src.column("persons", column)[6] = src.column("persons", column)[5]
    src.column("persons", "status")[7] = "ALIVE"  # outside the enum
    src.column("persons", "person_id")[8] = src.column("persons", "person_id")[9]  # dup key
    src.column("claims", "self_paid_cents")[10] += 1  # amounts do not add up
    src.column("claims", "institution_id")[11] = 99  # unknown institution
    src.column("claims", "person_id")[12] = 424242  # unknown person
    src.column("enrolments", "person_id")[0] = 424242
    src.column("family_bindings", "member_person_id")[0] = 424242
    for column, value in zip(
        ["institution_id", "name", "kind", "level", "region_code"],
        [4, "Spa", "SPA", "PRIMARY", "110101"],
        strict=True,
    ):
        src.column("institutions", column).append(value)  # a fourth institution, bad kind
    report = ingest(zone, src.write(tmp_path / "src"), keyring, max_reject_share=1.0)

    persons = report.tables["persons"]
    assert persons.rejected == 5
    assert persons.by_reason == {
        "id_number:CHECK_CHARACTER": 2,
        "duplicate:id_number": 1,
        "enum:status": 1,
        "duplicate_key": 1,
    }
    rows = pq.read_table(_version_dir(zone) / "rejects" / "persons.parquet").to_pylist()
    assert {r["row"]: r["reason"] for r in rows} == {
        3: "id_number:CHECK_CHARACTER",
        4: "id_number:CHECK_CHARACTER",
        6: "duplicate:id_number",
        7: "enum:status",
        9: "duplicate_key",
    }
    claims = report.tables["claims"].by_reason
    assert claims["amounts"] == 1 and claims["orphan:institution_id"] == 1
    # row 12, plus 3 claims each of persons 1003, 1004, 1006, 1007 (rejected) and 1008 (its
    # row now carries 1009's id; the second 1009 row was the duplicate)
    assert claims["orphan:person_id"] == 1 + 5 * 3
    assert report.tables["institutions"].by_reason == {"enum:kind": 1}
    assert report.tables["enrolments"].by_reason["orphan:person_id"] >= 1
    assert report.tables["family_bindings"].by_reason["orphan:member_person_id"] >= 1
    assert report.tables["face_templates"].by_reason == {"orphan:person_id": 5}
    summary = json.loads((_version_dir(zone) / "rejects.json").read_text())
    assert summary["persons"]["rejected"] == 5
    zone_view = Zone.open(zone, keyring)
    assert zone_view.find_person(ids[5]) is not None  # the first holder of the number stays
    assert zone_view.find_person(ids[0]) is not None


def test_null_in_non_nullable_column_is_rejected(tmp_path: Path) -> None:
    zone, keyring = _zone(tmp_path)
    src = make_source(10)
    src.column("enrolments", "status")[1] = None
    path = src.write(tmp_path / "src", skip=("enrolments",))
    # a writer whose schema marks every column nullable (the types still match)
    loose = pa.schema([f.with_nullable(True) for f in TABLES["enrolments"].schema])
    pq.write_table(pa.table(src.tables["enrolments"], schema=loose), path / "enrolments.parquet")
    report = ingest(zone, path, keyring, max_reject_share=1.0)
    assert report.tables["enrolments"].by_reason == {"null:status": 1}
    rows = pq.read_table(_version_dir(zone) / "rejects" / "enrolments.parquet").to_pylist()
    assert rows == [{"row": 1, "reason": "null:status"}]


def test_missing_table_and_wrong_schema_keep_the_previous_version(tmp_path: Path) -> None:
    zone, keyring = _zone(tmp_path)
    src = make_source(12)
    good = ingest(zone, src.write(tmp_path / "good"), keyring)
    with pytest.raises(MissingTable) as missing:
        ingest(zone, src.write(tmp_path / "missing", skip=("claims",)), keyring)
    assert "claims" in missing.value.public_message
    wrong = src.write(tmp_path / "wrong")
    table = pq.read_table(wrong / "claims.parquet")
    table = table.set_column(6, "total_cents", table.column("total_cents").cast(pa.float64()))
    pq.write_table(table, wrong / "claims.parquet")
    with pytest.raises(SchemaMismatch) as info:
        ingest(zone, wrong, keyring)
    assert (info.value.table, info.value.column) == ("claims", "total_cents")
    assert info.value.expected == "int64" and info.value.actual == "double"
    extra = src.write(tmp_path / "extra")
    pq.write_table(
        pq.read_table(extra / "institutions.parquet").append_column("x", pa.array([1, 2, 3])),
        extra / "institutions.parquet",
    )
    with pytest.raises(SchemaMismatch, match="'x'"):
        ingest(zone, extra, keyring)
    with pytest.raises(SourceNotFound):
        ingest(zone, tmp_path / "nope", keyring)
    assert Zone.open(zone, keyring).version == good.version
    assert not [p for p in (zone / "data" / "versions").iterdir() if p.name.endswith(".tmp")]


def test_reingest_switches_atomically_and_keeps_two_versions(tmp_path: Path) -> None:
    zone, keyring = _zone(tmp_path)
    src = make_source(12)
    first = ingest(zone, src.write(tmp_path / "a"), keyring)
    opened = Zone.open(zone, keyring)
    number = src.column("persons", "id_number")[2]
    second_source: Source = make_source(12)
    second_source.column("persons", "status")[2] = "DECEASED"
    second = ingest(zone, second_source.write(tmp_path / "b"), keyring)
    third = ingest(zone, second_source.write(tmp_path / "c"), keyring)
    assert third.pruned == (first.version,)
    remaining = sorted(p.name for p in (zone / "data" / "versions").iterdir())
    assert remaining == sorted([second.version, third.version])
    # the zone opened before keeps serving its own (now pruned) version
    before = opened.find_person(number)
    assert opened.version == first.version and before is not None and before.status == "ACTIVE"
    after = Zone.open(zone, keyring).find_person(number)
    assert after is not None and after.status == "DECEASED"


def test_leftover_tmp_dir_is_removed_by_next_ingest(tmp_path: Path) -> None:
    zone, keyring = _zone(tmp_path)
    with pytest.raises(NoDataset):
        Zone.open(zone, keyring)
    stale = zone / "data" / "versions" / "v0-stale.tmp"
    stale.mkdir(parents=True)
    (stale / "junk").write_bytes(b"x")
    report = ingest(zone, make_source(8).write(tmp_path / "src"), keyring)
    assert report.leftovers_removed == 1 and not stale.exists()


def test_id_number_disagreeing_with_birth_date_or_gender_is_rejected(tmp_path: Path) -> None:
    zone, keyring = _zone(tmp_path)
    src = make_source(40)
    ids = src.column("persons", "id_number")
    births = src.column("persons", "birth_date")
    genders = src.column("persons", "gender")
    births[2] = births[2] + dt.timedelta(days=1)  # the registry's date is a day off the number's
    genders[5] = "F" if genders[5] == "M" else "M"  # the sequence digit says the other gender
    births[9] = births[9].replace(year=births[9].year + 1)  # both disagree: the date is named
    genders[9] = "F" if genders[9] == "M" else "M"
    src.column("persons", "region_code")[11] = "110101"  # moved: a different region is fine
    assert ids[11][:6] != "110101"
    ids[13] = bad_check(ids[13])  # malformed and disagreeing: the malformation is named
    births[13] = births[13] + dt.timedelta(days=30)
    report = ingest(zone, src.write(tmp_path / "src"), keyring, max_reject_share=1.0)

    persons = report.tables["persons"]
    assert (persons.source_rows, persons.accepted, persons.rejected) == (40, 36, 4)
    assert persons.by_reason == {
        "id_number:CHECK_CHARACTER": 1,
        "id_number:BIRTH_DATE_MISMATCH": 2,
        "id_number:GENDER_MISMATCH": 1,
    }
    version = _version_dir(zone)
    rejects = pq.read_table(version / "rejects" / "persons.parquet")
    assert rejects.column_names == ["row", "reason"]
    assert {r["row"]: r["reason"] for r in rejects.to_pylist()} == {
        2: "id_number:BIRTH_DATE_MISMATCH",
        5: "id_number:GENDER_MISMATCH",
        9: "id_number:BIRTH_DATE_MISMATCH",
        13: "id_number:CHECK_CHARACTER",
    }
    summary = json.loads((version / "rejects.json").read_text())
    assert summary["persons"]["by_reason"] == persons.by_reason
    # no clear value of a rejected row in the rejects files, not even the dates or genders
    clear = {ids[r] for r in (2, 5, 9, 13)} | {f"{births[r]:%Y%m%d}" for r in (2, 5, 9, 13)}
    written = json.dumps(rejects.to_pylist()) + (version / "rejects.json").read_text()
    assert not [value for value in clear if value in written]
    zone_view = Zone.open(zone, keyring)
    assert [zone_view.find_person(ids[r]) for r in (2, 5, 9)] == [None] * 3
    assert zone_view.find_person(ids[11]) is not None  # region differs, still ingested
    assert zone_view.find_person(ids[0]) is not None
    assert report.tables["face_templates"].by_reason == {"orphan:person_id": 4}


def _versions(zone: Path) -> list[str]:
    return sorted(p.name for p in (zone / "data" / "versions").iterdir())


def test_keep_one_version_still_keeps_the_one_live_before_this_ingest(tmp_path: Path) -> None:
    # issue 8 item 7: pruning must never take the version that was live when the ingest began
    # (the operator's way back), however small --keep-versions is
    zone, keyring = _zone(tmp_path)
    source = make_source(8).write(tmp_path / "src")
    first = ingest(zone, source, keyring, keep_versions=1)
    second = ingest(zone, source, keyring, keep_versions=1)
    assert second.pruned == () and _versions(zone) == sorted([first.version, second.version])
    third = ingest(zone, source, keyring, keep_versions=1)
    assert third.pruned == (first.version,)
    assert _versions(zone) == sorted([second.version, third.version])


def test_pruning_keeps_a_rolled_back_live_version_that_is_not_among_the_newest(
    tmp_path: Path,
) -> None:
    zone, keyring = _zone(tmp_path)
    source = make_source(8).write(tmp_path / "src")
    a, b, c = (ingest(zone, source, keyring, keep_versions=3).version for _ in range(3))
    (zone / "data" / "CURRENT").write_text(a + "\n")  # the operator rolled back to the oldest
    d = ingest(zone, source, keyring, keep_versions=2)
    assert d.pruned == (b,)
    assert _versions(zone) == sorted([a, c, d.version])
    assert Zone.open(zone, keyring).version == d.version


def _with_bad_persons(persons: int, rows: tuple[int, ...]) -> Source:
    """A clean export whose persons at ``rows`` have a wrong check character."""
    src = make_source(persons)
    ids = src.column("persons", "id_number")
    for row in rows:
        ids[row] = bad_check(ids[row])
    return src


def test_export_whose_every_id_number_is_bad_is_refused_and_the_live_version_stays(
    tmp_path: Path,
) -> None:
    # issue 8 item 7, the attack: this export went live with 0 persons (and exit 0)
    zone, keyring = _zone(tmp_path)
    clean = make_source(40)
    good = ingest(zone, clean.write(tmp_path / "good"), keyring)
    bad = _with_bad_persons(40, tuple(range(40)))
    with pytest.raises(RejectLimitExceeded) as refused:
        ingest(zone, bad.write(tmp_path / "bad"), keyring)

    error = refused.value
    assert (error.table, error.rejected, error.source_rows) == ("persons", 40, 40)
    assert (error.share, error.limit) == (1.0, 0.01)
    # every table past the limit, in ingest order (the others orphaned by the persons)
    assert list(error.over) == [
        "persons",
        "enrolments",
        "claims",
        "family_bindings",
        "face_templates",
    ]
    assert error.over["claims"] == (120, 120)
    message = error.public_message
    assert "table 'persons' (40 of 40 rows, 100%)" in message
    assert "limit of 1% (zone.max_reject_share)" in message
    assert "the live version is unchanged" in message and str(error.report_dir) in message
    clear = set(bad.column("persons", "id_number")) | set(clean.column("persons", "id_number"))
    assert not [value for value in clear if value in message]
    # the live version is untouched and nothing of the refused one is left as a version
    assert (zone / "data" / "CURRENT").read_text().strip() == good.version
    assert _versions(zone) == [good.version]
    assert Zone.open(zone, keyring).find_person(clean.column("persons", "id_number")[0])
    # ... but the operator can see why: the rejects report, row numbers and reasons only
    assert error.report_dir.parent == zone / "data" / "refused"
    summary = json.loads((error.report_dir / "rejects.json").read_text())
    assert summary["persons"]["by_reason"] == {"id_number:CHECK_CHARACTER": 40}
    rows = pq.read_table(error.report_dir / "rejects" / "persons.parquet")
    assert rows.column_names == ["row", "reason"] and rows.num_rows == 40
    assert sorted(p.name for p in error.report_dir.iterdir()) == ["rejects", "rejects.json"]
    written = json.dumps(rows.to_pylist()) + (error.report_dir / "rejects.json").read_text()
    assert not [value for value in clear if value in written]
    assert error.tables["persons"].by_reason == {"id_number:CHECK_CHARACTER": 40}


def test_refused_ingests_never_prune_the_last_good_version(tmp_path: Path) -> None:
    # the second half of the attack: one more (bad) ingest deleted the last good version
    zone, keyring = _zone(tmp_path)
    good = ingest(zone, make_source(20).write(tmp_path / "good"), keyring, keep_versions=1)
    bad = _with_bad_persons(20, tuple(range(20))).write(tmp_path / "bad")
    reports = []
    for _ in range(3):
        with pytest.raises(RejectLimitExceeded) as refused:
            ingest(zone, bad, keyring, keep_versions=1)
        reports.append(refused.value.report_dir.name)
    assert _versions(zone) == [good.version]
    assert Zone.open(zone, keyring).version == good.version
    # refused reports are kept like versions: the newest --keep-versions of them
    assert [p.name for p in (zone / "data" / "refused").iterdir()] == reports[-1:]


def test_reject_share_exactly_at_the_limit_is_published_just_above_is_refused(
    tmp_path: Path,
) -> None:
    zone, keyring = _zone(tmp_path)
    # person 2 has one enrolment and no family binding: 1 of 100 persons, its 3 of 300 claims
    # and 1 of 100 face templates are rejected, each exactly 1%
    at_limit = ingest(zone, _with_bad_persons(100, (2,)).write(tmp_path / "at"), keyring)
    assert at_limit.tables["persons"].rejected == 1
    assert at_limit.tables["claims"].rejected == 3
    with pytest.raises(RejectLimitExceeded) as refused:
        ingest(zone, _with_bad_persons(99, (2,)).write(tmp_path / "above"), keyring)
    assert (refused.value.table, refused.value.rejected, refused.value.source_rows) == (
        "persons",
        1,
        99,
    )
    assert "table 'persons' (1 of 99 rows, 1.01%)" in refused.value.public_message
    assert refused.value.over == {"persons": (1, 99), "claims": (3, 297), "face_templates": (1, 99)}
    assert Zone.open(zone, keyring).version == at_limit.version


def test_reject_share_is_compared_exactly_for_a_decimal_limit(tmp_path: Path) -> None:
    # 0.3 is a little below 3/10 as a binary float; 3 of 10 must still count as "at the limit"
    zone, keyring = _zone(tmp_path)
    src = _with_bad_persons(10, (2, 3, 6)).write(tmp_path / "src")
    report = ingest(zone, src, keyring, max_reject_share=0.3)
    assert report.tables["persons"].rejected == 3 and report.tables["claims"].rejected == 9
    with pytest.raises(RejectLimitExceeded, match=r"\(3 of 10 rows, 30%\)"):
        ingest(zone, src, keyring, max_reject_share=0.29)
    with pytest.raises(ValueError, match="max_reject_share"):
        ingest(zone, src, keyring, max_reject_share=1.5)


def test_a_table_with_zero_rows_rejects_nothing_and_is_published(tmp_path: Path) -> None:
    zone, keyring = _zone(tmp_path)
    src = make_source(10)
    src.tables["face_templates"] = {name: [] for name in src.tables["face_templates"]}
    report = ingest(zone, src.write(tmp_path / "src"), keyring, max_reject_share=0.0)
    faces = report.tables["face_templates"]
    assert (faces.source_rows, faces.accepted, faces.rejected) == (0, 0, 0)
    assert Zone.open(zone, keyring).version == report.version


def test_pruning_keeps_the_version_a_running_server_serves(tmp_path: Path) -> None:
    """Issue 8 review: `serve` answers from the version live when it started; two ingests
    meanwhile with --keep-versions 1 deleted its files under it."""
    from enclave.audit import ZONE_LOG_FILE, AuditLog, zone_log_name
    from launcher.settings import AuditSettings

    zone, keyring = _zone(tmp_path)
    source = make_source(8).write(tmp_path / "src")
    served = ingest(zone, source, keyring, keep_versions=1).version
    name = zone_log_name(keyring.zone_id)
    log = AuditLog.open(zone / ZONE_LOG_FILE, AuditSettings(), keyring.signing_key, name, name)
    try:
        log.describe_writer(role="server", grpc="127.0.0.1:1", dataset_version=served)
        ingest(zone, source, keyring, keep_versions=1)
        ingest(zone, source, keyring, keep_versions=1)
        assert served in _versions(zone)
    finally:
        log.close()
    ingest(zone, source, keyring, keep_versions=1)  # no server any more: pruned as usual
    assert served not in _versions(zone)
