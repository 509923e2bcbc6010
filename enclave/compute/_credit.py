"""The zone-owned credit evaluation: a steward's scorecard over a feature set, computed in
clear inside the zone; only the band (A-E) and the policy's version leave (issue 12).

The features are computed as for any model (:class:`FeatureComputer`) and never returned;
the score is not returned either (a band is coarser than a score, which is the point).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from enclave.compute._features import FeatureComputer
from enclave.compute.errors import ScorecardUnknown
from policies import Band, Policy

__all__ = ["CreditBand", "CreditEvaluator"]


@dataclass(frozen=True, slots=True)
class CreditBand:
    """What leaves: the band and the version of the policy whose scorecard gave it."""

    band: Band
    policy_version: str


class CreditEvaluator:
    """Bands persons by a policy's scorecard over its feature set."""

    def __init__(self, features: FeatureComputer) -> None:
        self._features = features

    def band(self, policy: Policy, scorecard: str, person_id: int, as_of: dt.date) -> CreditBand:
        """The band of the person with registry id `person_id` on `as_of`.

        Raises :class:`ScorecardUnknown` and whatever :meth:`FeatureComputer.vectors` raises.
        """
        return self.bands(policy, scorecard, (person_id,), as_of)[0]

    def bands(
        self, policy: Policy, scorecard: str, person_ids: Sequence[int], as_of: dt.date
    ) -> tuple[CreditBand, ...]:
        """The band of each person, in the order given."""
        card = policy.scorecards.get(scorecard)
        if card is None:
            raise ScorecardUnknown(scorecard)
        features = policy.feature_sets[card.feature_set]  # the loader checked it is there
        vectors = self._features.vectors(policy, card.feature_set, person_ids, as_of)
        return tuple(
            CreditBand(
                band=card.band_of(card.score(features, vector.values)),
                policy_version=policy.version,
            )
            for vector in vectors
        )
