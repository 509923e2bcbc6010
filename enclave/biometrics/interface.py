"""The face backend seam and the frozen types of identity face checks (issue 13).

A :class:`FaceBackend` finds faces in a decoded image and computes a face's template (a
128-dimensional embedding); everything else -- decoding with limits, the quality gates, the
decision from a distance -- is the zone's own code over these types, the same for every
backend. The default backend is dlib (:mod:`enclave.biometrics._dlib`); tests may implement
the Protocol with a fake only at this boundary.

The answer that leaves the zone is a :class:`FaceVerdict`: an outcome, a coarse band, a
retake reason and the sentence saying what the thresholds were validated on -- never the
distance, the template or the photo.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "TEMPLATE_DIM",
    "DecodedImage",
    "FaceAnalyzer",
    "FaceBackend",
    "FaceBand",
    "FaceBox",
    "FaceOutcome",
    "FaceVerdict",
    "ImageLimits",
    "Probe",
    "QualityGates",
    "Retake",
    "Template",
    "Thresholds",
]

TEMPLATE_DIM = 128


class FaceOutcome(enum.StrEnum):
    MATCH = "MATCH"
    NO_MATCH = "NO_MATCH"
    INCONCLUSIVE = "INCONCLUSIVE"


class FaceBand(enum.StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    NONE = ""  # INCONCLUSIVE


class Retake(enum.StrEnum):
    """Why a check is INCONCLUSIVE (the wire's ``RetakeReason`` without its prefix)."""

    NONE = ""
    NO_FACE = "NO_FACE"
    MULTIPLE_FACES = "MULTIPLE_FACES"
    FACE_TOO_SMALL = "FACE_TOO_SMALL"
    TOO_BLURRY = "TOO_BLURRY"
    TOO_DARK = "TOO_DARK"
    TOO_BRIGHT = "TOO_BRIGHT"
    TOO_COMPRESSED = "TOO_COMPRESSED"
    PRESENTATION_SUSPECTED = "PRESENTATION_SUSPECTED"
    BORDERLINE = "BORDERLINE"


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What an image must be before it is decoded (checked from its bytes and header)."""

    max_bytes: int = 6_000_000
    max_pixels: int = 40_000_000
    # Decoded images are scaled down so that their longer side is at most this (faces are
    # found and measured on the scaled image).
    max_side: int = 1600


@dataclass(frozen=True, slots=True, eq=False)
class DecodedImage:
    """An image decoded with its EXIF orientation applied: ``rgb`` is H x W x 3 uint8
    (read-only); ``jpeg_quality`` is the JPEG's estimated quality factor from its
    quantisation tables (1..100), None for a PNG."""

    rgb: npt.NDArray[np.uint8]
    format: str  # "JPEG" | "PNG"
    jpeg_quality: int | None = None

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


@dataclass(frozen=True, slots=True)
class FaceBox:
    """A detected face in image pixels; ``score`` is the detector's confidence."""

    left: int
    top: int
    width: int
    height: int
    score: float


@dataclass(frozen=True, slots=True, eq=False)
class Template:
    """A face template: :data:`TEMPLATE_DIM` float32 values (read-only). It never leaves
    the zone and is never logged; ``repr`` shows nothing of it."""

    values: npt.NDArray[np.float32] = field(repr=False)

    def __post_init__(self) -> None:
        if self.values.shape != (TEMPLATE_DIM,) or self.values.dtype != np.float32:
            raise ValueError(f"a template is {TEMPLATE_DIM} float32 values")
        if not np.all(np.isfinite(self.values)):
            raise ValueError("a template's values are finite")

    def distance(self, other: Template) -> float:
        """The Euclidean distance the thresholds are calibrated on."""
        return float(np.linalg.norm(self.values - other.values))

    def normalized(self) -> npt.NDArray[np.float64]:
        """The template scaled to unit length (the encrypted match's cosine form)."""
        v = self.values.astype(np.float64)
        return v / float(np.linalg.norm(v))


class FaceBackend(Protocol):
    """Finds faces and computes templates. Implementations hold their models; one instance
    is used by one thread at a time (the face workers give each process its own)."""

    @property
    def name(self) -> str:
        """E.g. ``dlib-resnet-v1``: recorded with each enrolled template."""

    def detect(self, image: DecodedImage) -> Sequence[FaceBox]:
        """Every face found, largest first."""

    def embed(self, image: DecodedImage, face: FaceBox) -> Template:
        """The template of ``face`` (one of :meth:`detect`'s boxes of this image)."""


@dataclass(frozen=True, slots=True)
class QualityGates:
    """The quality gates of a selfie or an ID-card photo (settings ``faces.*``)."""

    # The face's width in pixels (of the decoded, scaled image) must be at least this.
    min_face_px: int = 40
    # A second face at least this fraction of the largest face's width is MULTIPLE_FACES
    # (smaller ones are background faces; LFW fold 1's reach 0.78 of the subject's width).
    second_face_ratio: float = 0.8
    # Variance of the Laplacian over the face, on a grey face crop scaled to 64 px wide
    # (LFW fold 1's faces measure 76 and up, faces blurred by sigma 2 px at most 62).
    min_sharpness: float = 60.0
    # Mean grey level over the face (0..255).
    min_brightness: float = 40.0
    max_brightness: float = 220.0
    # A JPEG's estimated quality below this is TOO_COMPRESSED.
    min_jpeg_quality: int = 30


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Distance thresholds (Euclidean, dlib scale) of the decision; settings ``faces.*``,
    computed by ``dataward faces calibrate``. ``validated_on`` is the sentence every answer
    carries about the data they were calibrated and validated on.

    distance < presentation_floor          INCONCLUSIVE, PRESENTATION_SUSPECTED
    distance <= match_high                 MATCH, HIGH
    distance <= match_medium               MATCH, MEDIUM
    distance <  no_match                   INCONCLUSIVE, BORDERLINE
    distance <  no_match_high              NO_MATCH, MEDIUM
    otherwise                              NO_MATCH, HIGH

    ``encrypted_cosine`` is the encrypted match's threshold tau on the cosine of the
    normalised templates (a match is cosine > tau).
    """

    presentation_floor: float
    match_high: float
    match_medium: float
    no_match: float
    no_match_high: float
    encrypted_cosine: float
    validated_on: str

    def __post_init__(self) -> None:
        order = (
            0.0,
            self.presentation_floor,
            self.match_high,
            self.match_medium,
            self.no_match,
            self.no_match_high,
        )
        if any(b < a for a, b in itertools.pairwise(order)):
            raise ValueError(
                "thresholds must satisfy 0 <= presentation_floor <= match_high <= "
                "match_medium <= no_match <= no_match_high"
            )
        if not -1.0 < self.encrypted_cosine < 1.0:
            raise ValueError("encrypted_cosine must be inside (-1, 1)")


@dataclass(frozen=True, slots=True, eq=False)
class Probe:
    """What analysing one image gave: its template when every gate passed, else the retake
    reason (and no template). ``mirrored`` is the template of the same face mirrored left to
    right: the presentation check compares both with the reference, so the ID photo
    flipped (which dlib embeds as a new template, 0.14..0.25 from the photo's) is caught."""

    template: Template | None
    retake: Retake = Retake.NONE
    mirrored: Template | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.template is None) == (self.retake is Retake.NONE):
            raise ValueError("a probe has a template or a retake reason, not both")
        if self.mirrored is not None and self.template is None:
            raise ValueError("a probe's mirrored template comes with its template")


class FaceAnalyzer(Protocol):
    """Analyses one image's bytes: decode within the limits, find faces, apply the quality
    gates, compute the template (the face workers, or the same in process)."""

    def analyze(self, data: bytes) -> Probe:
        """A :class:`Probe`; :class:`enclave.biometrics.ImageInvalid` for bytes that are not an
        image the zone takes, :class:`enclave.biometrics.FaceWorkerFailed` when the work could
        not be done."""


@dataclass(frozen=True, slots=True)
class FaceVerdict:
    """The answer of one face check: all that leaves the zone."""

    outcome: FaceOutcome
    band: FaceBand
    retake: Retake
    validated_on: str
