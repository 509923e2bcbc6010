"""What the person-level face checks need (issue 13): the collaborators of
:meth:`PersonChecks.verify_identity` with a selfie and of
:meth:`PersonChecks.encrypted_face_match`, bundled as :class:`FaceChecking`.

- the analyzer of a selfie (:class:`enclave.biometrics.FaceAnalyzer`: the face workers);
- the person's reference template from the live dataset version (:class:`ReferenceTemplates`);
- the durable attempt limits, shared by both checks (:class:`AttemptLimiter`);
- the thresholds in force (:class:`enclave.biometrics.Thresholds`);
- the encrypted matcher (:class:`EncryptedFaceMatcher`: the CKKS workers), when served.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from enclave.biometrics import FaceAnalyzer, ImageLimits, Template, Thresholds

__all__ = [
    "AttemptLimiter",
    "EncryptedFaceAnswer",
    "EncryptedFaceMatcher",
    "FaceChecking",
    "ReferenceTemplates",
]


class ReferenceTemplates(Protocol):
    def reference(self, person_id: int) -> Template | None:
        """The person's enrolled ID-card template on the live dataset version, or None."""


class AttemptLimiter(Protocol):
    def take(self, *, person_token: bytes, organization: str, now: dt.datetime) -> None:
        """Count one face attempt, durably, or raise
        :class:`enclave.biometrics.AttemptsExhausted` (then nothing is counted)."""


class EncryptedFaceMatcher(Protocol):
    def match(
        self,
        *,
        context: bytes,
        query: bytes,
        template: npt.NDArray[np.float64],
        tau: float,
        timeout: float,
    ) -> bytes:
        """The serialized blinded answer ciphertext (ComputeService.EncryptedFaceMatch)."""


@dataclass(frozen=True)
class FaceChecking:
    analyzer: FaceAnalyzer
    templates: ReferenceTemplates
    attempts: AttemptLimiter
    thresholds: Thresholds
    matcher: EncryptedFaceMatcher | None = None
    timeout: float = 30.0
    # What a selfie must be before an attempt is counted (checked in the serving process by
    # enclave.biometrics.inspect_image, from the bytes and the header only); the analyzer
    # decodes within the same limits.
    limits: ImageLimits = field(default_factory=ImageLimits)


@dataclass(frozen=True)
class EncryptedFaceAnswer:
    """What :meth:`PersonChecks.encrypted_face_match` answers: the serialized answer
    ciphertext (every slot the blinded ``y``; ``y > 0`` is a match) and the sentence on what
    the threshold was validated on."""

    ciphertext: bytes
    validated_on: str
