"""Errors of the face checks (issue 13). They extend the zone's tree (:mod:`enclave.errors`);
like every zone error their ``public_message`` names the rule, never a value::

    ZoneError
    └── BiometricsError
        ├── ImageInvalid          the image is refused before any face work (``problem``:
        │                         EMPTY, TOO_LARGE, NOT_AN_IMAGE, TOO_MANY_PIXELS,
        │                         TOO_MANY_SCANS, TRUNCATED, UNDECODABLE): INVALID_ARGUMENT
        ├── AttemptsExhausted     the person's or the partner's face attempts are used up
        │                         (``limit``: PERSON_DAY, PERSON_MONTH, PARTNER_RATE;
        │                         ``retry_after`` seconds): RESOURCE_EXHAUSTED
        ├── FaceNotEnrolled       no reference template for this person: FAILED_PRECONDITION
        ├── FaceWorkerFailed      the face workers could not answer (``problem``: START,
        │                         CRASHED, TIMEOUT, CLOSED): UNAVAILABLE, retry
        ├── EnrolmentSourceInvalid  (operator) the images directory or the map CSV is wrong
        └── CalibrationSourceInvalid (operator) the pairs file or its images are wrong
"""

from __future__ import annotations

from typing import ClassVar

from enclave.errors import ZoneError

__all__ = [
    "AttemptsExhausted",
    "BiometricsError",
    "CalibrationSourceInvalid",
    "EnrolmentSourceInvalid",
    "FaceNotEnrolled",
    "FaceWorkerFailed",
    "ImageInvalid",
]


class BiometricsError(ZoneError):
    default_message = "face check refused"


class ImageInvalid(BiometricsError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "IMAGE_INVALID"

    def __init__(self, problem: str, detail: str) -> None:
        self.problem = problem
        super().__init__(f"the image is refused ({problem}): {detail}")


class AttemptsExhausted(BiometricsError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "ATTEMPTS_EXHAUSTED"

    def __init__(self, limit: str, retry_after: float) -> None:
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(f"face attempts exhausted ({limit}): retry after {retry_after:.0f} s")


class FaceNotEnrolled(BiometricsError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "FACE_NOT_ENROLLED"
    default_message = (
        "the zone holds no ID-card face template for this person: verify with documents only"
    )


class FaceWorkerFailed(BiometricsError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "UNAVAILABLE"
    retry_after: float = 1.0

    def __init__(self, problem: str, detail: str) -> None:
        self.problem = problem
        super().__init__(f"the face workers cannot answer ({problem}): {detail}")


class EnrolmentSourceInvalid(BiometricsError):  # noqa: N818 (operator-facing names)
    reason: ClassVar[str] = "FIELD_INVALID"

    def __init__(self, detail: str) -> None:
        super().__init__(f"the enrolment source is invalid: {detail}")


class CalibrationSourceInvalid(BiometricsError):  # noqa: N818 (operator-facing names)
    reason: ClassVar[str] = "FIELD_INVALID"

    def __init__(self, detail: str) -> None:
        super().__init__(f"the calibration source is invalid: {detail}")
