"""Face verification on LFW View 2 fold 1 through the product's path (issue 13).

    .venv/bin/python -m bench.faces --lfw DIR [--workers 2] [--selfies 200] [--far 0.001]

``DIR`` is a copy of LFW View 2 fold 1 (``pairs.tsv`` as ``fold label img_a img_b`` and
``images/``): third parties' photos, never shipped with the project; without it (``python -m
bench`` runs every bench with no arguments) this bench says so and is skipped.

Only fold 1 (the other LFW folds are kept for an independent evaluation). Four parts:

1. Accuracy: :func:`enclave.biometrics.calibrate` over the fold's 600 pairs with
   ``--workers`` face worker processes (:class:`enclave.biometrics.FaceWorkers`, the serving
   path: bytes -> decode within the limits -> quality gates -> template): GAR at 1% and 0.1%
   false accepts, the EER, the pairs not scored by reason, images per second.
2. Per-selfie latency, ``--selfies`` images spread over the fold, one call at a time, three
   ways interleaved (the order rotating per image): bare dlib in this process (cv2.imdecode,
   the HOG detector with one upsample, the 5-point landmarks, get_face_chip 150 px padding
   0.25, the ResNet descriptor: the lead's prototype, no gates), the product in this process
   (:class:`enclave.biometrics.LocalFaces`) and through one face worker (the bytes and the
   answer through a pipe); p50 and p99 of each and the ratios to bare.
3. Memory: the resident set (VmRSS, and its peak VmHWM) of each face worker after the runs.
4. The defaults: every image's template from the workers, then every cross-person pair of the
   fold (about 322,000), and the 616 among the 26 people whose names read as Chinese, Japanese
   or Korean (:data:`EAST_ASIAN`: a crude proxy for a face, the one this data offers); the
   false-accept rate at a few thresholds and at :data:`enclave.biometrics.DEFAULT_THRESHOLDS`,
   and :func:`enclave.biometrics.decide`'s outcomes for the fold's pairs at the defaults.

The load average before and after. No template or image name is printed or written.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import os
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import dlib
import face_recognition_models
import numpy as np
import numpy.typing as npt

from bench._stats import percentile
from enclave.biometrics import (
    DEFAULT_THRESHOLDS,
    FaceAnalyzer,
    FaceOutcome,
    FaceWorkers,
    ImageInvalid,
    LocalFaces,
    Probe,
    Template,
    calibrate,
    decide,
    read_pairs,
    threshold_at_far,
)

# LFW person folders of fold 1 whose names read as Chinese, Japanese or Korean.
EAST_ASIAN = frozenset(
    {
        "Antony_Leung",
        "Cecilia_Cheung",
        "Chang_Dae-whan",
        "Chen_Tsai-chin",
        "Cho_Myung-kyun",
        "Choi_Yun-yong",
        "Eriko_Tamura",
        "Hana_Urushima",
        "Hung_Wan-ting",
        "Jong_Thae_Hwa",
        "Kim_Dong-hwa",
        "Kim_Hong-gul",
        "Kim_Jong-Il",
        "Liu_Xiaoqing",
        "Sachiko_Yamada",
        "SJ_Twu",
        "Se_Hyuk_Joo",
        "Simon_Yam",
        "Szu_Yu_Chen",
        "Taku_Yamasaki",
        "Tomoko_Hagiwara",
        "Tsutomu_Takebe",
        "Yasushi_Akashi",
        "Yoshiyuki_Kamei",
        "Yukiko_Okudo",
        "Zhong_Nanshan",
    }
)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


class _Bare:
    """The lead's prototype: dlib on the decoded image, no limits, no gates."""

    def __init__(self) -> None:
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(
            face_recognition_models.pose_predictor_five_point_model_location()
        )
        self.descriptor = dlib.face_recognition_model_v1(
            face_recognition_models.face_recognition_model_location()
        )

    def analyze(self, data: bytes) -> npt.NDArray[np.float64] | None:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            return None
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        faces = sorted(self.detector(rgb, 1), key=lambda r: -r.width())
        if not faces:
            return None
        chip = dlib.get_face_chip(rgb, self.landmarks(rgb, faces[0]), size=150, padding=0.25)
        return np.array(self.descriptor.compute_face_descriptor(chip))


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _latencies(
    images: Sequence[bytes], ways: dict[str, Callable[[bytes], object]]
) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for data in images[:3]:  # warm-up
        for way in ways.values():
            way(data)
    for i, data in enumerate(images):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            runs[name].append(_timed(functools.partial(ways[name], data)))
    return runs


def _same_photo_distance(local: LocalFaces, data: bytes) -> float | None:
    """The distance between an image and the same image re-photographed (as a replay of the
    ID photo would be), both through the product; None when either has no template."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    h, w = bgr.shape[:2]
    big = cv2.resize(bgr, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC)
    turn = cv2.getRotationMatrix2D((w, h), 4, 1.0)
    moved = cv2.warpAffine(big, turn, (w * 2, h * 2), borderMode=cv2.BORDER_REFLECT)
    darker = np.clip(moved.astype(np.float64) * 0.85 + 20, 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", darker, [cv2.IMWRITE_JPEG_QUALITY, 40])
    try:
        a, b = local.analyze(data), local.analyze(encoded.tobytes())
    except ImageInvalid:
        return None
    if not ok or a.template is None or b.template is None:
        return None
    return a.template.distance(b.template)


def _far(distances: npt.NDArray[np.float64], t: float) -> float:
    return float(np.count_nonzero(distances <= t)) / distances.size


_Scores = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]


def _cross_pairs(templates: dict[str, Template]) -> tuple[_Scores, _Scores]:
    """The distances (then the cosines) of every cross-person pair, of those among
    EAST_ASIAN people, and of every same-person pair."""
    names = sorted(templates)
    person = np.array([n.split("/")[0] for n in names])
    values = np.stack([templates[n].values.astype(np.float64) for n in names])
    square = (values**2).sum(axis=1)
    distance = np.sqrt(np.maximum(square[:, None] + square[None, :] - 2 * values @ values.T, 0))
    upper = np.triu_indices(len(names), 1)
    different = person[upper[0]] != person[upper[1]]
    east_asian = np.array([p in EAST_ASIAN for p in person])
    both = east_asian[upper[0]] & east_asian[upper[1]]
    unit = values / np.linalg.norm(values, axis=1, keepdims=True)
    d, c = distance[upper], (unit @ unit.T)[upper]
    east = different & both
    return (
        (np.sort(d[different]), np.sort(d[east]), np.sort(d[~different])),
        (np.sort(c[different]), np.sort(c[east]), np.sort(c[~different])),
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.faces")
    parser.add_argument("--lfw", type=Path, default=None, help="a copy of LFW fold 1 ONLY")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--selfies", type=int, default=200, help="images timed one at a time")
    parser.add_argument("--far", type=float, default=0.001)
    args = parser.parse_args()
    if args.lfw is None or not (args.lfw / "pairs.tsv").is_file():
        print("skipped: pass --lfw DIR, a copy of LFW View 2 fold 1 (pairs.tsv and images/)")
        return
    pairs_tsv, images_dir = args.lfw / "pairs.tsv", args.lfw / "images"
    load_before = _load()
    print(f"LFW View 2 fold 1 ({args.lfw}), {os.cpu_count()} cores, load before {load_before}")

    local = LocalFaces()
    pool_or_local: contextlib.AbstractContextManager[FaceAnalyzer] = (
        FaceWorkers(args.workers) if args.workers > 0 else contextlib.nullcontext(local)
    )
    with pool_or_local as pool:
        # 1. accuracy through the product's path
        concurrency = max(1, args.workers)
        cal = calibrate(pairs_tsv, images_dir, pool, far=args.far, concurrency=concurrency)
        eer, eer_at = cal.eer
        print(
            f"accuracy ({cal.pairs} pairs, {cal.images} images through {args.workers} face "
            f"workers (0: in process), {cal.images / cal.seconds:.1f} images/s):"
        )
        print(
            f"  GAR at FAR 1%: {cal.gar_at_far(0.01):.2%}  at FAR 0.1%: "
            f"{cal.gar_at_far(0.001):.2%} (scored pairs: {cal.genuine.size} genuine, "
            f"{cal.impostor.size} impostor; 0.1% is below what {cal.impostor.size} impostor "
            f"pairs resolve, ~{cal.far_resolution:.1%})"
        )
        print(
            f"  EER {eer:.2%} at {eer_at:.3f}; threshold at FAR {args.far:g} {cal.threshold:.3f}, "
            f"at 1% {threshold_at_far(cal.impostor, 0.01):.3f}; "
            f"closest impostor {cal.impostor[0]:.3f}, closest genuine {cal.genuine[0]:.3f}; "
            f"cosine threshold {cal.cosine_threshold:.3f} (GAR {cal.cosine_gar:.2%})"
        )
        unscored = ", ".join(f"{r} {n}" for r, n in sorted(cal.unscored.items())) or "none"
        print(f"  not scored: {unscored} ({cal.unscored_genuine} genuine)")

        # 2. latency, one call at a time
        paths = sorted(p for p in images_dir.rglob("*") if p.is_file())
        step = max(1, len(paths) // max(1, args.selfies))
        sample = [p.read_bytes() for p in paths[::step][: args.selfies]]
        bare = _Bare()

        def product(data: bytes) -> Probe | None:
            try:
                return local.analyze(data)
            except ImageInvalid:
                return None

        def worker(data: bytes) -> Probe | None:
            try:
                return pool.analyze(data)
            except ImageInvalid:
                return None

        ways: dict[str, Callable[[bytes], object]] = {"bare": bare.analyze, "local": product}
        if args.workers > 0:
            ways["worker"] = worker
        runs = _latencies(sample, ways)
        bare_p50 = percentile(runs["bare"], 50)
        print(f"per-selfie latency over {len(sample)} images, one call at a time (ms):")
        labels = {
            "bare": "bare dlib in process",
            "local": "LocalFaces in process",
            "worker": "one face worker",
        }
        for name in runs:
            label = labels[name]
            p50, p99 = percentile(runs[name], 50), percentile(runs[name], 99)
            print(
                f"  {label:<24} p50 {p50 * 1e3:7.1f}  p99 {p99 * 1e3:7.1f}  "
                f"mean {statistics.fmean(runs[name]) * 1e3:7.1f}   p50/bare {p50 / bare_p50:.2f}x"
            )

        # the same photo again: upscaled 2x, rotated 4 degrees, darkened, JPEG quality 40
        again = [d for d in (_same_photo_distance(local, data) for data in sample) if d is not None]
        if again:
            print(
                f"the same photo again ({len(again)} of the {len(sample)}: upscaled, rotated 4 "
                f"degrees, darkened, JPEG q40) vs itself: median {statistics.median(again):.3f}, "
                f"p99 {percentile(again, 99):.3f}, max {max(again):.3f}; below the floor "
                f"{DEFAULT_THRESHOLDS.presentation_floor}: "
                f"{sum(d < DEFAULT_THRESHOLDS.presentation_floor for d in again) / len(again):.0%}"
            )

        # 4. every image's template through the workers (held here only, never written)
        probes: dict[str, Probe | None] = {}
        relative = [str(p.relative_to(images_dir)) for p in paths]
        with ThreadPoolExecutor(concurrency) as threads:
            for name, probe in zip(
                relative, threads.map(lambda p: worker(p.read_bytes()), paths), strict=True
            ):
                probes[name] = probe
        # 3. memory per worker
        pids = [p for p in pool.pids() if p is not None] if isinstance(pool, FaceWorkers) else []
        rss = [_status_kib(pid, "VmRSS") / 1024 for pid in pids]
        hwm = [_status_kib(pid, "VmHWM") / 1024 for pid in pids]
        print_if = print if pids else (lambda *_: None)
        print_if(
            f"memory per face worker ({len(pids)}): resident "
            + ", ".join(f"{r:.0f}" for r in rss)
            + " MiB; peak "
            + ", ".join(f"{h:.0f}" for h in hwm)
            + f" MiB (this process {_status_kib(os.getpid(), 'VmRSS') / 1024:.0f} MiB, bare "
            "dlib and LocalFaces loaded)"
        )

    templates = {n: p.template for n, p in probes.items() if p is not None and p.template}
    (cross, east_asian, same), (cross_cos, east_cos, same_cos) = _cross_pairs(templates)
    t = DEFAULT_THRESHOLDS
    print(
        f"cross-person pairs of the fold's {len(templates)} templates: {cross.size:,} "
        f"({east_asian.size} among the {len(EAST_ASIAN)} East-Asian-named people), "
        f"{same.size} same-person (closest {same[0]:.3f})"
    )
    for threshold in (0.38, 0.42, 0.45, 0.50, 0.55, 0.60):
        print(
            f"  at {threshold:.2f}: FAR {_far(cross, threshold):.5%} overall, "
            f"{_far(east_asian, threshold):.2%} East-Asian; GAR {_far(same, threshold):.1%} "
            "of same-person pairs"
        )
    for rate in (0.01, 0.001, 0.0001):
        k = int(rate * cross.size)
        ka = int(rate * east_asian.size)
        print(
            f"  FAR {rate:g}: threshold {cross[k]:.3f} overall, "
            f"{east_asian[ka]:.3f} East-Asian" + (" (none closer)" if ka == 0 else "")
        )
    tau = t.encrypted_cosine
    print(
        f"  encrypted match at cosine > {tau}: FAR "
        f"{np.count_nonzero(cross_cos > tau) / cross_cos.size:.5%} overall, "
        f"{np.count_nonzero(east_cos > tau) / east_cos.size:.2%} East-Asian "
        f"({np.count_nonzero(east_cos > tau)} of {east_cos.size}); GAR "
        f"{np.count_nonzero(same_cos > tau) / same_cos.size:.1%} of same-person pairs; the "
        f"closest East-Asian impostor cosine {east_cos[-1]:.4f}"
    )
    outcomes: dict[bool, collections.Counter[str]] = {
        True: collections.Counter(),
        False: collections.Counter(),
    }
    for pair in read_pairs(pairs_tsv, images_dir):
        a, b = probes[str(pair.image_a)], probes[str(pair.image_b)]
        if a is None or b is None or b.template is None:
            outcomes[pair.same]["reference refused or retake"] += 1
            continue
        verdict = decide(a, b.template, t)
        key = verdict.outcome.value + (
            f" {verdict.band.value}"
            if verdict.outcome is not FaceOutcome.INCONCLUSIVE
            else f" {verdict.retake.value}"
        )
        outcomes[pair.same][key] += 1
    print(
        f"decide() at DEFAULT_THRESHOLDS (match {t.match_high}/{t.match_medium}, no match "
        f"{t.no_match}/{t.no_match_high}, floor {t.presentation_floor}) on the fold's pairs:"
    )
    for same_person, label in ((True, "genuine"), (False, "impostor")):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(outcomes[same_person].items()))
        print(f"  {label:<8} {counts}")
    print(f"load average before {load_before}, after {_load()}")


if __name__ == "__main__":
    main()
