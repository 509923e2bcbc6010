"""Face templates at rest (issue 13): sealed per row at ingest, looked up by person id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from cryptography.exceptions import InvalidTag

from enclave import CorruptDataset
from enclave.dataset import FaceTemplates, Zone, ingest, open_template, seal_template
from enclave.keys import init_zone, open_keyring
from tests.support.zone_source import MASTER_KEY, make_source


def _ingested(tmp_path: Path, persons: int = 12) -> tuple[Path, Zone, list[int]]:
    zone_dir = tmp_path / "zone"
    init_zone(zone_dir, MASTER_KEY)
    keyring = open_keyring(zone_dir, MASTER_KEY)
    source = make_source(persons)
    # distinct, recognisable values per person (make_source repeats ten patterns)
    ids = list(source.tables["face_templates"]["person_id"])
    source.tables["face_templates"]["template"] = [
        [float(pid) + k / 1000.0 for k in range(128)] for pid in ids
    ]
    ingest(zone_dir, source.write(tmp_path / "src"), keyring)
    return zone_dir, Zone.open(zone_dir, keyring), ids


def test_templates_are_sealed_on_disk_and_open_only_for_their_person(tmp_path: Path) -> None:
    zone_dir, zone, ids = _ingested(tmp_path)
    keyring = open_keyring(zone_dir, MASTER_KEY)
    templates = FaceTemplates(zone, keyring)
    for pid in ids:
        reference = templates.reference(pid)
        assert reference is not None
        expected = np.array([float(pid) + k / 1000.0 for k in range(128)], dtype=np.float32)
        assert np.array_equal(reference.values, expected)
    # no clear float32 of any template in any file of the zone
    needles = [
        np.array([float(pid) + k / 1000.0 for k in range(4)], dtype="<f4").tobytes() for pid in ids
    ]
    for path in zone_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), path
    stored = pq.read_table(next(zone_dir.rglob("face_templates.parquet")))
    assert "template" not in stored.column_names and "template_sealed" in stored.column_names
    # a blob moved onto another person's row does not open
    sealed = zone.face_template_sealed(ids[0])
    assert sealed is not None
    with pytest.raises(CorruptDataset):
        open_template(keyring, ids[1], sealed)
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(CorruptDataset):
        open_template(keyring, ids[0], flipped)


def test_a_person_without_a_template_has_no_reference(tmp_path: Path) -> None:
    zone_dir, zone, ids = _ingested(tmp_path)
    templates = FaceTemplates(zone, open_keyring(zone_dir, MASTER_KEY))
    assert templates.reference(max(ids) + 1000) is None
    assert templates.reference(-1) is None


def test_seal_binds_its_label(tmp_path: Path) -> None:
    zone_dir = tmp_path / "zone"
    init_zone(zone_dir, MASTER_KEY)
    keyring = open_keyring(zone_dir, MASTER_KEY)
    blob = keyring.seal("a", b"payload")
    assert keyring.unseal("a", blob) == b"payload"
    assert b"payload" not in blob
    with pytest.raises(InvalidTag):
        keyring.unseal("b", blob)
    sealed = seal_template(keyring, 7, np.ones(128, dtype=np.float32))
    assert np.array_equal(open_template(keyring, 7, sealed).values, np.ones(128, np.float32))
    with pytest.raises(ValueError, match="128"):
        seal_template(keyring, 7, np.ones(64, dtype=np.float32))
