"""The `dataward zone` commands as an operator runs them: real processes, exit codes, messages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.enclave.zone_source import MASTER_KEY, bad_check, make_source, with_many_claims

DATAWARD = [sys.executable, "-c", "from launcher.cli import main; main()"]


def _env(tmp_path: Path, key: bytes | None = MASTER_KEY, **extra: str) -> dict[str, str]:
    env = {"PATH": os.defpath, "LC_ALL": "C.UTF-8"}  # nothing inherited: no stray DATAWARD_*
    if key is not None:
        env["DATAWARD_MASTER_KEY"] = key.decode()
    env.update(extra)
    return env


def _run(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DATAWARD, *args],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


@pytest.fixture
def zone(tmp_path: Path) -> Path:
    z = tmp_path / "zone"
    done = _run(["zone", "init", "--zone", str(z)], _env(tmp_path))
    assert done.returncode == 0, done.stderr
    return z


def test_init_ingest_inspect_lookup(tmp_path: Path, zone: Path) -> None:
    src = make_source(30)
    ids = src.column("persons", "id_number")
    ids[2] = bad_check(ids[2])
    env = _env(tmp_path)
    done = _run(
        ["zone", "ingest", "--zone", str(zone), "--source", str(src.write(tmp_path / "s"))], env
    )
    assert done.returncode == 0, done.stderr
    assert "id_number:CHECK_CHARACTER" in done.stdout and "1 rejected" in done.stdout
    inspected = _run(["zone", "inspect", "--zone", str(zone)], _env(tmp_path, key=None))
    assert inspected.returncode == 0
    assert "stored as id_number_token, id_number_enc" in inspected.stdout
    assert "persons: 29 rows (1 rejected at ingest)" in inspected.stdout
    found = _run(["zone", "lookup", "--zone", str(zone)], env, ids[5])
    assert found.returncode == 0
    assert found.stdout.splitlines()[0] == "found" and "birth year:" in found.stdout
    assert ids[5] not in found.stdout + found.stderr
    explicit = _run(["zone", "lookup", "--zone", str(zone), "--id-number", "-"], env, ids[5])
    assert explicit.stdout == found.stdout
    on_argv = _run(["zone", "lookup", "--zone", str(zone), "--id-number", ids[5]], env)
    assert on_argv.returncode == 2 and "shell history" in on_argv.stderr
    assert ids[5] not in on_argv.stdout + on_argv.stderr
    rejected = _run(["zone", "lookup", "--zone", str(zone)], env, ids[2])
    assert (rejected.returncode, ids[2] in rejected.stderr) == (65, False)
    assert "check character" in rejected.stderr


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("wrong-key", 77, "wrong master key or corrupt keyring"),
        ("corrupt-keyring", 77, "corrupt keyring"),
        ("no-key", 78, "the master key is missing"),
        ("missing-table", 65, "missing table 'face_templates'"),
        ("wrong-schema", 65, "table 'persons', column 'status'"),
        ("no-source", 66, "source directory does not exist"),
        ("not-initialized", 66, "not initialized"),
    ],
)
def test_bad_input_exit_codes(
    tmp_path: Path, zone: Path, case: str, code: int, message: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src_dir = make_source(10).write(
        tmp_path / "src", skip=("face_templates",) if case == "missing-table" else ()
    )
    env, zone_arg = _env(tmp_path), zone
    if case == "wrong-key":
        env = _env(tmp_path, key=b"some other master key!")
    elif case == "corrupt-keyring":
        raw = bytearray((zone / "keyring.json").read_bytes())
        raw[raw.index(b'"ciphertext"') + 20] ^= 0x01
        (zone / "keyring.json").write_bytes(bytes(raw))
    elif case == "no-key":
        env = _env(tmp_path, key=None)
    elif case == "wrong-schema":
        t = pq.read_table(src_dir / "persons.parquet")
        t = t.set_column(7, "status", pa.array([1] * t.num_rows, pa.int32()))
        pq.write_table(t, src_dir / "persons.parquet")
    elif case == "no-source":
        src_dir = tmp_path / "absent"
    elif case == "not-initialized":
        zone_arg = tmp_path / "fresh"
    done = _run(["zone", "ingest", "--zone", str(zone_arg), "--source", str(src_dir)], env)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (zone / "data" / "CURRENT").exists()


def test_kill_9_mid_ingest_leaves_previous_version_usable(tmp_path: Path, zone: Path) -> None:
    first = make_source(50)
    env = _env(tmp_path)
    done = _run(
        ["zone", "ingest", "--zone", str(zone), "--source", str(first.write(tmp_path / "a"))], env
    )
    assert done.returncode == 0, done.stderr
    current = (zone / "data" / "CURRENT").read_text()

    second = with_many_claims(make_source(50), 600_000)
    second.column("persons", "status")[0] = "DECEASED"
    config = tmp_path / "small-batches.toml"
    config.write_text("[zone]\ningest_batch_rows = 5000\n")
    slow_env = _env(tmp_path, DATAWARD_CONFIG=str(config))
    args = ["zone", "ingest", "--zone", str(zone), "--source", str(second.write(tmp_path / "b"))]
    process = subprocess.Popen(
        [*DATAWARD, *args, "--no-progress"],
        env=slow_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    versions = zone / "data" / "versions"
    deadline = time.monotonic() + 60
    killed_while_writing = False
    while time.monotonic() < deadline and process.poll() is None:
        tmp = [p for p in versions.iterdir() if p.name.endswith(".tmp")]
        if tmp and (tmp[0] / "tables" / "claims.parquet").exists():
            os.kill(process.pid, signal.SIGKILL)
            killed_while_writing = True
            break
        time.sleep(0.005)
    process.wait(timeout=30)
    assert killed_while_writing, "the ingest finished before it could be killed"
    assert process.returncode == -signal.SIGKILL
    assert (zone / "data" / "CURRENT").read_text() == current
    assert [p for p in versions.iterdir() if p.name.endswith(".tmp")]  # the debris is there

    number = first.column("persons", "id_number")[0]
    found = _run(["zone", "lookup", "--zone", str(zone)], env, number)
    assert found.returncode == 0 and "status: ACTIVE" in found.stdout

    # the next ingest cleans up and switches
    again = _run(
        ["zone", "ingest", "--zone", str(zone), "--source", str(tmp_path / "b"), "--no-progress"],
        env,
    )
    assert again.returncode == 0, again.stderr
    assert "removed 1 interrupted ingest" in again.stdout
    assert not [p for p in versions.iterdir() if p.name.endswith(".tmp")]
    found = _run(["zone", "lookup", "--zone", str(zone)], env, number)
    assert "status: DECEASED" in found.stdout
    version = (zone / "data" / "CURRENT").read_text().strip()
    catalog = json.loads((versions / version / "catalog.json").read_text())
    assert catalog["tables"]["claims"]["rows"] == 600_000
