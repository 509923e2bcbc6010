"""Calibration of the face thresholds on labelled pairs (``dataward faces calibrate``).

Every image goes through the product's own path -- its bytes to a :class:`FaceAnalyzer`
(decode within the limits, the quality gates, the template) -- so the numbers are those of
the zone's verification, not of a bare model. A pair with an image the gates send back for a
retake, or the zone refuses (:class:`ImageInvalid`), is not scored: it is counted by reason
and reported, and the genuine-accept rate is given both over the scored pairs and over all
genuine pairs (a retake is not an accept).

Conventions: the distance is the Euclidean distance of the templates (dlib scale); a pair is
accepted at threshold ``t`` when ``distance <= t`` (the ``match_*`` rows of
:class:`Thresholds`). The encrypted match compares the cosine of the normalised templates with
``tau`` and accepts when ``cosine > tau``. Thresholds are put on a 0.001 grid on the safe side
(a distance threshold strictly below, a cosine threshold strictly above, the impostor score
that would exceed the target), so a printed threshold never admits more than was measured.

The false-accept rate an n-impostor set can show is a multiple of 1/n: with 300 impostor
pairs (LFW View 2, one fold) a 0.1% target means no false accept at all, and zero false
accepts among n says only that the rate is below about 3/n (95%, the "rule of three"):
:attr:`Calibration.far_resolution` states it with the results.
"""

from __future__ import annotations

import csv
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import numpy.typing as npt

from enclave.biometrics.errors import CalibrationSourceInvalid, ImageInvalid
from enclave.biometrics.interface import FaceAnalyzer, Probe, Template, Thresholds

__all__ = [
    "Calibration",
    "Pair",
    "RocPoint",
    "calibrate",
    "cosine_threshold_at_far",
    "equal_error_rate",
    "gar_at",
    "read_pairs",
    "roc_points",
    "scores_calibration",
    "threshold_at_far",
    "write_roc_png",
]

Distances = npt.NDArray[np.float64]
GRID = 1000  # thresholds on a 0.001 grid
MAX_PAIRS = 1_000_000
_REQUIRED_COLUMNS = ("label", "img_a", "img_b")


@dataclass(frozen=True, slots=True)
class Pair:
    """One labelled pair of a pairs file: ``same`` for a genuine pair; the images' paths
    relative to the images directory; ``line`` its line number in the file."""

    line: int
    same: bool
    image_a: PurePosixPath
    image_b: PurePosixPath


@dataclass(frozen=True, slots=True)
class RocPoint:
    """At distance threshold ``threshold``: the false-accept and the genuine-accept rate."""

    threshold: float
    far: float
    gar: float


def _sorted(values: Sequence[float] | npt.NDArray[np.floating]) -> Distances:
    array = np.sort(np.asarray(values, dtype=np.float64))
    if array.ndim != 1 or not np.all(np.isfinite(array)):
        raise ValueError("scores are a finite one-dimensional sequence")
    return array


def _allowed(n: int, far: float) -> int:
    """How many of ``n`` impostor pairs may be accepted at a false-accept rate of ``far``."""
    if not 0.0 < far < 1.0:
        raise ValueError("a false-accept rate is inside (0, 1)")
    return math.floor(far * n + 1e-9)


def threshold_at_far(impostor: Sequence[float] | Distances, far: float) -> float:
    """The largest distance threshold on the 0.001 grid at which at most ``far`` of the
    ``impostor`` distances are accepted (``distance <= t``); ``inf`` when every impostor may
    be accepted. Strictly below the first impostor distance that would exceed the rate."""
    ordered = _sorted(impostor)
    if ordered.size == 0:
        raise ValueError("no impostor scores")
    k = _allowed(ordered.size, far)
    if k >= ordered.size:
        return math.inf
    first_refused = float(ordered[k])
    t = (math.ceil(first_refused * GRID) - 1) / GRID
    while t >= first_refused:  # float rounding of the grid
        t -= 1 / GRID
    return round(t, 3)


def cosine_threshold_at_far(impostor_cosine: Sequence[float] | Distances, far: float) -> float:
    """The smallest cosine threshold ``tau`` on the 0.001 grid at which at most ``far`` of
    the impostor cosines are accepted (``cosine > tau``), inside (-1, 1)."""
    ordered = _sorted(impostor_cosine)[::-1]
    if ordered.size == 0:
        raise ValueError("no impostor scores")
    k = _allowed(ordered.size, far)
    if k >= ordered.size:
        return -0.999
    first_refused = float(ordered[k])
    tau = (math.floor(first_refused * GRID) + 1) / GRID
    while tau <= first_refused:
        tau += 1 / GRID
    return min(round(tau, 3), 0.999)


def gar_at(genuine: Sequence[float] | Distances, threshold: float) -> float:
    """The share of ``genuine`` distances accepted at ``threshold`` (``distance <= t``)."""
    ordered = _sorted(genuine)
    if ordered.size == 0:
        raise ValueError("no genuine scores")
    return float(np.searchsorted(ordered, threshold, side="right")) / ordered.size


def _far_at(impostor: Distances, threshold: float) -> float:
    return float(np.searchsorted(impostor, threshold, side="right")) / impostor.size


def equal_error_rate(
    genuine: Sequence[float] | Distances, impostor: Sequence[float] | Distances
) -> tuple[float, float]:
    """``(eer, threshold)``: over every observed distance as a threshold, the one where the
    false-accept and the false-reject rates are closest; the EER is their mean there."""
    gen, imp = _sorted(genuine), _sorted(impostor)
    if gen.size == 0 or imp.size == 0:
        raise ValueError("the EER needs genuine and impostor scores")
    candidates = np.unique(np.concatenate([gen, imp]))
    far = np.searchsorted(imp, candidates, side="right") / imp.size
    frr = 1.0 - np.searchsorted(gen, candidates, side="right") / gen.size
    best = int(np.argmin(np.abs(far - frr)))
    return float((far[best] + frr[best]) / 2), float(candidates[best])


def roc_points(
    genuine: Sequence[float] | Distances, impostor: Sequence[float] | Distances
) -> tuple[RocPoint, ...]:
    """The ROC curve: a point at every distinct observed distance, from (0, 0) below the
    smallest one to (1, 1) at the largest."""
    gen, imp = _sorted(genuine), _sorted(impostor)
    if gen.size == 0 or imp.size == 0:
        raise ValueError("a ROC curve needs genuine and impostor scores")
    candidates = np.unique(np.concatenate([gen, imp]))
    far = np.searchsorted(imp, candidates, side="right") / imp.size
    gar = np.searchsorted(gen, candidates, side="right") / gen.size
    start = RocPoint(float(np.nextafter(candidates[0], -np.inf)), 0.0, 0.0)
    rest = (
        RocPoint(float(t), float(f), float(g)) for t, f, g in zip(candidates, far, gar, strict=True)
    )
    return (start, *rest)


@dataclass(frozen=True, slots=True, eq=False)
class Calibration:
    """The scores of a calibration run and what follows from them at the target ``far``.

    ``genuine``/``impostor`` are the scored pairs' distances (sorted), ``*_cosine`` their
    cosines; ``unscored`` counts the pairs left out by reason (a retake reason, or
    ``IMAGE_INVALID <problem>``), ``unscored_genuine`` how many of them were genuine.
    """

    far: float
    genuine: Distances = field(repr=False)
    impostor: Distances = field(repr=False)
    genuine_cosine: Distances = field(repr=False)
    impostor_cosine: Distances = field(repr=False)
    unscored: Mapping[str, int]
    unscored_genuine: int
    images: int
    seconds: float

    @property
    def pairs(self) -> int:
        return self.genuine.size + self.impostor.size + sum(self.unscored.values())

    @property
    def threshold(self) -> float:
        """The distance threshold at the target false-accept rate."""
        return threshold_at_far(self.impostor, self.far)

    @property
    def gar(self) -> float:
        """The genuine-accept rate at :attr:`threshold` over the scored genuine pairs."""
        return gar_at(self.genuine, self.threshold)

    @property
    def gar_all(self) -> float:
        """The same over every genuine pair, a retake counted as not accepted."""
        accepted = self.gar * self.genuine.size
        return accepted / (self.genuine.size + self.unscored_genuine)

    def gar_at_far(self, far: float) -> float:
        return gar_at(self.genuine, threshold_at_far(self.impostor, far))

    @property
    def eer(self) -> tuple[float, float]:
        """``(eer, threshold)``."""
        return equal_error_rate(self.genuine, self.impostor)

    @property
    def cosine_threshold(self) -> float:
        """The encrypted match's ``tau`` at the target false-accept rate."""
        return cosine_threshold_at_far(self.impostor_cosine, self.far)

    @property
    def cosine_gar(self) -> float:
        tau = self.cosine_threshold
        return float(np.count_nonzero(self.genuine_cosine > tau)) / self.genuine_cosine.size

    @property
    def far_resolution(self) -> float:
        """The false-accept rate that zero observed false accepts still allows (95%): 3/n."""
        return 3.0 / self.impostor.size

    @property
    def roc(self) -> tuple[RocPoint, ...]:
        return roc_points(self.genuine, self.impostor)

    def suggested(self, validated_on: str) -> Thresholds:
        """Thresholds following from this run alone (no margin for populations it did not
        hold; :data:`enclave.biometrics.DEFAULT_THRESHOLDS` adds one):

        * ``match_medium`` the threshold at the target rate, ``match_high`` at a tenth of it
          and at least 0.05 lower (a small set cannot tell the two rates apart);
        * ``no_match`` the distance above which at most 1% of genuine pairs fall,
          ``no_match_high`` at most 0.1% (a NO_MATCH for the right person is the costly
          error on that side; between ``match_medium`` and ``no_match`` is a retake);
        * ``presentation_floor`` 0.9 times the smallest genuine distance, rounded down to 0.01
          (two different photos of one person were never closer; the same photo re-encoded
          or re-photographed usually is);
        * ``encrypted_cosine`` the cosine threshold at the target rate.
        """
        medium = self.threshold
        high = min(threshold_at_far(self.impostor, self.far / 10), round(medium - 0.05, 3))
        no_match = max(medium, _genuine_quantile(self.genuine, 0.99))
        no_match_high = max(no_match, _genuine_quantile(self.genuine, 0.999))
        floor = min(high, math.floor(float(self.genuine[0]) * 0.9 * 100) / 100)
        return Thresholds(
            presentation_floor=max(floor, 0.0),
            match_high=max(high, floor),
            match_medium=medium,
            no_match=no_match,
            no_match_high=no_match_high,
            encrypted_cosine=self.cosine_threshold,
            validated_on=validated_on,
        )


def _genuine_quantile(genuine: Distances, share: float) -> float:
    """The distance on the 0.001 grid at or above which at most ``1 - share`` of the genuine
    pairs lie (rounded up: the no-match side errs towards a retake)."""
    value = float(np.quantile(genuine, share, method="higher"))
    return math.ceil(value * GRID) / GRID


def scores_calibration(
    genuine: Sequence[tuple[Template, Template]],
    impostor: Sequence[tuple[Template, Template]],
    *,
    far: float,
    unscored: Mapping[str, int] | None = None,
    unscored_genuine: int = 0,
    images: int = 0,
    seconds: float = 0.0,
) -> Calibration:
    """A :class:`Calibration` from template pairs (what :func:`calibrate` builds)."""

    def scores(pairs: Sequence[tuple[Template, Template]]) -> tuple[Distances, Distances]:
        distance = [a.distance(b) for a, b in pairs]
        cosine = [float(np.dot(a.normalized(), b.normalized())) for a, b in pairs]
        return _sorted(distance), _sorted(cosine)

    gen, gen_cos = scores(genuine)
    imp, imp_cos = scores(impostor)
    if gen.size == 0 or imp.size == 0:
        raise CalibrationSourceInvalid(
            f"{gen.size} genuine and {imp.size} impostor pairs could be scored: both are needed"
        )
    _allowed(imp.size, far)
    return Calibration(
        far=far,
        genuine=gen,
        impostor=imp,
        genuine_cosine=gen_cos,
        impostor_cosine=imp_cos,
        unscored=dict(unscored or {}),
        unscored_genuine=unscored_genuine,
        images=images,
        seconds=seconds,
    )


def read_pairs(pairs_tsv: Path, images_dir: Path) -> tuple[Pair, ...]:
    """The pairs of a tab-separated file with a header holding ``label``, ``img_a`` and
    ``img_b`` (LFW's View 2 layout ``fold label img_a img_b``); ``label`` is 1 for the same
    person, 0 for two people; image paths are relative to ``images_dir``, inside it, and
    exist. :class:`CalibrationSourceInvalid` names the line and the column of the first
    problem (never an image's name: in a pairs file it is often the person's)."""
    if not images_dir.is_dir():
        raise CalibrationSourceInvalid("the images directory does not exist")
    try:
        with pairs_tsv.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
    except FileNotFoundError:
        raise CalibrationSourceInvalid("the pairs file does not exist") from None
    except IsADirectoryError:
        raise CalibrationSourceInvalid("the pairs file is a directory") from None
    except UnicodeDecodeError:
        raise CalibrationSourceInvalid("the pairs file is not UTF-8 text") from None
    except csv.Error as exc:
        raise CalibrationSourceInvalid(
            f"the pairs file is not tab-separated text ({exc})"
        ) from None
    if not rows:
        raise CalibrationSourceInvalid("the pairs file is empty")
    header = [name.strip() for name in rows[0]]
    missing = [name for name in _REQUIRED_COLUMNS if name not in header]
    if missing:
        raise CalibrationSourceInvalid(
            f"line 1: the header lacks {', '.join(missing)} (expected tab-separated "
            "columns label, img_a, img_b)"
        )
    where = {name: header.index(name) for name in _REQUIRED_COLUMNS}
    root = images_dir.resolve()
    pairs: list[Pair] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise CalibrationSourceInvalid(
                f"line {line}: {len(row)} fields, the header has {len(header)}"
            )
        label = row[where["label"]].strip()
        if label not in ("0", "1"):
            raise CalibrationSourceInvalid(
                f"line {line}: label must be 1 (same person) or 0 (two people)"
            )
        images = tuple(_image_path(root, row[where[c]], line, c) for c in ("img_a", "img_b"))
        pairs.append(Pair(line=line, same=label == "1", image_a=images[0], image_b=images[1]))
        if len(pairs) > MAX_PAIRS:
            raise CalibrationSourceInvalid(f"more than {MAX_PAIRS:,} pairs")
    if not any(p.same for p in pairs) or all(p.same for p in pairs):
        raise CalibrationSourceInvalid(
            "the pairs file needs both genuine (label 1) and impostor (label 0) pairs"
        )
    return tuple(pairs)


def _image_path(root: Path, cell: str, line: int, column: str) -> PurePosixPath:
    relative = PurePosixPath(cell.strip())
    if not cell.strip() or relative.is_absolute() or ".." in relative.parts:
        raise CalibrationSourceInvalid(
            f"line {line}: {column} must be a path relative to the images directory"
        )
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise CalibrationSourceInvalid(f"line {line}: {column} leads out of the images directory")
    if not path.is_file():
        raise CalibrationSourceInvalid(
            f"line {line}: {column} is not a file in the images directory"
        )
    return relative


Progress = Callable[[int, int], None]


def calibrate(
    pairs_tsv: Path,
    images_dir: Path,
    analyzer: FaceAnalyzer,
    *,
    far: float,
    concurrency: int = 1,
    progress: Progress | None = None,
) -> Calibration:
    """Analyse every image of the pairs file once through ``analyzer`` (from ``concurrency``
    threads: the face workers run them in parallel), score the pairs and compute the
    thresholds at ``far``. ``progress(done, total)`` after each image."""
    _allowed(1, far)  # the rate is checked before any work
    pairs = read_pairs(pairs_tsv, images_dir)
    images = sorted({p.image_a for p in pairs} | {p.image_b for p in pairs})
    root = images_dir.resolve()
    start = time.perf_counter()

    def analyze(relative: PurePosixPath) -> Probe | str:
        try:
            return analyzer.analyze((root / relative).read_bytes())
        except ImageInvalid as exc:
            return f"IMAGE_INVALID {exc.problem}"

    probes: dict[PurePosixPath, Probe | str] = {}
    with ThreadPoolExecutor(max(1, concurrency)) as threads:
        for done, (relative, probe) in enumerate(
            zip(images, threads.map(analyze, images), strict=True), start=1
        ):
            probes[relative] = probe
            if progress is not None:
                progress(done, len(images))

    unscored: Counter[str] = Counter()
    unscored_genuine = 0
    genuine: list[tuple[Template, Template]] = []
    impostor: list[tuple[Template, Template]] = []
    for pair in pairs:
        a, b = probes[pair.image_a], probes[pair.image_b]
        problem = _problem(a) or _problem(b)
        if problem is not None:
            unscored[problem] += 1
            unscored_genuine += pair.same
            continue
        assert isinstance(a, Probe) and isinstance(b, Probe)
        assert a.template is not None and b.template is not None
        (genuine if pair.same else impostor).append((a.template, b.template))
    return scores_calibration(
        genuine,
        impostor,
        far=far,
        unscored=unscored,
        unscored_genuine=unscored_genuine,
        images=len(images),
        seconds=time.perf_counter() - start,
    )


def _problem(probe: Probe | str) -> str | None:
    if isinstance(probe, str):
        return probe
    return None if probe.template is not None else probe.retake.value


def write_roc_png(calibration: Calibration, path: Path) -> None:
    """The ROC curve (genuine-accept against false-accept rate, log scale) as a PNG, with
    the target rate and the equal-error point marked (matplotlib, Agg: no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = calibration.roc
    floor = 1.0 / (10 * calibration.impostor.size)  # a zero rate drawn at the axis' bottom
    far = [max(p.far, floor) for p in points]
    gar = [p.gar for p in points]
    eer, _ = calibration.eer
    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.step(far, gar, where="post", label="ROC (scored pairs)")
    axes.axvline(calibration.far, linestyle="--", color="grey")
    axes.plot(
        [max(calibration.far, floor)],
        [calibration.gar],
        "o",
        label=f"FAR {calibration.far:g}: GAR {calibration.gar:.1%}, t={calibration.threshold:.3f}",
    )
    axes.plot([max(eer, floor)], [1.0 - eer], "s", label=f"EER {eer:.2%}")
    axes.set_xscale("log")
    axes.set_xlim(floor, 1.0)
    first_false_accept = min((p.gar for p in points if p.far > 0), default=0.0)
    axes.set_ylim(min(0.9, max(0.0, first_false_accept - 0.05)), 1.005)
    axes.set_xlabel(f"false-accept rate ({calibration.impostor.size} impostor pairs)")
    axes.set_ylabel(f"genuine-accept rate ({calibration.genuine.size} genuine pairs)")
    axes.set_title("Face verification ROC (distance threshold)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    figure.savefig(path, format="png")
