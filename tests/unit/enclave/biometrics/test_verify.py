"""decide(): the table of Thresholds' docstring at and around each boundary, retakes carried
through, and the validated_on sentence on every verdict."""

from __future__ import annotations

import numpy as np
import pytest

from enclave.biometrics import (
    DEFAULT_THRESHOLDS,
    TEMPLATE_DIM,
    FaceBand,
    FaceOutcome,
    Probe,
    Retake,
    Template,
    Thresholds,
    decide,
)

# Boundaries exact in float32, so a distance equal to a threshold is exactly that.
T = Thresholds(
    presentation_floor=0.125,
    match_high=0.375,
    match_medium=0.5,
    no_match=0.625,
    no_match_high=0.75,
    encrypted_cosine=0.9,
    validated_on="tested on nothing in particular",
)
REFERENCE = Template(np.zeros(TEMPLATE_DIM, np.float32))


def _at(distance: float) -> Probe:
    values = np.zeros(TEMPLATE_DIM, np.float32)
    values[0] = distance
    return Probe(template=Template(values))


@pytest.mark.parametrize(
    ("distance", "outcome", "band", "retake"),
    [
        (0.0, FaceOutcome.INCONCLUSIVE, FaceBand.NONE, Retake.PRESENTATION_SUSPECTED),
        (0.0625, FaceOutcome.INCONCLUSIVE, FaceBand.NONE, Retake.PRESENTATION_SUSPECTED),
        (0.125, FaceOutcome.MATCH, FaceBand.HIGH, Retake.NONE),
        (0.375, FaceOutcome.MATCH, FaceBand.HIGH, Retake.NONE),
        (0.4375, FaceOutcome.MATCH, FaceBand.MEDIUM, Retake.NONE),
        (0.5, FaceOutcome.MATCH, FaceBand.MEDIUM, Retake.NONE),
        (0.5625, FaceOutcome.INCONCLUSIVE, FaceBand.NONE, Retake.BORDERLINE),
        (0.625, FaceOutcome.NO_MATCH, FaceBand.MEDIUM, Retake.NONE),
        (0.6875, FaceOutcome.NO_MATCH, FaceBand.MEDIUM, Retake.NONE),
        (0.75, FaceOutcome.NO_MATCH, FaceBand.HIGH, Retake.NONE),
        (1.5, FaceOutcome.NO_MATCH, FaceBand.HIGH, Retake.NONE),
    ],
)
def test_the_decision_table(
    distance: float, outcome: FaceOutcome, band: FaceBand, retake: Retake
) -> None:
    verdict = decide(_at(distance), REFERENCE, T)
    assert (verdict.outcome, verdict.band, verdict.retake) == (outcome, band, retake)
    assert verdict.validated_on == T.validated_on


@pytest.mark.parametrize("retake", [r for r in Retake if r is not Retake.NONE])
def test_a_probe_with_a_retake_is_inconclusive_with_it(retake: Retake) -> None:
    verdict = decide(Probe(template=None, retake=retake), REFERENCE, DEFAULT_THRESHOLDS)
    assert verdict.outcome is FaceOutcome.INCONCLUSIVE
    assert verdict.band is FaceBand.NONE and verdict.retake is retake
    assert verdict.validated_on == DEFAULT_THRESHOLDS.validated_on


def test_the_verdict_holds_no_distance() -> None:
    verdict = decide(_at(0.4375), REFERENCE, T)
    assert set(type(verdict).__slots__) == {"outcome", "band", "retake", "validated_on"}
