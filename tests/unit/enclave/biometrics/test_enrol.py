"""``enroll_faces`` (issue 13): ID-card photos become sealed reference templates of a new
dataset version; every photo that cannot be enrolled is a reject by file name and reason."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enclave import NoDataset
from enclave.biometrics import DlibBackend, EnrolmentSourceInvalid, ImageLimits, LocalFaces
from enclave.dataset import ENROLMENT_FILE, FaceTemplates, Zone, enroll_faces, ingest
from enclave.dataset import _enrol as enrol_module
from enclave.dataset._templates import TEMPLATE_INDEX
from enclave.keys import Keyring, init_zone, open_keyring
from enclave.persons import check_character
from tests.support.zone_source import MASTER_KEY, make_source
from tests.unit.enclave.biometrics.conftest import FACES


@pytest.fixture
def zone(tmp_path: Path) -> tuple[Path, Keyring, list[str]]:
    zone_dir = tmp_path / "zone"
    init_zone(zone_dir, MASTER_KEY)
    keyring = open_keyring(zone_dir, MASTER_KEY)
    source = make_source(12)
    ingest(zone_dir, source.write(tmp_path / "src"), keyring)
    return zone_dir, keyring, list(source.tables["persons"]["id_number"])


def _photos(tmp_path: Path, names: list[str]) -> Path:
    images = tmp_path / "photos"
    images.mkdir()
    for name in names:
        shutil.copy(FACES / name, images / Path(name).name)
    (images / "not-an-image.jpg").write_bytes(b"GIF89a no jpeg here")
    return images


def _map(
    tmp_path: Path, rows: list[tuple[str, str]], header: str = "image,id_number", name: str = "map"
) -> Path:
    path = tmp_path / f"{name}.csv"
    path.write_text("\n".join([header, *(f"{a},{b}" for a, b in rows)]) + "\n", encoding="utf-8")
    return path


def test_photos_are_enrolled_into_a_new_version_and_rejects_name_only_files(
    tmp_path: Path, zone: tuple[Path, Keyring, list[str]], backend: DlibBackend
) -> None:
    zone_dir, keyring, ids = zone
    before = Zone.open(zone_dir, keyring)
    images = _photos(
        tmp_path, ["obama.jpg", "two_people.jpg", "lfw/Saeb_Erekat_0002.jpg", "lfw/Zico_0002.jpg"]
    )
    unknown = ids[0][:14] + "999"  # the same region and birth date, a sequence nobody has
    unknown += check_character(unknown)
    assert unknown not in ids
    rows = [
        ("obama.jpg", ids[0]),
        ("two_people.jpg", ids[1]),
        ("Saeb_Erekat_0002.jpg", ids[2]),
        ("missing.jpg", ids[3]),
        ("not-an-image.jpg", ids[4]),
        ("Zico_0002.jpg", unknown),
        ("Zico_0002.jpg", ids[5][:-1] + ("0" if ids[5][-1] != "0" else "1")),
        ("../obama.jpg", ids[6]),
        ("Zico_0002.jpg", ids[0]),  # a second photo for the person of row 1
        ("Zico_0002.jpg", ids[7]),
    ]
    seen: list[tuple[int, int]] = []
    report = enroll_faces(
        zone_dir,
        keyring,
        images=images,
        map_csv=_map(tmp_path, rows),
        analyzer=LocalFaces(backend),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert sum(done for done, _ in seen) == len(rows) and {t for _, t in seen} == {len(rows)}
    assert (report.photos, report.enrolled, report.replaced) == (10, 2, 2)
    assert [(r.image, r.reason) for r in report.rejects] == [
        ("two_people.jpg", "MULTIPLE_FACES"),
        ("Saeb_Erekat_0002.jpg", "NO_FACE"),
        ("missing.jpg", "MISSING_FILE"),
        ("not-an-image.jpg", "IMAGE_INVALID:NOT_AN_IMAGE"),
        ("Zico_0002.jpg", "UNKNOWN_PERSON"),
        ("Zico_0002.jpg", "INVALID_ID_NUMBER"),
        ("../obama.jpg", "BAD_FILE_NAME"),
        ("Zico_0002.jpg", "DUPLICATE_PERSON"),
    ]
    after = Zone.open(zone_dir, keyring)
    assert after.version == report.version != before.version
    templates, old = FaceTemplates(after, keyring), FaceTemplates(before, keyring)
    person = {i: after.find_person(n) for i, n in enumerate(ids)}
    enrolled = templates.reference(person[0].person_id)  # type: ignore[union-attr]
    expected = LocalFaces(backend).analyze((FACES / "obama.jpg").read_bytes()).template
    assert enrolled is not None and expected is not None
    assert np.allclose(enrolled.values, expected.values)
    # the person of row 10 too; a rejected person keeps the template they had
    assert templates.reference(person[7].person_id) is not None  # type: ignore[union-attr]
    for i in (1, 2, 3):
        kept = templates.reference(person[i].person_id)  # type: ignore[union-attr]
        had = old.reference(person[i].person_id)  # type: ignore[union-attr]
        assert kept is not None and had is not None
        assert np.array_equal(kept.values, had.values)
    # the report in the version: counts and file names, no ID number
    written = (zone_dir / "data" / "versions" / report.version / ENROLMENT_FILE).read_text()
    assert json.loads(written)["by_reason"]["MULTIPLE_FACES"] == 1
    assert not [n for n in [*ids, unknown] if n in written]


def test_a_bad_source_is_refused_before_anything_is_published(
    tmp_path: Path, zone: tuple[Path, Keyring, list[str]], backend: DlibBackend
) -> None:
    zone_dir, keyring, ids = zone
    live = Zone.open(zone_dir, keyring).version
    images = _photos(tmp_path, ["obama.jpg"])
    analyzer = LocalFaces(backend)
    cases = [
        (tmp_path / "nowhere", _map(tmp_path, [("obama.jpg", ids[0])]), "images directory"),
        (images, tmp_path / "no-map.csv", "map file does not exist"),
        (images, _map(tmp_path, [("obama.jpg", ids[0])], "file,person", "h"), "header"),
        (images, _map(tmp_path, [], name="empty"), "no rows"),
    ]
    for images_dir, map_csv, message in cases:
        with pytest.raises(EnrolmentSourceInvalid) as refused:
            enroll_faces(zone_dir, keyring, images=images_dir, map_csv=map_csv, analyzer=analyzer)
        assert message in refused.value.public_message
        assert ids[0] not in refused.value.public_message
    bad_row = tmp_path / "bad.csv"
    bad_row.write_text(f"image,id_number\nobama.jpg,{ids[0]},extra\n", encoding="utf-8")
    with pytest.raises(EnrolmentSourceInvalid, match="line 2") as refused:
        enroll_faces(zone_dir, keyring, images=images, map_csv=bad_row, analyzer=analyzer)
    assert ids[0] not in refused.value.public_message
    assert Zone.open(zone_dir, keyring).version == live


def test_a_zone_without_a_dataset_is_refused(tmp_path: Path, backend: DlibBackend) -> None:
    zone_dir = tmp_path / "empty"
    init_zone(zone_dir, MASTER_KEY)
    images = _photos(tmp_path, ["obama.jpg"])
    with pytest.raises(NoDataset):
        enroll_faces(
            zone_dir,
            open_keyring(zone_dir, MASTER_KEY),
            images=images,
            map_csv=_map(tmp_path, [("obama.jpg", "110101195001010011")]),
            analyzer=LocalFaces(backend),
        )


def test_photos_named_by_id_number_are_reported_masked(
    tmp_path: Path, zone: tuple[Path, Keyring, list[str]], backend: DlibBackend
) -> None:
    """Photo offices name ID-card photos by the card's number (issue 13 review: the rejects,
    and the enrolment.json written into the zone's version, held those names in clear): every
    run of 15 or more digits and X's of a reported file name is masked, the map's line tells
    the operator which row it was."""
    zone_dir, keyring, ids = zone
    images = tmp_path / "photos"
    images.mkdir()
    first, second, lower = f"{ids[0]}.jpg", f"IMG_{ids[1]}_front.jpg", f"{ids[2].lower()}.jpg"
    shutil.copy(FACES / "two_people.jpg", images / first)
    (images / second).write_bytes(b"GIF89a no jpeg here")
    rows = [(first, ids[0]), (second, ids[1]), (lower, ids[2]), ("obama.jpg", ids[3] + "1")]
    report = enroll_faces(
        zone_dir,
        keyring,
        images=images,
        map_csv=_map(tmp_path, rows),
        analyzer=LocalFaces(backend),
    )
    assert [(r.line, r.image, r.reason) for r in report.rejects] == [
        (2, "<id-number>.jpg", "MULTIPLE_FACES"),
        (3, "IMG_<id-number>_front.jpg", "IMAGE_INVALID:NOT_AN_IMAGE"),
        (4, "<id-number>.jpg", "MISSING_FILE"),
        (5, "obama.jpg", "INVALID_ID_NUMBER"),
    ]
    written = (zone_dir / "data" / "versions" / report.version / ENROLMENT_FILE).read_text()
    assert json.loads(written)["rejects"][1] == {
        "line": 3,
        "image": "IMG_<id-number>_front.jpg",
        "reason": "IMAGE_INVALID:NOT_AN_IMAGE",
    }
    for number in ids[:4]:
        assert number not in written and number.lower() not in written
        assert not [r for r in report.rejects if number in r.image or number[:15] in r.image]


def test_huge_files_fifos_and_devices_in_the_images_directory_are_rejects(
    tmp_path: Path, zone: tuple[Path, Keyring, list[str]], backend: DlibBackend
) -> None:
    """(issue 13 review) The photo was read whole before any limit: a 10 GB file or a symlink
    to /dev/zero exhausted memory, a FIFO blocked the enrolment forever. Only regular files up
    to the analyzer's max_bytes are read."""
    zone_dir, keyring, ids = zone
    images = _photos(tmp_path, ["obama.jpg"])
    analyzer = LocalFaces(backend, limits=ImageLimits(max_bytes=1_000_000))
    with (images / "sparse.jpg").open("wb") as handle:
        handle.truncate(10 * 1024**3)  # sparse: 10 GB that cost no disk
    (images / "zero.jpg").symlink_to("/dev/zero")
    os.mkfifo(images / "fifo.jpg")
    (images / "dir.jpg").mkdir()
    rows = [
        ("sparse.jpg", ids[0]),
        ("zero.jpg", ids[1]),
        ("fifo.jpg", ids[2]),
        ("dir.jpg", ids[3]),
        ("obama.jpg", ids[4]),
    ]
    report = enroll_faces(
        zone_dir, keyring, images=images, map_csv=_map(tmp_path, rows), analyzer=analyzer
    )
    assert [(r.image, r.reason) for r in report.rejects] == [
        ("sparse.jpg", "IMAGE_INVALID:TOO_LARGE"),
        ("zero.jpg", "UNREADABLE_FILE"),
        ("fifo.jpg", "UNREADABLE_FILE"),
        ("dir.jpg", "MISSING_FILE"),
    ]
    assert report.enrolled == 1


@pytest.mark.parametrize("live_index", [True, False])
def test_the_live_templates_are_rewritten_a_batch_at_a_time(
    tmp_path: Path,
    zone: tuple[Path, Keyring, list[str]],
    backend: DlibBackend,
    monkeypatch: pytest.MonkeyPatch,
    live_index: bool,
) -> None:
    """The live table is read, and the index written, in batches (5 rows here, 12 persons):
    never the whole registry's templates in memory. The new index is the live one with the
    new records merged in, or without one the new table sorted out of core. Every other
    person keeps the template they had, the enrolled one gets the new one, and no spill is
    left."""
    monkeypatch.setattr(enrol_module, "_BATCH_ROWS", 5)
    zone_dir, keyring, ids = zone
    before = Zone.open(zone_dir, keyring)
    people = [before.find_person(number) for number in ids]
    old = FaceTemplates(before, keyring)
    had = [old.reference(p.person_id) if p is not None else None for p in people]
    if not live_index:
        index_dir = zone_dir / "data" / "versions" / before.version / "index"
        for part in index_dir.glob(f"{TEMPLATE_INDEX}.*"):
            part.unlink()
    read: list[int] = []
    real_iter = pq.ParquetFile.iter_batches

    def counted(self: pq.ParquetFile, *args: Any, **kwargs: Any) -> Iterator[pa.RecordBatch]:
        for batch in real_iter(self, *args, **kwargs):
            read.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", counted)
    report = enroll_faces(
        zone_dir,
        keyring,
        images=_photos(tmp_path, ["obama.jpg"]),
        map_csv=_map(tmp_path, [("obama.jpg", ids[3])]),
        analyzer=LocalFaces(backend),
    )
    assert report.enrolled == 1
    assert read and max(read) <= 5 and len(read) >= 2
    after = Zone.open(zone_dir, keyring)
    templates = FaceTemplates(after, keyring)
    expected = LocalFaces(backend).analyze((FACES / "obama.jpg").read_bytes()).template
    assert expected is not None
    had_any = 0
    for n, number in enumerate(ids):
        person = after.find_person(number)
        assert person is not None
        now, was = templates.reference(person.person_id), had[n]
        if n == 3:
            assert now is not None and np.allclose(now.values, expected.values)
            continue
        assert (now is None) == (was is None)
        if now is not None and was is not None:
            had_any += 1
            assert np.array_equal(now.values, was.values)
    assert had_any >= 2  # the fixture's registry has templates to keep
    version = zone_dir / "data" / "versions" / report.version
    rows = json.loads((version / "catalog.json").read_text())["tables"]["face_templates"]["rows"]
    assert rows == pq.read_metadata(version / "tables" / "face_templates.parquet").num_rows
    assert not (version / "spill").exists()
