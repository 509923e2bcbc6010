"""The zone-owned credit evaluation on a real synthetic registry: the band of default.yaml's
scorecard matches a hand computation, and only the band and the policy version leave."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
import yaml

from enclave.compute import (
    CreditBand,
    CreditEvaluator,
    FeatureComputer,
    FeaturePersonUnknown,
    ScorecardUnknown,
)
from policies import Band, default_policy, default_policy_text, load_policy
from tests.unit.enclave.compute.features_registry import AS_OF, Registry, credit_features

_SELF_PAID_POINTS = {0: 0, 50000: -10, 200000: -25, 500000: -50}


def _by_hand(features: tuple[int, ...]) -> Band:
    """credit_band_v1 of default.yaml, written out."""
    months, arrears, _, inpatient, _, _, self_paid, chronic = features
    score = 500 + 5 * months - 25 * arrears - 10 * inpatient - 20 * chronic
    score += _SELF_PAID_POINTS[self_paid]
    cutoffs: tuple[tuple[Band, int], ...] = (("A", 680), ("B", 650), ("C", 610), ("D", 550))
    for band, least in cutoffs:
        if score >= least:
            return band
    return "E"


def test_the_band_matches_a_hand_computation_for_every_person(registry: Registry) -> None:
    policy = default_policy()
    evaluator = CreditEvaluator(FeatureComputer(registry.zone))
    persons = list(registry.person_ids)
    bands = evaluator.bands(policy, "credit_band_v1", persons, AS_OF)
    expected = [_by_hand(credit_features(registry, p)) for p in persons]
    assert [b.band for b in bands] == expected
    assert {b.policy_version for b in bands} == {policy.version}
    # The synthetic registry spreads over every band.
    assert set(Counter(expected)) == {"A", "B", "C", "D", "E"}
    for person in persons[:: len(persons) // 5]:
        one = evaluator.band(policy, "credit_band_v1", person, AS_OF)
        assert one == CreditBand(_by_hand(credit_features(registry, person)), policy.version)


def test_only_the_band_and_the_policy_version_leave(registry: Registry) -> None:
    band = CreditEvaluator(FeatureComputer(registry.zone)).band(
        default_policy(), "credit_band_v1", registry.person_ids[11], AS_OF
    )
    assert [f.name for f in dataclasses.fields(band)] == ["band", "policy_version"]
    assert band.band in {"A", "B", "C", "D", "E"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        band.band = "A"  # type: ignore[misc]
    text = repr(band)
    for value in registry.export.clear_values:
        assert value not in text
    assert str(registry.person_ids[11]) not in text.replace(band.policy_version, "")


def test_another_scorecard_of_the_policy_changes_the_band_and_version(
    registry: Registry,
) -> None:
    document = yaml.safe_load(default_policy_text())
    document["scorecards"]["credit_band_v1"]["intercept"] = 2000  # everyone an A
    policy = load_policy(yaml.safe_dump(document, sort_keys=False))
    bands = CreditEvaluator(FeatureComputer(registry.zone)).bands(
        policy, "credit_band_v1", list(registry.person_ids[:20]), AS_OF
    )
    assert {b.band for b in bands} == {"A"}
    assert {b.policy_version for b in bands} == {policy.version} != {default_policy().version}


def test_refusals_name_no_person(registry: Registry) -> None:
    evaluator = CreditEvaluator(FeatureComputer(registry.zone))
    with pytest.raises(ScorecardUnknown) as unknown_card:
        evaluator.band(default_policy(), "credit_band_v9", registry.person_ids[0], AS_OF)
    assert unknown_card.value.reason == "NOT_FOUND"
    nobody = max(registry.person_ids) + 98765
    with pytest.raises(FeaturePersonUnknown) as unknown_person:
        evaluator.band(default_policy(), "credit_band_v1", nobody, AS_OF)
    assert str(nobody) not in str(unknown_person.value)
    for value in registry.export.clear_values:
        assert value not in str(unknown_card.value) + str(unknown_person.value)
