"""The `dataward zone` commands as an operator runs them: real processes, exit codes, messages."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.zone_source import MASTER_KEY, bad_check, make_source, with_many_claims

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
    src_dir = str(src.write(tmp_path / "s"))
    # 1 of 30 persons (and 3 of 90 claims) rejected: above the default limit of 1%
    done = _run(["zone", "ingest", "--zone", str(zone), "--source", src_dir], env)
    assert done.returncode == 65 and "table 'persons' (1 of 30 rows, 3.33%)" in done.stderr
    done = _run(
        ["zone", "ingest", "--zone", str(zone), "--source", src_dir, "--max-reject-share", "0.05"],
        env,
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


def test_ingest_rejecting_every_id_number_is_refused_and_the_live_version_stays(
    tmp_path: Path, zone: Path
) -> None:
    # issue 8 item 7: this export went live (persons: 0 rows) with exit 0, and one more ingest
    # deleted the last good version
    env = _env(tmp_path)
    ingest = ["zone", "ingest", "--zone", str(zone), "--no-progress", "--keep-versions", "1"]
    good = make_source(20)
    done = _run([*ingest, "--source", str(good.write(tmp_path / "good"))], env)
    assert done.returncode == 0, done.stderr
    live = (zone / "data" / "CURRENT").read_text().strip()
    bad = make_source(20)
    bad_ids = bad.column("persons", "id_number")
    bad_ids[:] = [bad_check(number) for number in bad_ids]
    clear = [*bad_ids, *good.column("persons", "id_number")]
    bad_dir = str(bad.write(tmp_path / "bad"))
    for _ in range(2):
        refused = _run([*ingest, "--source", bad_dir], env)
        assert refused.returncode == 65, refused.stderr
        assert "error: refused to publish" in refused.stderr
        assert "table 'persons' (20 of 20 rows, 100%)" in refused.stderr
        assert "limit of 1% (zone.max_reject_share)" in refused.stderr
        assert "the live version is unchanged" in refused.stderr
        assert "Traceback" not in refused.stderr and "is live" not in refused.stdout
        # why, without a value: counts and reasons on stdout, the report's place on stderr
        assert refused.stdout.startswith("not published; rows rejected per table:")
        assert "id_number:CHECK_CHARACTER" in refused.stdout
        assert str(zone / "data" / "refused") in refused.stderr
        assert not [n for n in clear if n in refused.stdout + refused.stderr]
        assert (zone / "data" / "CURRENT").read_text().strip() == live
        assert (zone / "data" / "versions" / live / "catalog.json").is_file()
    found = _run(
        ["zone", "lookup", "--zone", str(zone)], env, good.column("persons", "id_number")[0]
    )
    assert found.returncode == 0 and found.stdout.splitlines()[0] == "found"

    # the limit is a setting (and an option); the version live before stays even at keep 1
    config = tmp_path / "lenient.toml"
    config.write_text("[zone]\nmax_reject_share = 1.0\n")
    allowed = _run([*ingest, "--source", bad_dir], _env(tmp_path, DATAWARD_CONFIG=str(config)))
    assert allowed.returncode == 0 and "20 rejected" in allowed.stdout, allowed.stderr
    assert (zone / "data" / "CURRENT").read_text().strip() != live
    assert (zone / "data" / "versions" / live / "catalog.json").is_file()
    config.write_text("[zone]\nmax_reject_share = 2\n")
    wrong = _run([*ingest, "--source", bad_dir], _env(tmp_path, DATAWARD_CONFIG=str(config)))
    assert wrong.returncode == 78 and "zone.max_reject_share" in wrong.stderr
    out_of_range = _run([*ingest, "--source", bad_dir, "--max-reject-share", "1.5"], env)
    assert out_of_range.returncode == 2


def test_ingest_help_documents_keep_versions_and_the_reject_limit(tmp_path: Path) -> None:
    shown = _run(["zone", "ingest", "--help"], _env(tmp_path))
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    assert "--keep-versions" in text and "the one live before it" in text
    assert "--max-reject-share" in text and "zone.max_reject_share" in text


def test_enroll_faces_publishes_a_version_and_reports_rejects_by_file_name(
    tmp_path: Path, zone: Path
) -> None:
    faces = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
    src = make_source(10)
    ids = src.column("persons", "id_number")
    env = _env(tmp_path)
    done = _run(
        ["zone", "ingest", "--zone", str(zone), "--source", str(src.write(tmp_path / "s"))], env
    )
    assert done.returncode == 0, done.stderr
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("obama.jpg", "two_people.jpg"):
        shutil.copy(faces / name, photos / name)
    mapping = tmp_path / "map.csv"
    mapping.write_text(f"image,id_number\nobama.jpg,{ids[0]}\ntwo_people.jpg,{ids[1]}\n")
    rejects = tmp_path / "rejects.json"
    args = ["zone", "enroll-faces", "--zone", str(zone), "--images", str(photos)]
    done = _run([*args, "--map", str(mapping), "--rejects", str(rejects)], env)
    assert done.returncode == 0, done.stderr
    assert "2 photos: 1 enrolled (1 replacing an earlier template), 1 rejected" in done.stdout
    assert "rejected two_people.jpg: MULTIPLE_FACES" in done.stdout
    assert "photos" in done.stderr  # the progress bar
    assert json.loads(rejects.read_text()) == [
        {"image": "two_people.jpg", "reason": "MULTIPLE_FACES"}
    ]
    for stream in (done.stdout, done.stderr, rejects.read_text()):
        assert ids[0] not in stream and ids[1] not in stream
    # a map that is not image,id_number CSV: exit 65, named, nothing published
    bad = tmp_path / "bad.csv"
    bad.write_text(f"photo;person\nobama.jpg;{ids[0]}\n")
    done = _run([*args, "--map", str(bad)], env)
    assert done.returncode == 65 and "header must be exactly: image,id_number" in done.stderr
    assert ids[0] not in done.stderr and "Traceback" not in done.stderr
    done = _run([*args[:-1], str(tmp_path / "nowhere"), "--map", str(mapping)], env)
    assert done.returncode == 65 and "images directory does not exist" in done.stderr
