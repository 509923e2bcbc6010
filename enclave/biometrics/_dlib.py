"""The default face backend: dlib (issue 13).

Detection is dlib's HOG frontal-face detector; its window is 80 px, so an image whose longer
side is at most :data:`UPSAMPLE_BELOW` is upsampled once (faces down to about 40 px are found,
as in LFW's 150 px thumbnails) and larger ones are not (upsampling a 1600 px photo doubles the
detection time and finds only faces the size gate refuses anyway). Landmarks are the 5-point
shape predictor (eye corners and nose: enough to align a chip, never the 68-point model); the
template is dlib's ResNet v1 descriptor of the aligned 150 px chip (:func:`dlib.get_face_chip`,
padding 0.25), the model behind dlib's published 99.38% on LFW. The three model files come
from the ``face_recognition_models`` wheel: nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence

import dlib  # type: ignore[import-untyped]
import face_recognition_models  # type: ignore[import-untyped]
import numpy as np

from enclave.biometrics.interface import DecodedImage, FaceBox, Template

__all__ = ["UPSAMPLE_BELOW", "DlibBackend"]

#: Images whose longer side is at most this many pixels are upsampled once for detection.
UPSAMPLE_BELOW = 1000
_CHIP_SIZE = 150
_CHIP_PADDING = 0.25


class DlibBackend:
    """dlib's HOG detector, 5-point landmarks and ResNet v1 descriptor (see the module
    docstring); loading the models takes about a second. One thread at a time."""

    name = "dlib-resnet-v1"

    def __init__(self) -> None:
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(
            face_recognition_models.pose_predictor_five_point_model_location()
        )
        self._descriptor = dlib.face_recognition_model_v1(
            face_recognition_models.face_recognition_model_location()
        )

    def detect(self, image: DecodedImage) -> Sequence[FaceBox]:
        """Every face found, widest first (ties: higher detector score first)."""
        upsample = 1 if max(image.width, image.height) <= UPSAMPLE_BELOW else 0
        rects, scores, _ = self._detector.run(image.rgb, upsample, 0.0)
        faces = [
            FaceBox(
                left=int(r.left()),
                top=int(r.top()),
                width=int(r.width()),
                height=int(r.height()),
                score=float(s),
            )
            for r, s in zip(rects, scores, strict=True)
        ]
        faces.sort(key=lambda f: (-f.width, -f.score))
        return faces

    def embed(self, image: DecodedImage, face: FaceBox) -> Template:
        """The ResNet v1 descriptor of ``face``'s aligned chip."""
        rect = dlib.rectangle(
            face.left, face.top, face.left + face.width - 1, face.top + face.height - 1
        )
        shape = self._landmarks(image.rgb, rect)
        chip = dlib.get_face_chip(image.rgb, shape, size=_CHIP_SIZE, padding=_CHIP_PADDING)
        values = np.asarray(self._descriptor.compute_face_descriptor(chip), dtype=np.float32)
        values.setflags(write=False)
        return Template(values)
