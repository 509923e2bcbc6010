"""The quality gates of a face image (issue 13): whether a photo is good enough to compare,
and if not, the one reason a person can act on (a retake).

The gates run in this order and the first that fails is the answer: NO_FACE, MULTIPLE_FACES
(a second face at least ``second_face_ratio`` of the largest face's width; smaller ones are
background faces, as in 41 of LFW fold 1's 807 images), FACE_TOO_SMALL, TOO_COMPRESSED
(the JPEG's estimated quality), TOO_DARK and TOO_BRIGHT (the mean grey level over the face
box), TOO_BLURRY (the variance of the Laplacian of the grey face box scaled to 64 px wide,
about LFW's native face size, so sharpness is relative to the face and not to its pixels).

What the defaults of :class:`QualityGates` were tuned on (dlib's HOG faces of LFW View 2 fold 1,
807 images, and the 10 everyday photos, decoded by :func:`decode_image`):

* NO_FACE: 3 of LFW's 807 images; none of the everyday photos.
* MULTIPLE_FACES at ``second_face_ratio`` 0.8: 41 LFW images show a second face, at 0.58 to
  0.94 of the largest one's width; 18 of them (two faces within 20% of each other's width, a
  photo where nothing says which face is the subject) are refused, the 23 with smaller
  background faces pass; ``two_people.jpg`` (151 and 150 px) is refused.
* FACE_TOO_SMALL at ``min_face_px`` 40: LFW's faces are 44..91 px wide (median 63), the
  everyday ones 108..311 px.
* TOO_COMPRESSED at ``min_jpeg_quality`` 30: LFW's JPEGs estimate at 90, the everyday ones
  91..99.
* TOO_DARK / TOO_BRIGHT at 40 / 220: LFW's face means lie in 53..183 (1st to 99th percentile
  70..168), the everyday ones 110..149.
* TOO_BLURRY at ``min_sharpness`` 60: LFW's faces measure 76..2537 (0.5th percentile 137), the
  everyday ones 527..1474; the same faces blurred with a Gaussian of sigma 2 px (at a 63 px
  face) measure 7..62 (95th percentile 35), sigma 1.5 px 12..111 (median 36).

In all 786 of LFW fold 1's 807 images pass (18 MULTIPLE_FACES, 3 NO_FACE), so 572 of its 600
pairs are compared and 28 are retakes; 9 of the 10 everyday photos pass (not two_people.jpg).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from enclave.biometrics.interface import DecodedImage, FaceBox, QualityGates, Retake

__all__ = ["check_quality", "face_brightness", "face_sharpness"]

_SHARPNESS_WIDTH = 64


def _face_grey(image: DecodedImage, face: FaceBox) -> npt.NDArray[np.uint8] | None:
    left, top = max(0, face.left), max(0, face.top)
    right = min(image.width, face.left + face.width)
    bottom = min(image.height, face.top + face.height)
    if right - left < 2 or bottom - top < 2:
        return None
    crop = image.rgb[top:bottom, left:right]
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY))


def face_brightness(image: DecodedImage, face: FaceBox) -> float:
    """The mean grey level (0..255) over the face box (clipped to the image)."""
    grey = _face_grey(image, face)
    return 0.0 if grey is None else float(grey.mean())


def face_sharpness(image: DecodedImage, face: FaceBox) -> float:
    """The variance of the Laplacian of the grey face box scaled to 64 px wide (so a face's
    sharpness does not depend on how many pixels it has)."""
    grey = _face_grey(image, face)
    if grey is None:
        return 0.0
    height = max(2, round(grey.shape[0] * _SHARPNESS_WIDTH / grey.shape[1]))
    interpolation = cv2.INTER_AREA if grey.shape[1] > _SHARPNESS_WIDTH else cv2.INTER_CUBIC
    scaled = cv2.resize(grey, (_SHARPNESS_WIDTH, height), interpolation=interpolation)
    return float(cv2.Laplacian(scaled, cv2.CV_64F).var())


def check_quality(image: DecodedImage, faces: Sequence[FaceBox], gates: QualityGates) -> Retake:
    """:attr:`Retake.NONE` when the image's largest face passes every gate, else the first
    gate it fails (see the module docstring for the order)."""
    if not faces:
        return Retake.NO_FACE
    ordered = sorted(faces, key=lambda f: -f.width)
    face = ordered[0]
    if len(ordered) > 1 and ordered[1].width >= gates.second_face_ratio * face.width:
        return Retake.MULTIPLE_FACES
    if face.width < gates.min_face_px:
        return Retake.FACE_TOO_SMALL
    if image.jpeg_quality is not None and image.jpeg_quality < gates.min_jpeg_quality:
        return Retake.TOO_COMPRESSED
    brightness = face_brightness(image, face)
    if brightness < gates.min_brightness:
        return Retake.TOO_DARK
    if brightness > gates.max_brightness:
        return Retake.TOO_BRIGHT
    if face_sharpness(image, face) < gates.min_sharpness:
        return Retake.TOO_BLURRY
    return Retake.NONE
