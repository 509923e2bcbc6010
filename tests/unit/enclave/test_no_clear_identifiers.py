"""Nothing under the zone directory holds a clear identifier of the source, in any file."""

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enclave import RejectLimitExceeded
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from tests.support.zone_source import MASTER_KEY, bad_check, make_source


def _haystacks(root: Path) -> dict[Path, bytes]:
    """Every file's bytes; for Parquet, every decompressed value of every column instead."""
    found: dict[Path, bytes] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if name.endswith(".parquet"):
                table = pq.read_table(path)
                parts: list[bytes] = []
                for column in table.columns:
                    for value in column.to_pylist():
                        parts.append(value if isinstance(value, bytes) else str(value).encode())
                found[path] = b"\x00".join(parts)
            else:
                found[path] = path.read_bytes()
    return found


def _leaks(root: Path, needles: list[str]) -> list[tuple[str, Path]]:
    hay = _haystacks(root)
    return [(n, p) for n in needles for p, blob in hay.items() if n.encode() in blob]


def _clear_values(src_columns: dict[str, list[object]]) -> list[str]:
    return [v for c in ("id_number", "name", "phone") for v in src_columns[c] if isinstance(v, str)]


def test_zone_holds_no_clear_identifier_anywhere(tmp_path: Path) -> None:
    src = make_source(30)
    ids = src.column("persons", "id_number")
    ids[4] = bad_check(ids[4])  # a rejected row's identifiers must not leak via rejects either
    zone = tmp_path / "zone"
    init_zone(zone, MASTER_KEY)
    keyring = open_keyring(zone, MASTER_KEY)
    # One row in 30 is rejected on purpose, past the default 1% limit: allow it here.
    ingest(zone, src.write(tmp_path / "src"), keyring, batch_rows=7, max_reject_share=1.0)
    ingest(zone, src.write(tmp_path / "src2"), keyring, max_reject_share=1.0)  # two versions
    # A refused ingest keeps its rejects report: it must not leak either.
    with pytest.raises(RejectLimitExceeded):
        ingest(zone, src.write(tmp_path / "src3"), keyring)
    assert any((zone / "data" / "refused").iterdir())
    needles = _clear_values(src.tables["persons"])
    assert len(needles) > 80
    assert _leaks(zone, needles) == []


def test_scanner_finds_a_planted_value(tmp_path: Path) -> None:
    src = make_source(10)
    zone = tmp_path / "zone"
    init_zone(zone, MASTER_KEY)
    ingest(zone, src.write(tmp_path / "src"), open_keyring(zone, MASTER_KEY))
    needles = _clear_values(src.tables["persons"])
    planted_dir = tmp_path / "planted"
    shutil.copytree(zone, planted_dir)
    name = src.column("persons", "name")[3]
    assert isinstance(name, str)
    # compressed inside a Parquet column: only the decoding scanner can see it
    pq.write_table(pa.table({"x": [name]}), planted_dir / "data" / "x.parquet", compression="zstd")
    phone = src.column("persons", "phone")[1]
    assert isinstance(phone, str)
    (planted_dir / "public" / "note.txt").write_text(f"call {phone}")
    leaks = _leaks(planted_dir, needles)
    assert (name, planted_dir / "data" / "x.parquet") in leaks
    assert (phone, planted_dir / "public" / "note.txt") in leaks
