"""analyze() and LocalFaces through the real dlib backend, and decide() on what they give:
genuine and impostor pairs of LFW fold 1 and the everyday photos, the same photo sent back
(PRESENTATION_SUSPECTED), retakes, refusals."""

from __future__ import annotations

import threading
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from enclave.biometrics import (
    DEFAULT_THRESHOLDS,
    TEMPLATE_DIM,
    DlibBackend,
    FaceBand,
    FaceOutcome,
    ImageInvalid,
    ImageLimits,
    LocalFaces,
    Probe,
    QualityGates,
    Retake,
    Template,
    analyze,
    decide,
)
from tests.unit.enclave.biometrics.conftest import encode, pixels, with_exif_orientation

LIMITS, GATES = ImageLimits(), QualityGates()


@pytest.fixture(scope="module")
def faces(backend: DlibBackend) -> LocalFaces:
    return LocalFaces(backend, limits=LIMITS, gates=GATES)


@pytest.fixture(scope="module")
def template(faces: LocalFaces, face_bytes: Callable[[str], bytes]) -> Callable[[str], Template]:
    cache: dict[str, Template] = {}

    def of(name: str) -> Template:
        if name not in cache:
            probe = faces.analyze(face_bytes(name))
            assert probe.template is not None, (name, probe.retake)
            cache[name] = probe.template
        return cache[name]

    return of


def test_a_template_is_128_finite_floats(template: Callable[[str], Template]) -> None:
    values = template("obama.jpg").values
    assert values.shape == (TEMPLATE_DIM,) and values.dtype == np.float32
    assert np.all(np.isfinite(values)) and 1.0 < float(np.linalg.norm(values)) < 2.0
    assert "values" not in repr(template("obama.jpg")).replace("values=", "")


def test_analyze_is_deterministic(backend: DlibBackend, face_bytes: Callable[[str], bytes]) -> None:
    data = face_bytes("lfw/Zico_0002.jpg")
    one = analyze(backend, data, limits=LIMITS, gates=GATES)
    two = analyze(backend, data, limits=LIMITS, gates=GATES)
    assert one.template is not None and two.template is not None
    assert one.template.distance(two.template) == 0.0


@pytest.mark.parametrize(
    ("a", "b", "outcome", "band"),
    [
        (
            "lfw/William_Macy_0003.jpg",
            "lfw/William_Macy_0004.jpg",
            FaceOutcome.MATCH,
            FaceBand.HIGH,
        ),
        ("lfw/Zico_0002.jpg", "lfw/Zico_0003.jpg", FaceOutcome.MATCH, FaceBand.HIGH),
        ("obama.jpg", "obama2.jpg", FaceOutcome.MATCH, FaceBand.HIGH),
        (
            "lfw/Bob_Graham_0002.jpg",
            "lfw/Bob_Graham_0004.jpg",
            FaceOutcome.INCONCLUSIVE,
            FaceBand.NONE,
        ),
        (
            "lfw/Carl_Reiner_0001.jpg",
            "lfw/Hamid_Efendi_0001.jpg",
            FaceOutcome.NO_MATCH,
            FaceBand.MEDIUM,
        ),
        (
            "lfw/Amber_Tamblyn_0002.jpg",
            "lfw/Benjamin_Netanyahu_0001.jpg",
            FaceOutcome.NO_MATCH,
            FaceBand.HIGH,
        ),
        ("obama.jpg", "biden.jpg", FaceOutcome.NO_MATCH, FaceBand.HIGH),
    ],
)
def test_genuine_and_impostor_pairs(
    faces: LocalFaces,
    template: Callable[[str], Template],
    face_bytes: Callable[[str], bytes],
    a: str,
    b: str,
    outcome: FaceOutcome,
    band: FaceBand,
) -> None:
    verdict = decide(faces.analyze(face_bytes(b)), template(a), DEFAULT_THRESHOLDS)
    assert (verdict.outcome, verdict.band) == (outcome, band)
    if outcome is FaceOutcome.INCONCLUSIVE:
        assert verdict.retake is Retake.BORDERLINE
    assert verdict.validated_on == DEFAULT_THRESHOLDS.validated_on


def test_the_same_photo_again_is_presentation_suspected(
    faces: LocalFaces, template: Callable[[str], Template], face_bytes: Callable[[str], bytes]
) -> None:
    # the enrolled photo itself, the same photo published at 320 x 240, and re-encoded
    again = faces.analyze(face_bytes("obama.jpg"))
    small = faces.analyze(face_bytes("obama_small.jpg"))
    rgb = pixels(face_bytes("obama.jpg"))
    smaller = cv2.resize(rgb, (455, 568), interpolation=cv2.INTER_AREA)
    replay = faces.analyze(encode(smaller, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 70))
    for probe in (again, small, replay):
        verdict = decide(probe, template("obama.jpg"), DEFAULT_THRESHOLDS)
        assert verdict.outcome is FaceOutcome.INCONCLUSIVE
        assert verdict.retake is Retake.PRESENTATION_SUSPECTED and verdict.band is FaceBand.NONE


def test_an_exif_rotated_selfie_gives_the_upright_template(
    faces: LocalFaces, template: Callable[[str], Template], face_bytes: Callable[[str], bytes]
) -> None:
    upright = pixels(face_bytes("obama_small.jpg"))
    stored = encode(
        np.ascontiguousarray(np.rot90(upright, k=1)), ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95
    )
    probe = faces.analyze(with_exif_orientation(stored, 6))
    assert probe.template is not None
    assert probe.template.distance(template("obama_small.jpg")) < 0.1
    assert faces.analyze(stored).retake is Retake.NO_FACE  # without the tag: sideways


@pytest.mark.parametrize(
    ("name", "retake"),
    [
        ("two_people.jpg", Retake.MULTIPLE_FACES),
        ("lfw/Tom_Glavine_0001.jpg", Retake.MULTIPLE_FACES),
        ("lfw/Saeb_Erekat_0002.jpg", Retake.NO_FACE),
    ],
)
def test_retakes_carry_no_template(
    faces: LocalFaces, face_bytes: Callable[[str], bytes], name: str, retake: Retake
) -> None:
    probe = faces.analyze(face_bytes(name))
    assert probe.template is None and probe.retake is retake


def test_grey_and_32_bit_png_selfies(
    faces: LocalFaces, template: Callable[[str], Template], face_bytes: Callable[[str], bytes]
) -> None:
    rgb = pixels(face_bytes("obama2.jpg"))
    grey = faces.analyze(encode(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), ".png"))
    bgra = np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 255, np.uint8)])
    ok, buf = cv2.imencode(".png", bgra)
    assert ok
    rgba = faces.analyze(buf.tobytes())
    for probe in (grey, rgba):
        assert decide(probe, template("obama.jpg"), DEFAULT_THRESHOLDS).outcome is FaceOutcome.MATCH


def test_bad_bytes_raise_image_invalid(
    faces: LocalFaces, face_bytes: Callable[[str], bytes]
) -> None:
    for data, problem in [
        (b"", "EMPTY"),
        (b"not an image", "NOT_AN_IMAGE"),
        (face_bytes("obama.jpg")[:5000], "TRUNCATED"),
    ]:
        with pytest.raises(ImageInvalid) as info:
            faces.analyze(data)
        assert info.value.problem == problem


def test_local_faces_loads_dlib_on_first_use_and_serialises_threads(
    face_bytes: Callable[[str], bytes],
) -> None:
    lazy = LocalFaces()
    data = face_bytes("lfw/Zico_0003.jpg")
    results: list[Probe] = []
    threads = [
        threading.Thread(target=lambda: results.append(lazy.analyze(data))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(lazy.backend, DlibBackend)
    assert len(results) == 3 and all(p.template is not None for p in results)
