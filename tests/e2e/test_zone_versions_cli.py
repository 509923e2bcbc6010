"""`zone ingest --dry-run`, `zone versions`, `zone rollback` and the progress lines, as an
operator runs them: real processes (stderr is a pipe, never a terminal), exit codes, messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.zone_source import MASTER_KEY, bad_check, make_source

DATAWARD = [sys.executable, "-c", "from launcher.cli import main; main()"]


def _run(
    args: list[str], tmp_path: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.defpath, "LC_ALL": "C.UTF-8", "DATAWARD_MASTER_KEY": MASTER_KEY.decode()}
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
    done = _run(["zone", "init", "--zone", str(z)], tmp_path)
    assert done.returncode == 0, done.stderr
    return z


def _current(zone: Path) -> str:
    return (zone / "data" / "CURRENT").read_text().strip()


def test_dry_run_reports_like_an_ingest_and_publishes_nothing(tmp_path: Path, zone: Path) -> None:
    good = make_source(20)
    first = _run(
        ["zone", "ingest", "--zone", str(zone), "--source", str(good.write(tmp_path / "g"))],
        tmp_path,
    )
    assert first.returncode == 0, first.stderr
    live = _current(zone)
    src = make_source(30)
    ids = src.column("persons", "id_number")
    ids[2] = bad_check(ids[2])
    src_dir = str(src.write(tmp_path / "s"))
    dry = ["zone", "ingest", "--zone", str(zone), "--source", src_dir, "--dry-run"]

    lenient = _run([*dry, "--max-reject-share", "0.5"], tmp_path)
    assert lenient.returncode == 0, lenient.stderr
    assert lenient.stdout.startswith("dry run: nothing published, the live version is unchanged")
    assert "persons" in lenient.stdout and "1 rejected" in lenient.stdout
    assert "id_number:CHECK_CHARACTER" in lenient.stdout
    report_dir = zone / "data" / "dry-run"
    assert str(report_dir) in lenient.stdout
    assert _current(zone) == live
    versions = sorted(p.name for p in (zone / "data" / "versions").iterdir())
    assert versions == [live]  # the dry run's tables are gone, nothing new was kept
    (kept,) = list(report_dir.iterdir())
    assert (kept / "rejects.json").is_file() and not (kept / "tables").exists()
    assert ids[2] not in lenient.stdout + lenient.stderr  # reasons and counts, never values

    strict = _run(dry, tmp_path)  # 1 of 30 > the default 1%: exit 65 as a real ingest would
    assert strict.returncode == 65, strict.stderr
    assert "error: refused to publish" in strict.stderr and "(1 of 30 rows, 3.33%)" in strict.stderr
    assert strict.stdout.startswith("not published; rows rejected per table:")
    assert _current(zone) == live
    assert "Traceback" not in strict.stderr


def test_versions_lists_and_rollback_switches_back(tmp_path: Path, zone: Path) -> None:
    empty = _run(["zone", "versions", "--zone", str(zone)], tmp_path)
    assert empty.returncode == 0 and "no dataset version yet" in empty.stdout
    ingest = ["zone", "ingest", "--zone", str(zone), "--no-progress", "--keep-versions", "3"]
    for n in (20, 25):
        done = _run([*ingest, "--source", str(make_source(n).write(tmp_path / f"s{n}"))], tmp_path)
        assert done.returncode == 0, done.stderr
    newest = _current(zone)
    listed = _run(["zone", "versions", "--zone", str(zone)], tmp_path)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["VERSION", "CREATED", "PERSONS", "CLAIMS", "STATE"]
    assert [r.split()[0] for r in rows][-1] == newest and rows[-1].endswith("live")
    assert [r.split()[2] for r in rows] == ["20", "25"]
    older = rows[0].split()[0]
    assert not rows[0].endswith("live")

    back = _run(["zone", "rollback", "--zone", str(zone), older], tmp_path)
    assert back.returncode == 0, back.stderr
    assert back.stdout.splitlines()[0] == f"version {older} is live (was {newest})"
    assert _current(zone) == older
    person = make_source(20).column("persons", "id_number")[0]
    assert _run(["zone", "lookup", "--zone", str(zone)], tmp_path, person).stdout.startswith(
        "found"
    )
    only_newer = make_source(25).column("persons", "id_number")[24]
    assert _run(["zone", "lookup", "--zone", str(zone)], tmp_path, only_newer).stdout.startswith(
        "not found"
    )
    again = _run(["zone", "rollback", "--zone", str(zone), older], tmp_path)
    assert again.returncode == 0 and "already live" in again.stdout
    forward = _run(["zone", "rollback", "--zone", str(zone), newest], tmp_path)
    assert forward.returncode == 0 and _current(zone) == newest

    (zone / "data" / "versions" / "v1-leftover.tmp").mkdir()
    for wrong in ("v20000101T000000000000Z-000000", "../zone", "v1-leftover.tmp", ""):
        refused = _run(["zone", "rollback", "--zone", str(zone), wrong], tmp_path)
        assert refused.returncode == 65, (wrong, refused.stderr)
        assert "is kept in this zone" in refused.stderr and "zone versions" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert _current(zone) == newest


def test_progress_is_plain_lines_off_a_terminal_and_absent_before_an_error(
    tmp_path: Path, zone: Path
) -> None:
    src = str(make_source(40).write(tmp_path / "s"))
    done = _run(["zone", "ingest", "--zone", str(zone), "--source", src], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "ingest: persons 100%" in lines and "ingest: claims 100%" in lines
    assert all(line.startswith("ingest: ") for line in lines), lines  # no bar, no \r
    assert "\r" not in done.stderr
    quiet = _run(
        ["zone", "ingest", "--zone", str(zone), "--source", src, "--no-progress"], tmp_path
    )
    assert quiet.returncode == 0 and quiet.stderr == ""
    missing = _run(
        ["zone", "ingest", "--zone", str(zone), "--source", str(tmp_path / "no")], tmp_path
    )
    assert missing.returncode == 66
    assert missing.stderr.startswith("error:") and "ingest:" not in missing.stderr
    datagen = _run(["datagen", "--out", str(tmp_path / "s"), "--persons", "10"], tmp_path)
    assert (
        datagen.returncode != 0 and "datagen:" not in datagen.stderr and "%" not in datagen.stderr
    )
    made = _run(["datagen", "--out", str(tmp_path / "fresh"), "--persons", "50"], tmp_path)
    assert made.returncode == 0, made.stderr
    assert "datagen: persons 100%" in made.stderr.splitlines() and "\r" not in made.stderr
