"""The zone-owned credit evaluation served as a person-level answer (issue 12):
:meth:`enclave.persons.PersonChecks.credit_band` takes a :class:`CreditScoring` -- the
:class:`enclave.compute.CreditEvaluator` over the live dataset version and the policy in
force -- and answers a :class:`ScoredBand`: the band, the scorecard and the policy version,
the fields its receipt covers (:func:`dataward.receipts.credit_band_fields`). Never a
feature or the score.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from enclave.compute import CreditEvaluator
from policies import Band, Policy

__all__ = ["MAX_SCORECARD_CHARS", "CreditScoring", "ScoredBand"]

#: The longest scorecard name a request may give (a policy's names are far shorter).
MAX_SCORECARD_CHARS = 64


@dataclass(frozen=True)
class CreditScoring:
    """What a credit band needs: the evaluator and the policy in force (read once per call,
    so the scorecard checked and the scorecard computed are of one policy)."""

    evaluator: CreditEvaluator
    policy: Callable[[], Policy]

    def band(self, policy: Policy, scorecard: str, person_id: int, as_of: dt.date) -> ScoredBand:
        """The band of ``person_id`` by ``scorecard`` of ``policy`` on ``as_of``; raises what
        :meth:`CreditEvaluator.band` raises."""
        band = self.evaluator.band(policy, scorecard, person_id, as_of)
        return ScoredBand(band.band, scorecard, band.policy_version)


@dataclass(frozen=True, slots=True)
class ScoredBand:
    """What leaves: the band (A-E), the scorecard and the policy version that gave it."""

    band: Band
    scorecard: str
    policy_version: str
