"""Face checks inside the zone (issue 13; DESIGN.md, "Identity checks"): 1:1 verification of
a selfie against one named person's ID-card template, never a search.

The seam and its frozen types are in :mod:`enclave.biometrics.interface` (:class:`FaceBackend`,
:class:`DecodedImage`, :class:`Template`, :class:`Thresholds`, :class:`FaceVerdict`, ...); the
errors in :mod:`enclave.biometrics.errors`.
"""

from enclave.biometrics._analyze import LocalFaces, analyze
from enclave.biometrics._attempts import (
    FACE_ATTEMPTS_DB,
    PARTNER_RATE,
    PERSON_DAY,
    PERSON_MONTH,
    FaceAttempts,
)
from enclave.biometrics._calibrate import (
    Calibration,
    Pair,
    RocPoint,
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
from enclave.biometrics._defaults import DEFAULT_THRESHOLDS, VALIDATED_ON
from enclave.biometrics._dlib import DlibBackend
from enclave.biometrics._image import decode_image, inspect_image
from enclave.biometrics._quality import check_quality
from enclave.biometrics._verify import decide
from enclave.biometrics._workers import DEFAULT_WORKER_MEMORY_MB, FaceWorkers
from enclave.biometrics.errors import (
    AttemptsExhausted,
    BiometricsError,
    CalibrationSourceInvalid,
    EnrolmentSourceInvalid,
    FaceNotEnrolled,
    FaceWorkerFailed,
    ImageInvalid,
)
from enclave.biometrics.interface import (
    TEMPLATE_DIM,
    DecodedImage,
    FaceAnalyzer,
    FaceBackend,
    FaceBand,
    FaceBox,
    FaceOutcome,
    FaceVerdict,
    ImageLimits,
    Probe,
    QualityGates,
    Retake,
    Template,
    Thresholds,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DEFAULT_WORKER_MEMORY_MB",
    "FACE_ATTEMPTS_DB",
    "PARTNER_RATE",
    "PERSON_DAY",
    "PERSON_MONTH",
    "TEMPLATE_DIM",
    "VALIDATED_ON",
    "AttemptsExhausted",
    "BiometricsError",
    "Calibration",
    "CalibrationSourceInvalid",
    "DecodedImage",
    "DlibBackend",
    "EnrolmentSourceInvalid",
    "FaceAnalyzer",
    "FaceAttempts",
    "FaceBackend",
    "FaceBand",
    "FaceBox",
    "FaceNotEnrolled",
    "FaceOutcome",
    "FaceVerdict",
    "FaceWorkerFailed",
    "FaceWorkers",
    "ImageInvalid",
    "ImageLimits",
    "LocalFaces",
    "Pair",
    "Probe",
    "QualityGates",
    "Retake",
    "RocPoint",
    "Template",
    "Thresholds",
    "analyze",
    "calibrate",
    "check_quality",
    "cosine_threshold_at_far",
    "decide",
    "decode_image",
    "equal_error_rate",
    "gar_at",
    "inspect_image",
    "read_pairs",
    "roc_points",
    "scores_calibration",
    "threshold_at_far",
    "write_roc_png",
]
