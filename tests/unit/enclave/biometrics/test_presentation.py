"""The ID photo itself as the selfie (issue 13 review). decide's presentation floor (0.20)
catches the enrolled photo re-encoded, rescaled, cropped, brightened or rotated (0.04..0.19
on the fixtures), but mirrored it is a new template: 0.14..0.23, and mirrored and rotated by
8 degrees 0.15..0.25 -- above the floor, at or below match_high (0.38), so MATCH, HIGH. The
floor cannot simply rise: fold 1's closest genuine pair is at 0.227.

Fixed: the analysis also embeds the selfie's face mirrored, and a selfie whose template or
mirrored template is within the floor of the reference is PRESENTATION_SUSPECTED (a genuine
selfie, even a front camera's mirrored one, sits at genuine distances from both)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from enclave.biometrics import DlibBackend, LocalFaces, Retake, decide
from enclave.biometrics._defaults import DEFAULT_THRESHOLDS


def _mirrored_and_rotated(data: bytes) -> bytes:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None
    height, width = bgr.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), 8, 1.0)
    ok, out = cv2.imencode(".jpg", cv2.warpAffine(cv2.flip(bgr, 1), turn, (width, height)))
    assert ok
    return out.tobytes()


@pytest.mark.parametrize("photo", ["lfw/Zico_0002.jpg", "lfw/Carl_Reiner_0001.jpg"])
def test_the_id_photo_mirrored_is_a_presentation_not_a_match(
    photo: str, backend: DlibBackend, face_bytes: Callable[[str], bytes]
) -> None:
    faces = LocalFaces(backend)
    enrolled = faces.analyze(face_bytes(photo)).template
    assert enrolled is not None
    verdict = decide(
        faces.analyze(_mirrored_and_rotated(face_bytes(photo))), enrolled, DEFAULT_THRESHOLDS
    )
    assert verdict.retake is Retake.PRESENTATION_SUSPECTED, verdict
