"""The decision of a 1:1 face check (issue 13): a probe and the person's reference template to
a :class:`FaceVerdict`, by the table in :class:`Thresholds`' docstring. Pure: the distance is
computed, compared and forgotten here; it never leaves the zone."""

from __future__ import annotations

from enclave.biometrics.interface import (
    FaceBand,
    FaceOutcome,
    FaceVerdict,
    Probe,
    Retake,
    Template,
    Thresholds,
)

__all__ = ["decide"]


def decide(probe: Probe, reference: Template, thresholds: Thresholds) -> FaceVerdict:
    """The verdict of ``probe`` against ``reference``: a probe with a retake reason is
    INCONCLUSIVE with it; a distance below ``presentation_floor`` (the same photo again, or
    a replay of the enrolled one), of the probe or of its mirror image (the ID photo
    flipped), is INCONCLUSIVE, PRESENTATION_SUSPECTED; between
    ``match_medium`` and ``no_match`` INCONCLUSIVE, BORDERLINE. INCONCLUSIVE has band NONE."""
    t = thresholds

    def verdict(outcome: FaceOutcome, band: FaceBand, retake: Retake = Retake.NONE) -> FaceVerdict:
        return FaceVerdict(outcome=outcome, band=band, retake=retake, validated_on=t.validated_on)

    if probe.template is None:
        return verdict(FaceOutcome.INCONCLUSIVE, FaceBand.NONE, probe.retake)
    distance = probe.template.distance(reference)
    mirrored = probe.mirrored.distance(reference) if probe.mirrored is not None else distance
    if min(distance, mirrored) < t.presentation_floor:
        return verdict(FaceOutcome.INCONCLUSIVE, FaceBand.NONE, Retake.PRESENTATION_SUSPECTED)
    if distance <= t.match_high:
        return verdict(FaceOutcome.MATCH, FaceBand.HIGH)
    if distance <= t.match_medium:
        return verdict(FaceOutcome.MATCH, FaceBand.MEDIUM)
    if distance < t.no_match:
        return verdict(FaceOutcome.INCONCLUSIVE, FaceBand.NONE, Retake.BORDERLINE)
    if distance < t.no_match_high:
        return verdict(FaceOutcome.NO_MATCH, FaceBand.MEDIUM)
    return verdict(FaceOutcome.NO_MATCH, FaceBand.HIGH)
