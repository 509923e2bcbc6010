"""`dataward faces calibrate` as an operator runs it: a real process, real dlib over the
fixture photos (tests/fixtures/faces/, see its README), its output, the ROC file and exit
codes for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from enclave.biometrics import Thresholds

DATAWARD = [sys.executable, "-c", "from launcher.cli import main; main()"]
FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"

GENUINE = [
    ("lfw/William_Macy_0003.jpg", "lfw/William_Macy_0004.jpg"),
    ("lfw/Zico_0002.jpg", "lfw/Zico_0003.jpg"),
    ("lfw/Bob_Graham_0002.jpg", "lfw/Bob_Graham_0004.jpg"),
    ("obama.jpg", "obama2.jpg"),
]
IMPOSTOR = [
    ("lfw/Carl_Reiner_0001.jpg", "lfw/Hamid_Efendi_0001.jpg"),
    ("lfw/Amber_Tamblyn_0002.jpg", "lfw/Benjamin_Netanyahu_0001.jpg"),
    ("obama.jpg", "biden.jpg"),
    ("lfw/William_Macy_0003.jpg", "lfw/Zico_0002.jpg"),
    ("lfw/Saeb_Erekat_0002.jpg", "lfw/Zico_0003.jpg"),  # no face: not scored, counted
]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DATAWARD, "faces", "calibrate", *map(str, args)],
        env={"PATH": os.defpath, "LC_ALL": "C.UTF-8"},  # nothing inherited: default settings
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _pairs(path: Path, genuine: list[tuple[str, str]], impostor: list[tuple[str, str]]) -> Path:
    lines = ["fold\tlabel\timg_a\timg_b"]
    lines += [f"1\t1\t{a}\t{b}" for a, b in genuine]
    lines += [f"1\t0\t{a}\t{b}" for a, b in impostor]
    path.write_text("\n".join(lines) + "\n")
    return path


def _names() -> set[str]:
    return {Path(n).stem for pair in GENUINE + IMPOSTOR for n in pair}


@pytest.mark.parametrize("workers", ["0", "1"])
def test_calibrate_prints_rates_thresholds_and_writes_the_roc(tmp_path: Path, workers: str) -> None:
    pairs = _pairs(tmp_path / "pairs.tsv", GENUINE, IMPOSTOR)
    roc = tmp_path / "roc.png"
    done = run(
        "--pairs", pairs, "--images", FACES, "--far", "0.2", "--roc", roc, "--workers", workers
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "9 pairs, 14 images" in out
    assert "4 genuine and 4 impostor pairs scored, 1 not (0 of them genuine)" in out
    assert "NO_FACE" in out
    assert "GAR at FAR 1%:" in out and "GAR at FAR 0.1%:" in out and "EER:" in out
    assert "encrypted match at FAR 0.2: cosine threshold" in out
    assert "note: 4 impostor pairs resolve a FAR down to about 75.0% only" in out
    snippet = tomllib.loads(out[out.index("[faces]") :])["faces"]
    thresholds = Thresholds(**snippet)  # ordered, in range
    # 0.53 (Bob Graham) is the farthest genuine pair, 0.64 the nearest impostor: at 20% of 4
    # impostors none may be accepted, so the threshold lies below 0.64 and above 0.53
    assert 0.53 < thresholds.match_medium < 0.64
    assert "8 labelled pairs (4 genuine, 4 impostor)" in thresholds.validated_on
    assert roc.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"ROC curve written to {roc}" in out
    assert "images" in done.stderr  # the progress bar
    for name in _names():  # an image's name is a person's name: never printed
        assert name not in out and name not in done.stderr


def test_a_bad_pairs_file_is_exit_65_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("fold\tlabel\timg_a\n1\t1\tobama.jpg\n")
    done = run("--pairs", bad, "--images", FACES, "--workers", "0")
    assert done.returncode == 65
    assert "line 1: the header lacks img_b" in done.stderr
    missing = _pairs(tmp_path / "m.tsv", [("obama.jpg", "nobody.jpg")], IMPOSTOR[:1])
    done = run("--pairs", missing, "--images", FACES, "--workers", "0")
    assert done.returncode == 65
    assert "line 2: img_b is not a file in the images directory" in done.stderr
    assert "nobody" not in done.stderr
    done = run("--pairs", tmp_path / "none.tsv", "--images", FACES, "--workers", "0")
    assert done.returncode == 65 and "the pairs file does not exist" in done.stderr
    only_genuine = _pairs(tmp_path / "g.tsv", GENUINE, [])
    done = run("--pairs", only_genuine, "--images", FACES, "--workers", "0")
    assert done.returncode == 65 and "both genuine (label 1) and impostor" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    pairs = _pairs(tmp_path / "pairs.tsv", GENUINE, IMPOSTOR)
    done = run("--pairs", pairs, "--images", FACES, "--far", "1.5")
    assert done.returncode == 2 and "--far" in done.stderr
    done = run("--pairs", pairs, "--images", FACES, "--roc", tmp_path / "no" / "roc.png")
    assert done.returncode == 2 and "its directory does not exist" in done.stderr


def test_too_few_scored_pairs_is_exit_65(tmp_path: Path) -> None:
    # the only impostor pair has an image without a face: nothing to set a threshold on
    pairs = _pairs(tmp_path / "p.tsv", GENUINE[:1], IMPOSTOR[-1:])
    done = run("--pairs", pairs, "--images", FACES, "--workers", "0")
    assert done.returncode == 65
    assert "1 genuine and 0 impostor pairs could be scored: both are needed" in done.stderr
