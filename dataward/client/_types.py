"""The SDK's values: what a caller asks with and what the zone answers, as frozen dataclasses.

No proto type crosses this line: :mod:`dataward.client._convert` turns these into messages
and back. An answer carries its :class:`~dataward.transparency.Receipt` and the ids the zone
hashed into its release leaf, so that :meth:`Client.verify_answer` can recompute that hash from
the answer alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dataward.access import Purpose
from dataward.client._enums import Benefit
from dataward.client.errors import DatawardError
from dataward.transparency import Receipt

__all__ = [
    "BatchItem",
    "ConsentGrant",
    "CreditBand",
    "EligibilityQuery",
    "EligibilityResult",
    "FaceResult",
    "IdentityResult",
]


@dataclass(frozen=True)
class EligibilityQuery:
    id_number: str
    benefit: Benefit
    purpose: Purpose
    as_of: dt.date | None = None
    consent_ref: str = ""


@dataclass(frozen=True)
class EligibilityResult:
    eligible: bool
    coverage_class: str | None  # EMPLOYEE | RESIDENT
    reasons: tuple[str, ...]
    receipt: Receipt
    request_id: str = ""  # the zone's id of this answer, as logged in the release leaf
    client_nonce: str = ""  # the nonce THIS client sent (never read from the answer)


@dataclass(frozen=True)
class FaceResult:
    """The zone's face check of a selfie against the person's ID-card photo (issue 13): never
    a distance. ``retake`` says why an INCONCLUSIVE answer needs a new selfie;
    ``validated_on`` what the zone's thresholds were calibrated and validated on."""

    outcome: str  # MATCH | NO_MATCH | INCONCLUSIVE
    band: str  # HIGH | MEDIUM; "" for INCONCLUSIVE
    retake: str  # NO_FACE, MULTIPLE_FACES, ..., PRESENTATION_SUSPECTED, BORDERLINE; "" if none
    validated_on: str

    @property
    def matched(self) -> bool:
        return self.outcome == "MATCH"


@dataclass(frozen=True)
class IdentityResult:
    id_number_valid: bool
    name_matches: bool
    registry_status: str  # ACTIVE | DECEASED | EMIGRATED | NOT_FOUND
    receipt: Receipt
    request_id: str = ""
    client_nonce: str = ""
    face: FaceResult | None = None  # when a selfie was sent


@dataclass(frozen=True)
class CreditBand:
    """A person's credit band by a scorecard of the zone's policy (``ComputeService``)."""

    band: str  # A (best) .. E
    scorecard: str
    policy_version: str
    receipt: Receipt
    request_id: str = ""
    client_nonce: str = ""


@dataclass(frozen=True)
class BatchItem:
    index: int
    result: EligibilityResult | None
    error: DatawardError | None


@dataclass(frozen=True)
class ConsentGrant:
    consent_ref: str
    valid_until: dt.date
    receipt: Receipt
    request_id: str = ""
    client_nonce: str = ""
