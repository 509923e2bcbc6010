from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from enclave.dataset import TABLES
from launcher._exit_codes import EX_CANTCREAT

DATAWARD = Path(sys.executable).parent / "dataward"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DATAWARD), "datagen", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_datagen_writes_six_tables_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = _run("--out", str(out), "--persons", "200", "--seed", "5")
    assert result.returncode == 0, result.stderr
    for name, spec in TABLES.items():
        table = pq.read_table(out / f"{name}.parquet", schema=spec.schema)
        assert table.schema.equals(spec.schema)
        assert name in result.stdout
    assert "200 rows" in result.stdout


def test_datagen_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "other.parquet").write_bytes(b"x")
    result = _run("--out", str(tmp_path), "--persons", "10")
    assert result.returncode == EX_CANTCREAT
    assert "output directory is not empty" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.parquet"]


def test_datagen_rejects_zero_persons(tmp_path: Path) -> None:
    result = _run("--out", str(tmp_path / "x"), "--persons", "0")
    assert result.returncode == 2
    assert "--persons" in result.stderr
    assert not (tmp_path / "x").exists()
