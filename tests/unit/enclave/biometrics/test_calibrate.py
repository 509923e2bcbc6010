"""The calibration's arithmetic on known scores, the pairs file's errors, and calibrate()
through an analyzer that implements the FaceAnalyzer seam (the real one is exercised by the
CLI test in tests/e2e/test_faces_cli.py)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from enclave.biometrics import (
    CalibrationSourceInvalid,
    ImageInvalid,
    Probe,
    Retake,
    Template,
    Thresholds,
    calibrate,
    cosine_threshold_at_far,
    equal_error_rate,
    gar_at,
    read_pairs,
    roc_points,
    scores_calibration,
    threshold_at_far,
    write_roc_png,
)


def test_threshold_at_far_stays_strictly_below_the_first_refused_impostor() -> None:
    impostor = [0.6043, 0.65, 0.70, 0.71, 0.72, 0.73, 0.74, 0.75, 0.76, 0.77]
    # 10 impostors: 10% allows one, 1% none
    assert threshold_at_far(impostor, 0.01) == 0.604
    assert threshold_at_far(impostor, 0.10) == 0.649
    # exactly on the grid: one step lower, never the impostor itself
    assert threshold_at_far([0.604] * 10, 0.01) == 0.603
    assert threshold_at_far([0.5, 0.6], 0.6) == 0.599
    with pytest.raises(ValueError):
        threshold_at_far(impostor, 0.0)
    with pytest.raises(ValueError):
        threshold_at_far([], 0.01)


def test_threshold_admits_at_most_the_rate_on_random_scores() -> None:
    rng = np.random.default_rng(13)
    for _ in range(200):
        impostor = rng.normal(0.75, 0.08, size=int(rng.integers(1, 3000)))
        far = float(rng.choice([0.001, 0.01, 0.05]))
        t = threshold_at_far(impostor, far)
        accepted = int(np.count_nonzero(impostor <= t))
        assert accepted <= math.floor(far * impostor.size + 1e-9)
        allowed = math.floor(far * impostor.size + 1e-9)
        if allowed < impostor.size:  # the largest such grid step: the next one admits too many
            assert np.sort(impostor)[allowed] <= t + 0.001 + 1e-12
        else:
            assert t == math.inf


def test_cosine_threshold_is_strictly_above_the_first_refused_impostor() -> None:
    cosines = [0.958, 0.95, 0.90, 0.80, 0.70, 0.60, 0.50, 0.40, 0.30, 0.20]
    assert cosine_threshold_at_far(cosines, 0.01) == 0.959  # cosine > tau: none accepted
    assert cosine_threshold_at_far(cosines, 0.10) == 0.951  # one accepted
    assert cosine_threshold_at_far([0.95] * 10, 0.01) == 0.951
    assert -1 < cosine_threshold_at_far([0.9999] * 10, 0.01) < 1


def test_gar_and_eer_on_known_scores() -> None:
    genuine = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    impostor = [0.55, 0.65, 0.75, 0.85, 0.95, 1.05, 1.15, 1.25]
    assert gar_at(genuine, 0.45) == 0.5
    assert gar_at(genuine, 0.5) == 5 / 8  # distance <= t is accepted
    eer, at = equal_error_rate(genuine, impostor)
    # at 0.6: FAR 1/8 (0.55), FRR 2/8 (0.7, 0.8); at 0.65: FAR 2/8, FRR 2/8
    assert eer == pytest.approx(0.25) and at == pytest.approx(0.65)
    separated_eer, _ = equal_error_rate([0.1, 0.2], [0.8, 0.9])
    assert separated_eer == 0.0


def test_roc_runs_from_zero_to_one_and_never_falls() -> None:
    rng = np.random.default_rng(1)
    points = roc_points(rng.normal(0.4, 0.1, 300), rng.normal(0.8, 0.1, 300))
    assert (points[0].far, points[0].gar) == (0.0, 0.0)
    assert (points[-1].far, points[-1].gar) == (1.0, 1.0)
    for a, b in itertools.pairwise(points):
        assert b.threshold > a.threshold and b.far >= a.far and b.gar >= a.gar


def _template(
    rng: np.random.Generator, base: np.ndarray | None = None, noise: float = 0.05
) -> Template:
    v = rng.normal(0, 0.09, 128) if base is None else base + rng.normal(0, noise, 128)
    return Template(v.astype(np.float32))


def test_scores_calibration_and_suggested_thresholds_are_ordered() -> None:
    rng = np.random.default_rng(7)
    people = [rng.normal(0, 0.09, 128) for _ in range(60)]
    genuine = [(_template(rng, p), _template(rng, p)) for p in people]
    impostor = [(_template(rng, a), _template(rng, b)) for a, b in itertools.pairwise(people)]
    cal = scores_calibration(genuine, impostor, far=0.01)
    assert cal.pairs == 119 and cal.unscored == {} and cal.gar == cal.gar_all
    assert cal.threshold < float(cal.impostor[0])
    assert cal.gar == 1.0 and cal.eer[0] == 0.0
    assert cal.cosine_threshold > float(cal.impostor_cosine.max())
    suggested = cal.suggested("fixture sentence")
    assert isinstance(suggested, Thresholds)
    assert suggested.presentation_floor < float(cal.genuine[0])
    assert suggested.match_high <= suggested.match_medium == cal.threshold
    assert suggested.validated_on == "fixture sentence"
    assert cal.far_resolution == pytest.approx(3 / 59)


def test_scores_calibration_needs_both_kinds() -> None:
    rng = np.random.default_rng(3)
    p = rng.normal(0, 0.09, 128)
    with pytest.raises(CalibrationSourceInvalid, match="0 impostor"):
        scores_calibration([(_template(rng, p), _template(rng, p))], [], far=0.01)


PAIRS_HEADER = "fold\tlabel\timg_a\timg_b\n"


def _images(tmp_path: Path, names: list[str]) -> Path:
    root = tmp_path / "images"
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode())
    return root


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("label\timg_a\n1\ta/1.jpg\n", "line 1: the header lacks img_b"),
        (PAIRS_HEADER + "1\t1\ta/1.jpg\n", "line 2: 3 fields, the header has 4"),
        (PAIRS_HEADER + "1\tyes\ta/1.jpg\ta/2.jpg\n", "line 2: label must be 1"),
        (PAIRS_HEADER + "1\t1\t/etc/passwd\ta/2.jpg\n", "line 2: img_a must be a path relative"),
        (PAIRS_HEADER + "1\t1\ta/1.jpg\t../x.jpg\n", "line 2: img_b must be a path relative"),
        (PAIRS_HEADER + "1\t1\ta/1.jpg\ta/9.jpg\n", "line 2: img_b is not a file"),
        (PAIRS_HEADER + "1\t1\ta/1.jpg\ta/2.jpg\n", "both genuine"),
        (PAIRS_HEADER + "1\t0\ta/1.jpg\tb/1.jpg\n", "both genuine"),
    ],
)
def test_bad_pairs_files_name_the_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    root = _images(tmp_path, ["a/1.jpg", "a/2.jpg", "b/1.jpg"])
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(text)
    with pytest.raises(CalibrationSourceInvalid, match=message) as caught:
        read_pairs(pairs, root)
    assert "a/1.jpg" not in str(caught.value)  # an image's name is often the person's


def test_pairs_file_missing_not_utf8_or_images_missing(tmp_path: Path) -> None:
    root = _images(tmp_path, ["a/1.jpg"])
    with pytest.raises(CalibrationSourceInvalid, match="pairs file does not exist"):
        read_pairs(tmp_path / "nope.tsv", root)
    (tmp_path / "bin.tsv").write_bytes(b"\xff\xfe\x00label")
    with pytest.raises(CalibrationSourceInvalid, match="not UTF-8"):
        read_pairs(tmp_path / "bin.tsv", root)
    with pytest.raises(CalibrationSourceInvalid, match="images directory does not exist"):
        read_pairs(tmp_path / "bin.tsv", tmp_path / "nothing")


def test_a_link_out_of_the_images_directory_is_refused(tmp_path: Path) -> None:
    root = _images(tmp_path, ["a/1.jpg", "b/1.jpg"])
    (tmp_path / "outside.jpg").write_bytes(b"x")
    (root / "a" / "2.jpg").symlink_to(tmp_path / "outside.jpg")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(PAIRS_HEADER + "1\t1\ta/1.jpg\ta/2.jpg\n1\t0\ta/1.jpg\tb/1.jpg\n")
    with pytest.raises(CalibrationSourceInvalid, match="line 2: img_b leads out"):
        read_pairs(pairs, root)


class _ByContent:
    """A FaceAnalyzer over the test's files: each file's bytes name what analyze answers."""

    def __init__(self, answers: dict[bytes, Probe | ImageInvalid]) -> None:
        self.answers = answers
        self.calls: list[bytes] = []

    def analyze(self, data: bytes) -> Probe:
        self.calls.append(data)
        answer = self.answers[data]
        if isinstance(answer, ImageInvalid):
            raise answer
        return answer


def test_calibrate_scores_each_image_once_and_reports_unscored_pairs(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    a, b, c = (rng.normal(0, 0.09, 128) for _ in range(3))
    names = ["a/1.jpg", "a/2.jpg", "b/1.jpg", "b/2.jpg", "c/1.jpg", "c/2.jpg", "d/1.jpg", "e/1.png"]
    root = _images(tmp_path, names)
    answers: dict[bytes, Probe | ImageInvalid] = {
        b"a/1.jpg": Probe(_template(rng, a)),
        b"a/2.jpg": Probe(_template(rng, a)),
        b"b/1.jpg": Probe(_template(rng, b)),
        b"b/2.jpg": Probe(_template(rng, b)),
        b"c/1.jpg": Probe(_template(rng, c)),
        b"c/2.jpg": Probe(None, Retake.NO_FACE),
        b"d/1.jpg": Probe(None, Retake.MULTIPLE_FACES),
        b"e/1.png": ImageInvalid("TRUNCATED", "no IEND"),
    }
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        PAIRS_HEADER
        + "1\t1\ta/1.jpg\ta/2.jpg\n"
        + "1\t1\tb/1.jpg\tb/2.jpg\n"
        + "1\t1\tc/1.jpg\tc/2.jpg\n"  # a retake: counted, genuine
        + "1\t0\ta/1.jpg\tb/1.jpg\n"
        + "1\t0\ta/2.jpg\tc/1.jpg\n"
        + "1\t0\tb/2.jpg\td/1.jpg\n"
        + "1\t0\tc/1.jpg\te/1.png\n"
    )
    analyzer = _ByContent(answers)
    seen: list[tuple[int, int]] = []
    cal = calibrate(
        pairs, root, analyzer, far=0.1, concurrency=3, progress=lambda d, t: seen.append((d, t))
    )
    assert sorted(analyzer.calls) == sorted(answers)  # once each
    assert seen[-1] == (8, 8) and len(seen) == 8
    assert cal.genuine.size == 2 and cal.impostor.size == 2 and cal.pairs == 7
    assert cal.unscored == {"NO_FACE": 1, "MULTIPLE_FACES": 1, "IMAGE_INVALID TRUNCATED": 1}
    assert cal.unscored_genuine == 1
    assert cal.gar == 1.0 and cal.gar_all == pytest.approx(2 / 3)
    assert cal.images == 8


def test_calibrate_refuses_a_rate_outside_zero_one_before_any_work(tmp_path: Path) -> None:
    analyzer = _ByContent({})
    with pytest.raises(ValueError, match="false-accept rate"):
        calibrate(tmp_path / "none.tsv", tmp_path, analyzer, far=1.5)
    assert analyzer.calls == []


def test_roc_png_is_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    people = [rng.normal(0, 0.09, 128) for _ in range(40)]
    genuine = [(_template(rng, p, 0.06), _template(rng, p, 0.06)) for p in people]
    impostor = [(_template(rng, a), _template(rng, b)) for a, b in itertools.pairwise(people)]
    cal = scores_calibration(genuine, impostor, far=0.001)
    out = tmp_path / "roc.png"
    write_roc_png(cal, out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
