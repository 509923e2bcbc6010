"""check_quality(): each gate on real photos (real dlib faces) made dark, bright, blurred,
compressed or small, the gates' order, and that the fixtures a person would accept pass."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from enclave.biometrics import (
    DecodedImage,
    DlibBackend,
    FaceBox,
    ImageLimits,
    QualityGates,
    Retake,
    check_quality,
    decode_image,
)
from tests.unit.enclave.biometrics.conftest import encode, pixels

GATES = QualityGates()
LIMITS = ImageLimits()
ACCEPTABLE = [
    "obama.jpg",
    "obama_small.jpg",
    "obama2.jpg",
    "biden.jpg",
    "lfw/William_Macy_0003.jpg",
    "lfw/Zico_0002.jpg",
    "lfw/Bob_Graham_0004.jpg",
    "lfw/Hamid_Efendi_0001.jpg",
]


def _image(rgb: npt.NDArray[Any], quality: int | None = None) -> DecodedImage:
    return DecodedImage(
        rgb=np.ascontiguousarray(rgb, dtype=np.uint8),
        format="PNG" if quality is None else "JPEG",
        jpeg_quality=quality,
    )


def _check(backend: DlibBackend, image: DecodedImage, gates: QualityGates = GATES) -> Retake:
    return check_quality(image, backend.detect(image), gates)


@pytest.mark.parametrize("name", ACCEPTABLE)
def test_photos_a_person_would_accept_pass(
    backend: DlibBackend, face_bytes: Callable[[str], bytes], name: str
) -> None:
    assert _check(backend, decode_image(face_bytes(name), LIMITS)) is Retake.NONE


def test_no_face(backend: DlibBackend, face_bytes: Callable[[str], bytes]) -> None:
    assert _check(backend, decode_image(face_bytes("lfw/Saeb_Erekat_0002.jpg"), LIMITS)) is (
        Retake.NO_FACE
    )
    blank = np.full((200, 200, 3), 128, np.uint8)
    assert _check(backend, _image(blank)) is Retake.NO_FACE


@pytest.mark.parametrize("name", ["two_people.jpg", "lfw/Tom_Glavine_0001.jpg"])
def test_two_faces_of_similar_size(
    backend: DlibBackend, face_bytes: Callable[[str], bytes], name: str
) -> None:
    assert _check(backend, decode_image(face_bytes(name), LIMITS)) is Retake.MULTIPLE_FACES


def test_a_small_background_face_is_not_a_second_face() -> None:
    image = _image(np.full((400, 400, 3), 128, np.uint8))
    large, small = FaceBox(50, 50, 200, 200, 2.0), FaceBox(300, 20, 90, 90, 1.0)
    loose = dataclasses.replace(GATES, min_sharpness=0.0)
    assert check_quality(image, [large, small], loose) is Retake.NONE
    near = FaceBox(250, 20, 160, 160, 1.0)  # 0.8 of the largest
    assert check_quality(image, [near, large], loose) is Retake.MULTIPLE_FACES


def test_a_small_face(backend: DlibBackend, face_bytes: Callable[[str], bytes]) -> None:
    image = decode_image(face_bytes("obama_small.jpg"), LIMITS)  # a 109 px face
    assert _check(backend, image, dataclasses.replace(GATES, min_face_px=110)) is (
        Retake.FACE_TOO_SMALL
    )
    tiny = cv2.resize(image.rgb, (120, 90), interpolation=cv2.INTER_AREA)
    assert _check(backend, _image(tiny)) is Retake.FACE_TOO_SMALL


def test_a_heavily_compressed_jpeg(
    backend: DlibBackend, face_bytes: Callable[[str], bytes]
) -> None:
    rgb = pixels(face_bytes("obama_small.jpg"))
    low = decode_image(encode(rgb, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 15), LIMITS)
    assert low.jpeg_quality == 15
    assert _check(backend, low) is Retake.TOO_COMPRESSED
    fair = decode_image(encode(rgb, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 40), LIMITS)
    assert _check(backend, fair) is Retake.NONE


def test_too_dark_and_too_bright(backend: DlibBackend, face_bytes: Callable[[str], bytes]) -> None:
    image = decode_image(face_bytes("obama.jpg"), LIMITS)
    faces = backend.detect(image)
    dark = _image((image.rgb.astype(np.float32) * 0.2).astype(np.uint8))
    assert check_quality(dark, faces, GATES) is Retake.TOO_DARK
    bright = _image(np.minimum(255, image.rgb.astype(np.float32) * 1.8 + 60).astype(np.uint8))
    assert check_quality(bright, faces, GATES) is Retake.TOO_BRIGHT


@pytest.mark.parametrize("name", ["obama.jpg", "lfw/Zico_0002.jpg"])
def test_a_blurred_face(
    backend: DlibBackend, face_bytes: Callable[[str], bytes], name: str
) -> None:
    image = decode_image(face_bytes(name), LIMITS)
    faces = backend.detect(image)
    sigma = 2.0 * faces[0].width / 63  # 2 px at LFW's face size
    blurred = _image(cv2.GaussianBlur(image.rgb, (0, 0), sigma), image.jpeg_quality)
    assert check_quality(blurred, faces, GATES) is Retake.TOO_BLURRY
    assert check_quality(image, faces, GATES) is Retake.NONE


def test_the_first_failed_gate_is_the_answer(
    backend: DlibBackend, face_bytes: Callable[[str], bytes]
) -> None:
    image = decode_image(face_bytes("obama.jpg"), LIMITS)
    faces = backend.detect(image)
    dark_blurred = _image(cv2.GaussianBlur(image.rgb // 8, (0, 0), 8.0), quality=10)
    assert check_quality(dark_blurred, faces, GATES) is Retake.TOO_COMPRESSED
    assert check_quality(dark_blurred, faces, dataclasses.replace(GATES, min_jpeg_quality=1)) is (
        Retake.TOO_DARK
    )
    small = dataclasses.replace(GATES, min_face_px=faces[0].width + 1)
    assert check_quality(dark_blurred, faces, small) is Retake.FACE_TOO_SMALL
