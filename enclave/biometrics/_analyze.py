"""One image's bytes to a :class:`Probe` (issue 13): decode within the limits, find the faces,
apply the quality gates, compute the template of the largest face. :class:`LocalFaces` does it
in the calling process; :class:`enclave.biometrics.FaceWorkers` the same in worker processes.
"""

from __future__ import annotations

import threading

import numpy as np

from enclave.biometrics._image import decode_image
from enclave.biometrics._quality import check_quality
from enclave.biometrics.interface import (
    DecodedImage,
    FaceBackend,
    FaceBox,
    ImageLimits,
    Probe,
    QualityGates,
    Retake,
    Template,
)

__all__ = ["LocalFaces", "analyze"]


def analyze(
    backend: FaceBackend, data: bytes, *, limits: ImageLimits, gates: QualityGates
) -> Probe:
    """The probe of ``data``: its largest face's template when every gate passes, else the
    first failed gate's retake. Raises :class:`ImageInvalid` for bytes the zone does not
    decode (see :func:`decode_image`)."""
    image = decode_image(data, limits)
    faces = backend.detect(image)
    retake = check_quality(image, faces, gates)
    if retake is not Retake.NONE:
        return Probe(template=None, retake=retake)
    largest = max(faces, key=lambda f: f.width)
    return Probe(
        template=backend.embed(image, largest), mirrored=_mirrored(backend, image, largest)
    )


def _mirrored(backend: FaceBackend, image: DecodedImage, face: FaceBox) -> Template:
    """The template of ``face`` in the image mirrored left to right (for the presentation
    check: a flipped ID photo must not pass as a live selfie)."""
    flipped = np.ascontiguousarray(image.rgb[:, ::-1])
    flipped.setflags(write=False)
    mirror = DecodedImage(rgb=flipped, format=image.format, jpeg_quality=image.jpeg_quality)
    box = FaceBox(
        left=image.width - face.left - face.width,
        top=face.top,
        width=face.width,
        height=face.height,
        score=face.score,
    )
    return backend.embed(mirror, box)


class LocalFaces:
    """A :class:`FaceAnalyzer` in the calling process (tests, tools, ``workers = 0``). The
    backend (by default :class:`DlibBackend`, loaded on first use) serves one call at a time:
    calls from several threads queue on a lock."""

    def __init__(
        self,
        backend: FaceBackend | None = None,
        *,
        limits: ImageLimits | None = None,
        gates: QualityGates | None = None,
    ) -> None:
        self._backend = backend
        self.limits = limits or ImageLimits()
        self.gates = gates or QualityGates()
        self._lock = threading.Lock()

    @property
    def backend(self) -> FaceBackend:
        with self._lock:
            return self._loaded()

    def _loaded(self) -> FaceBackend:
        if self._backend is None:
            from enclave.biometrics._dlib import DlibBackend  # ~1 s of model loading

            self._backend = DlibBackend()
        return self._backend

    def analyze(self, data: bytes) -> Probe:
        """See :meth:`FaceAnalyzer.analyze`."""
        with self._lock:
            return analyze(self._loaded(), data, limits=self.limits, gates=self.gates)
